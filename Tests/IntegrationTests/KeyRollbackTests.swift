import ChatProtocol
import Foundation
import Testing

@testable import ChatCrypto

#if canImport(Glibc)
    import Glibc
#endif

/// An older key bundle put back on the broker (a genuine, signed copy the operator kept): the tools that saw
/// a newer one refuse it. The copy is republished retained with the owner's credentials, as an operator
/// who holds the broker's password file could (acl.conf lets only the owner write `chat/users/<u>/keys`).
extension EndToEndTests {
    /// Republishes `payload` retained on `user`'s key topic, with `user`'s credentials.
    func putBack(_ broker: Mosquitto, _ user: String, _ payload: String) throws {
        try Mosquitto.run(
            "/usr/bin/mosquitto_pub",
            broker.mosquittoFlags(user) + ["-q", "1", "-r", "-t", "chat/users/\(user)/keys", "-m", payload]
        )
    }

    @Test("an old bundle put back (a lost device's key pinned before): one notice, nothing sent to it (exit 77)")
    func bundleRollback() async throws {
        let broker = try Mosquitto()
        let watch = try await operatorView(broker)
        #expect(try await run(broker, "alice", ["-m", "hi"]).code == 0)
        #expect(try await run(broker, "bob", ["--to", "alice", "-m", "before"]).code == 0)
        #expect(await watch.waitForOutput("chat/users/alice/keys "))
        let old = try #require(seen(watch, "chat/users/alice/keys"))
        // alice lost her laptop: a new identity. bob has not accepted it yet, and still pins the old one.
        let listener = try await broker.startChatListener(as: "bob")
        #expect(try await run(broker, "alice", command: ["keys"], ["--new"]).code == 0)
        #expect(await listener.waitForOutput("new identity key", timeout: .seconds(10)))
        try putBack(broker, "alice", old)
        #expect(await listener.waitForOutput("older than ones seen before", timeout: .seconds(10)))
        // Under the pinned key, the old copy would seal to the lost laptop's device.
        let refused = try await run(broker, "bob", ["--to", "alice", "-m", "for the lost laptop"])
        #expect(refused.code == 77)
        #expect(
            refused.stderr
                == "publisher: alice's published keys are older than ones seen before (an old copy put back?): "
                + "nothing was sent. Check it with alice (publisher keys alice), then: publisher trust alice\n"
        )
        listener.signal(SIGTERM)
        #expect(try await listener.wait() == 0)
        watch.signal(SIGTERM)
        _ = try await watch.wait()
        // Only "before" went to alice's inbox.
        #expect(watch.stdout.split(separator: "\n").filter { $0.hasPrefix("chat/users/alice/inbox/bob ") }.count == 1)
        #expect(
            withoutTimes(listener.stdout) == [
                "* alice has a new identity key: messages to alice stop until you check it (publisher keys alice) and accept it (publisher trust alice)",
                "* alice publishes keys older than ones seen before (an old copy put back?): they are ignored, and messages to alice stop until you check it (publisher keys alice) and accept them (publisher trust alice)",
            ]
        )
        // Accepting what is published is the user's call: trust takes it as it is.
        #expect(try await run(broker, "bob", command: ["trust", "alice"]).code == 0)
        #expect(try await run(broker, "bob", ["--to", "alice", "-m", "accepted"]).code == 0)
    }

    @Test("a member's old bundle put back: the owner hands it no new key of the group, one note")
    func groupBundleRollback() async throws {
        let broker = try Mosquitto()
        let watch = try await operatorView(broker)
        try await robots(broker, members: ["bob"])
        #expect(await watch.waitForOutput("chat/users/bob/keys "))
        let old = try #require(seen(watch, "chat/users/bob/keys"))
        let epoch = { (member: String) in
            self.seen(watch, "chat/groups/alice/robots/keys/\(member)").flatMap {
                GroupKeys(payload: Array($0.utf8), group: Self.robots, member: member)
            }?.epoch
        }
        #expect(await watch.waitForOutput("chat/groups/alice/robots/keys/bob "))
        let before = try #require(epoch("bob"))
        // bob lost his laptop: a new identity; alice's next message sees it (and gives it nothing until trust).
        #expect(try await run(broker, "bob", command: ["keys"], ["--new"]).code == 0)
        let noted = try await run(broker, "alice", ["--group", "alice/robots", "-m", "hello"])
        #expect(noted.code == 0 && noted.stderr.contains("bob's identity key changed"), "\(noted.stderr)")
        // The operator puts back bob's old bundle (the lost laptop's device, under the key alice pinned).
        try putBack(broker, "bob", old)
        #expect(try await run(broker, "carol", command: ["group", "join", "alice/robots"]).code == 0)
        let approved = try await run(broker, "alice", command: ["group", "approve", "alice/robots", "carol"])
        #expect(approved.code == 0)
        #expect(
            approved.stderr
                == "publisher: note: bob's published keys are older than ones seen before (an old copy put back?): "
                + "bob gets no new key of alice/robots until you check it (publisher keys bob) and accept them "
                + "(publisher trust bob).\n"
        )
        // The owner hands out keys to members first, then to new ones: a key for bob would come before carol's.
        #expect(await watch.waitForOutput("chat/groups/alice/robots/keys/carol "))
        #expect(try #require(epoch("carol")) > before)
        #expect(epoch("bob") == before)
        watch.signal(SIGTERM)
        _ = try await watch.wait()
    }
}
