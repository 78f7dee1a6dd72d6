import ChatProtocol
import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Groups against a real mosquitto with the shipped acl.conf, through the built tools.
@Suite("groups with an owner who approves members", .serialized, .timeLimit(.minutes(3)))
struct GroupIntegrationTests {
    @discardableResult
    private func command(
        _ broker: Mosquitto,
        _ user: String,
        _ words: [String],
        tool: Tool = .publisher,
        expect code: Int32 = 0
    )
        async throws -> (stdout: String, stderr: String)
    {
        let result = try await broker.run(tool, as: user, command: words)
        #expect(result.code == code, "\(user) \(words): \(result.stderr)")
        return (result.stdout, result.stderr)
    }

    private func send(_ broker: Mosquitto, _ user: String, _ group: String, _ text: String) async throws {
        let result = try await broker.run(.publisher, as: user, ["--group", group, "-m", text])
        #expect(result.code == 0, "\(user): \(result.stderr)")
    }

    @Test("create, request seen live by the owner, approval seen live by the requester, then talking both ways")
    func approveAndTalk() async throws {
        let broker = try Mosquitto()
        let alice = try await broker.startChatListener(as: "alice")
        let bob = try await broker.startChatListener(as: "bob")
        try await command(broker, "alice", ["group", "create", "robots"])
        try await command(broker, "bob", ["group", "join", "alice/robots"])
        #expect(
            await alice.waitForOutput(
                "* bob asks to join alice/robots: /group approve alice/robots bob",
                timeout: .seconds(5)
            )
        )
        try await command(broker, "alice", ["group", "approve", "alice/robots", "bob"])
        #expect(await bob.waitForOutput("* alice approved your request to join alice/robots", timeout: .seconds(5)))
        try await send(broker, "alice", "alice/robots", "welcome")
        try await send(broker, "bob", "alice/robots", "thanks")
        #expect(await alice.waitForOutput("[alice/robots] <bob> thanks", timeout: .seconds(5)))
        #expect(await bob.waitForOutput("[alice/robots] <bob> thanks", timeout: .seconds(5)))
        bob.signal(SIGTERM)
        #expect(try await bob.wait() == 0)
        #expect(await alice.waitForOutput("* bob went offline", timeout: .seconds(5)))
        alice.signal(SIGTERM)
        #expect(try await alice.wait() == 0)
        #expect(
            withoutTimes(alice.stdout) == [
                "* bob is online", "* alice joined alice/robots",
                "* bob asks to join alice/robots: /group approve alice/robots bob", "* bob joined alice/robots",
                "[alice/robots] <alice> welcome", "[alice/robots] <bob> thanks", "* bob went offline",
            ]
        )
        #expect(
            withoutTimes(bob.stdout) == [
                "* alice approved your request to join alice/robots", "* bob joined alice/robots",
                "[alice/robots] <alice> welcome", "[alice/robots] <bob> thanks",
            ]
        )
        let json = try jsonLines(
            try await command(broker, "carol", ["groups", "--format", "json"], tool: .listener).stdout
        )
        #expect(json.count == 1)
        #expect(json.first?["owner"] as? String == "alice")
        #expect(json.first?["name"] as? String == "robots")
        #expect(json.first?["members"] as? [String] == ["alice", "bob"])
        #expect(json.first?["pending"] == nil)
    }

    @Test("reject, remove (messages stop showing), leave; non-members and forged senders are never shown")
    func rejectRemoveLeave() async throws {
        let broker = try Mosquitto()
        try await command(broker, "alice", ["group", "create", "robots"])
        for user in ["bob", "carol"] { try await command(broker, user, ["group", "join", "alice/robots"]) }
        #expect(
            try await command(broker, "alice", ["groups"]).stdout
                == "alice/robots members: alice; pending: bob, carol\n"
        )
        #expect(try await command(broker, "bob", ["groups"]).stdout == "alice/robots members: alice\n")
        try await command(broker, "alice", ["group", "reject", "alice/robots", "carol"])
        try await command(broker, "alice", ["group", "approve", "alice/robots", "bob"])
        let bob = try await broker.startChatListener(as: "bob", ["--format", "json"])
        // carol was rejected: her post is not a group message; a post claiming to be alice's is forged.
        try await send(broker, "carol", "alice/robots", "let me in")
        let forged = #"{"type":"message","from":"alice","message":"I am alice"}"#
        try Mosquitto.run(
            "/usr/bin/mosquitto_pub",
            broker.mosquittoFlags("carol") + ["-q", "2", "-t", "chat/groups/alice/robots/messages/carol", "-m", forged]
        )
        try await send(broker, "alice", "alice/robots", "one")
        #expect(await bob.waitForOutput("\"one\"", timeout: .seconds(5)))
        try await command(broker, "alice", ["group", "remove", "alice/robots", "bob"])
        #expect(await bob.waitForOutput("\"removed\"", timeout: .seconds(5)))
        try await send(broker, "alice", "alice/robots", "not for bob")
        let marker = try await broker.run(.publisher, as: "alice", ["-m", "marker"])
        #expect(marker.code == 0)
        #expect(await bob.waitForOutput("\"marker\"", timeout: .seconds(5)))
        bob.signal(SIGTERM)
        #expect(try await bob.wait() == 0)
        let lines = try jsonLines(bob.stdout)
        let groupMessages = lines.filter { $0["type"] as? String == "message" && $0["group"] != nil }
        #expect(groupMessages.map { $0["message"] as? String } == ["one"])
        #expect(
            groupMessages.allSatisfy { $0["group"] as? String == "alice/robots" && $0["verified"] as? Bool == true }
        )
        #expect(!bob.stdout.contains("let me in") && !bob.stdout.contains("I am alice"))

        // Leaving: bob asks again, is approved, then leaves; he is off the list.
        try await command(broker, "bob", ["group", "join", "alice/robots"])
        try await command(broker, "alice", ["group", "approve", "alice/robots", "bob"])
        #expect(
            try await command(broker, "carol", ["groups"], tool: .listener).stdout
                == "alice/robots members: alice, bob\n"
        )
        try await command(broker, "bob", ["group", "leave", "alice/robots"])
        #expect(
            try await command(broker, "carol", ["groups"], tool: .listener).stdout == "alice/robots members: alice\n"
        )
    }

    @Test("only the owner decides: the broker refuses anyone else's approval")
    func nonOwnerRefused() async throws {
        let broker = try Mosquitto()
        try await command(broker, "alice", ["group", "create", "robots"])
        try await command(broker, "carol", ["group", "join", "alice/robots"])
        let refused = try await command(broker, "bob", ["group", "approve", "alice/robots", "carol"], expect: 77)
        #expect(
            refused.stderr.hasSuffix(
                "publisher: The broker refused bob's publish to chat/groups/alice/robots/members/carol: not authorized by its ACL.\n"
            )
        )
        #expect(
            try await command(broker, "alice", ["groups"]).stdout == "alice/robots members: alice; pending: carol\n"
        )
        // Nobody can create a group in another's name either.
        let carol = try await broker.client("carol") { $0.reconnect = nil }
        await #expect(throws: MQTTError.self) {
            try await carol.publish(topic: "chat/groups/alice/evil/info", payload: ChatState.groupCreated, retain: true)
        }
        await carol.disconnect()
    }

    @Test("a member's listener gets what was said while it was away, exactly once")
    func offlineDelivery() async throws {
        let broker = try Mosquitto()
        try await command(broker, "alice", ["group", "create", "robots"])
        try await command(broker, "bob", ["group", "join", "alice/robots"])
        try await command(broker, "alice", ["group", "approve", "alice/robots", "bob"])
        let first = try await broker.startChatListener(as: "bob")
        first.signal(SIGTERM)
        #expect(try await first.wait() == 0)
        for text in ["while away 1", "while away 2"] { try await send(broker, "alice", "alice/robots", text) }
        let back = try await broker.startChatListener(as: "bob", ["-C", "2", "-W", "10"])
        #expect(try await back.wait() == 0)
        #expect(
            withoutTimes(back.stdout).filter { $0.hasPrefix("[") } == [
                "[alice/robots] <alice> while away 1", "[alice/robots] <alice> while away 2",
            ]
        )
        // Exactly once: a listener started later shows nothing again before a new message, sent as a marker.
        let again = try await broker.startChatListener(as: "bob")
        try await send(broker, "alice", "alice/robots", "marker")
        #expect(await again.waitForOutput("marker"), "\(again.stderr)")
        again.signal(SIGTERM)
        #expect(try await again.wait() == 0)
        #expect(withoutTimes(again.stdout).filter { $0.hasPrefix("[") } == ["[alice/robots] <alice> marker"])
    }

    @Test("two owners may each have a group with the same name")
    func sameNameTwoOwners() async throws {
        let broker = try Mosquitto()
        try await command(broker, "alice", ["group", "create", "robots"])
        try await command(broker, "bob", ["group", "create", "robots"])
        try await command(broker, "carol", ["group", "join", "bob/robots"])
        try await command(broker, "bob", ["group", "approve", "bob/robots", "carol"])
        #expect(
            try await command(broker, "carol", ["groups"], tool: .listener).stdout
                == "alice/robots members: alice\nbob/robots members: bob, carol\n"
        )
        let missing = try await command(broker, "carol", ["group", "join", "dave/robots"], expect: 1)
        #expect(missing.stderr == "publisher: There is no group dave/robots (publisher groups lists them).\n")
        let bad = try await broker.run(.publisher, as: "carol", command: ["group", "join", "robots"])
        #expect(bad.code == 64)
        #expect(bad.stderr.contains("Invalid group \"robots\": write it OWNER/NAME."))
    }
}
