import ChatProtocol
import Foundation
import Testing

@testable import ChatCrypto

#if canImport(Glibc)
    import Glibc
#endif

/// End-to-end encryption of groups against a real mosquitto with the shipped acl.conf: each test tries to
/// break one claim with a raw client (mosquitto_sub as `admin` on `#`, or as a member or non-member), or with
/// a removed member's own key files.
extension EndToEndTests {
    static let robots = GroupID(owner: "alice", name: "robots")

    /// alice's group alice/robots, with `members` asked and approved in turn.
    func robots(_ broker: Mosquitto, members: [String]) async throws {
        let created = try await run(broker, "alice", command: ["group", "create", "robots"])
        #expect(created.code == 0, "\(created.stderr)")
        for user in members { try await approve(broker, user) }
    }

    /// `user` asks to join alice/robots and alice approves (no note: everyone has keys).
    func approve(_ broker: Mosquitto, _ user: String) async throws {
        #expect(try await run(broker, user, command: ["group", "join", "alice/robots"]).code == 0)
        let approved = try await run(broker, "alice", command: ["group", "approve", "alice/robots", user])
        #expect(approved.code == 0 && approved.stderr == "", "\(approved.stderr)")
    }

    func say(_ broker: Mosquitto, _ user: String, _ text: String) async throws {
        let sent = try await run(broker, user, ["--group", "alice/robots", "-m", text])
        #expect(sent.code == 0, "\(user): \(sent.stderr)")
    }

    /// `user`'s raw client on `filter`, printing topic and payload, once subscribed.
    func rawView(_ broker: Mosquitto, _ user: String, _ filter: String) async throws -> ChildProcess {
        let watch = try ChildProcess(
            "/usr/bin/stdbuf",
            ["-oL", "/usr/bin/mosquitto_sub"] + broker.mosquittoFlags(user) + ["-t", filter, "-v", "-d"],
            stdinIsNull: true
        )
        guard await watch.waitForOutput("SUBACK") else { throw TestFailure("mosquitto_sub did not subscribe") }
        return watch
    }

    /// `message` sealed for alice/robots with `keys` under `epoch`, published by `keys.user` with a raw client
    /// on their own topic of the group.
    func publishSealed(_ broker: Mosquitto, _ message: ChatMessage, keys: UserKeys, epoch: GroupEpoch) throws {
        let sealed = try Sealing.sealGroup(
            message,
            from: keys,
            group: Self.robots,
            epoch: epoch,
            time: ChatTimestamp.now().millisecondsSince1970
        )
        try Mosquitto.run(
            "/usr/bin/mosquitto_pub",
            broker.mosquittoFlags(keys.user) + [
                "-q", "2", "-t", "chat/groups/alice/robots/messages/\(keys.user)", "-m",
                String(decoding: sealed.encoded(), as: UTF8.self),
            ]
        )
    }

    /// What `user`'s tools keep on this machine: their keys and the group epochs they were handed.
    func keyFiles(_ broker: Mosquitto, _ user: String) throws -> (keys: UserKeys, epochs: [GroupEpoch]) {
        let folder = broker.directory.appendingPathComponent("data/mqtt-chat/keys/\(user)@127.0.0.1:\(broker.port)")
        let read = { (name: String) in
            (try? String(contentsOf: folder.appendingPathComponent(name), encoding: .utf8)) ?? ""
        }
        let keys = try #require(KeyFiles.keys(user: user, identity: read("identity"), device: read("device")))
        return (keys, KeyFiles.groupEpochs(read("group_keys"))[Self.robots] ?? [])
    }

    /// The envelope of `sealed` (a group message's payload), after checking that nothing `user`'s tools
    /// kept (every epoch key they were handed) opens it.
    @discardableResult
    func unreadable(_ sealed: String, by user: String, _ broker: Mosquitto) throws -> Envelope {
        let envelope = try #require(
            SealedPayload(decoding: Array(sealed.utf8)).flatMap { Envelope(decoding: $0.sealed) }
        )
        let held = try keyFiles(broker, user).epochs
        #expect(!held.isEmpty)
        #expect(!held.contains { $0.number == envelope.epoch })
        for epoch in held {
            let tried = GroupEpoch(number: envelope.epoch, key: epoch.key, members: epoch.members)
            #expect(Sealing.openBody(envelope, key: Sealing.groupMessageKey(tried, envelope)) == nil)
        }
        return envelope
    }

    @Test("a group message: members read it, encrypted; admin on #, a non-member and the persistence file do not")
    func groupSealed() async throws {
        let broker = try Mosquitto(persistence: true, autosaveInterval: 1)
        let watch = try await operatorView(broker)
        let carol = try await rawView(broker, "carol", "chat/groups/alice/robots/#")
        try await robots(broker, members: ["bob"])
        let bob = try await broker.startChatListener(as: "bob", ["--format", "json"])
        try await say(broker, "alice", "the robots meet at 4711")
        try await say(broker, "bob", "bob brings 5353")
        #expect(await bob.waitForOutput("5353", timeout: .seconds(10)))
        try await broker.waitForSave(after: Date())
        let database = try Data(contentsOf: broker.directory.appendingPathComponent("mosquitto.db"))
        bob.signal(SIGTERM)
        #expect(try await bob.wait() == 0)
        #expect(await watch.waitForOutput("chat/groups/alice/robots/messages/bob "))
        #expect(await carol.waitForOutput("chat/groups/alice/robots/messages/bob {"))
        for raw in [watch, carol] {
            raw.signal(SIGTERM)
            _ = try await raw.wait()
        }
        let lines = try jsonLines(bob.stdout).filter { $0["type"] as? String == "message" }
        #expect(lines.map { $0["message"] as? String } == ["the robots meet at 4711", "bob brings 5353"])
        #expect(lines.allSatisfy { $0["group"] as? String == "alice/robots" && $0["encrypted"] as? Bool == true })
        #expect(lines.allSatisfy { $0["verified"] as? Bool == true })
        let payload = seen(watch, "chat/groups/alice/robots/messages/alice")
        #expect(payload?.contains("\"sealed\":\"") == true, "\(watch.stdout)")
        #expect(payload?.contains(SealedPayload.placeholder) == true)
        for secret in ["4711", "5353"] {
            #expect(!watch.stdout.contains(secret))
            #expect(!carol.stdout.contains(secret))
            #expect(database.range(of: Data(secret.utf8)) == nil)
        }
        // carol reads the group's messages (sealed) but not the keys handed to its members.
        #expect(carol.stdout.contains("chat/groups/alice/robots/messages/bob {"))
        #expect(!carol.stdout.contains("chat/groups/alice/robots/keys/"))
        #expect(seen(watch, "chat/groups/alice/robots/keys/bob")?.contains("\"sealed\":\"") == true)
    }

    @Test("a removed member: a new key for the others; what is said after the removal opens with nothing bob had")
    func groupRemoval() async throws {
        let broker = try Mosquitto()
        let watch = try await operatorView(broker)
        // bob reads the group's topics with a raw client too: he gets every sealed message.
        let bobRaw = try await rawView(broker, "bob", "chat/groups/alice/robots/messages/+")
        try await robots(broker, members: ["bob", "carol"])
        let listener = try await broker.startChatListener(as: "bob")
        try await say(broker, "carol", "before")
        #expect(await listener.waitForOutput("<carol> before", timeout: .seconds(10)))
        #expect(try await run(broker, "alice", command: ["group", "remove", "alice/robots", "bob"]).code == 0)
        try await say(broker, "carol", "after the removal")
        #expect(await bobRaw.waitForOutput("messages/carol {", times: 2))
        try await say(broker, "alice", "marker")
        #expect(await bobRaw.waitForOutput("messages/alice {"))
        // The keys of the removal went out before alice's marker.
        #expect(await watch.waitForOutput("chat/groups/alice/robots/messages/alice "))
        let sealed = try #require(seen(bobRaw, "chat/groups/alice/robots/messages/carol"))
        let envelope = try unreadable(sealed, by: "bob", broker)
        let bob = try keyFiles(broker, "bob").keys
        // carol's new keys, as the operator saw them, do not open with bob's device key even under her name;
        // bob's own key topic was cleared.
        let alice = try keyFiles(broker, "alice").keys
        let carolKeys = try #require(
            seen(watch, "chat/groups/alice/robots/keys/carol").flatMap {
                GroupKeys(payload: Array($0.utf8), group: Self.robots, member: "carol")
            }
        )
        #expect(carolKeys.epoch == envelope.epoch)
        let posing = UserKeys(user: "carol", identity: bob.identity, deviceID: bob.deviceID, device: bob.device)
        #expect(carolKeys.open(keys: posing, owner: alice.identityPublicKey) == .failure(.notForThisDevice))
        #expect(seen(watch, "chat/groups/alice/robots/keys/bob") == "(null)")
        // A room message after them: bob's listener has had every group message before it.
        #expect(try await run(broker, "alice", ["-m", "in the room"]).code == 0)
        #expect(await listener.waitForOutput("<alice> in the room", timeout: .seconds(10)))
        listener.signal(SIGTERM)
        #expect(try await listener.wait() == 0)
        bobRaw.signal(SIGTERM)
        watch.signal(SIGTERM)
        _ = try await (bobRaw.wait(), watch.wait())
        #expect(!listener.stdout.contains("after the removal") && !listener.stdout.contains("marker"))
    }

    @Test("a member who leaves: the owner's listener renews the key, at once or when it starts again")
    func groupLeave() async throws {
        let broker = try Mosquitto()
        let watch = try await operatorView(broker)
        try await robots(broker, members: ["bob", "carol"])
        let owner = try await broker.startChatListener(as: "alice")
        let epoch = { (member: String) in
            self.seen(watch, "chat/groups/alice/robots/keys/\(member)").flatMap {
                GroupKeys(payload: Array($0.utf8), group: Self.robots, member: member)
            }?.epoch
        }
        #expect(await watch.waitForOutput("chat/groups/alice/robots/keys/carol "))
        let approved = try #require(epoch("carol"))
        // bob leaves while alice's listener listens: it hands carol a new key at once.
        try await say(broker, "bob", "bye")
        #expect(try await run(broker, "bob", command: ["group", "leave", "alice/robots"]).code == 0)
        #expect(await watch.waitForOutput("chat/groups/alice/robots/keys/bob (null)", timeout: .seconds(10)))
        #expect(epoch("carol") == approved + 1)
        try await say(broker, "carol", "bob has left")
        #expect(await owner.waitForOutput("<carol> bob has left", timeout: .seconds(10)))
        #expect(await watch.waitForOutput("chat/groups/alice/robots/messages/carol "))
        try unreadable(try #require(seen(watch, "chat/groups/alice/robots/messages/carol")), by: "bob", broker)
        owner.signal(SIGTERM)
        #expect(try await owner.wait() == 0)
        // carol leaves while it is away: its next start renews the key.
        #expect(try await run(broker, "carol", command: ["group", "leave", "alice/robots"]).code == 0)
        let again = try await broker.startChatListener(as: "alice")
        #expect(await watch.waitForOutput("chat/groups/alice/robots/keys/carol (null)", timeout: .seconds(10)))
        #expect(epoch("alice") == approved + 2)
        again.signal(SIGTERM)
        #expect(try await again.wait() == 0)
        watch.signal(SIGTERM)
        _ = try await watch.wait()
        #expect(again.stderr.components(separatedBy: "note:").count == 1, "\(again.stderr)")
    }

    @Test("a forged member: only the owner hands out keys; an approval the operator forges gets none")
    func groupForgedMember() async throws {
        let broker = try Mosquitto()
        let watch = try await operatorView(broker)
        try await robots(broker, members: ["bob"])
        let listener = try await broker.startChatListener(as: "bob")
        // carol may not write keys into alice's group.
        #expect(try await run(broker, "carol", command: ["group", "join", "alice/robots"]).code == 0)
        let raw = try await broker.client("carol") { $0.reconnect = nil }
        await #expect(throws: MQTTError.self) {
            try await raw.publish(
                topic: "chat/groups/alice/robots/keys/carol",
                payload: Array("{}".utf8),
                qos: .atLeastOnce,
                retain: true
            )
        }
        await raw.disconnect()
        // The operator forges alice's approval of carol's request: the tools show her joining.
        #expect(await watch.waitForOutput("chat/groups/alice/robots/requests/carol "))
        let request = try #require(
            seen(watch, "chat/groups/alice/robots/requests/carol").flatMap { ChatState.members(Array($0.utf8)) }?[
                "request"
            ]
        )
        try adminPublish(
            broker,
            "chat/groups/alice/robots/members/carol",
            #"{"status":"approved","request":"\#(request)"}"#,
            retain: true
        )
        #expect(await listener.waitForOutput("* carol joined alice/robots"))
        // Her publisher holds no key: plaintext, marked. A message sealed with a key she made up for bob's
        // epoch: refused. alice's next message hands her nothing (the approval was not alice's).
        try await say(broker, "carol", "plain carol")
        #expect(await watch.waitForOutput("chat/groups/alice/robots/keys/bob "))
        let bobKeys = try #require(
            seen(watch, "chat/groups/alice/robots/keys/bob").flatMap {
                GroupKeys(payload: Array($0.utf8), group: Self.robots, member: "bob")
            }
        )
        let invented = GroupEpoch(number: bobKeys.epoch, key: Array(repeating: 7, count: 32), members: ["carol"])
        try publishSealed(
            broker,
            .message(from: "carol", "sealed carol"),
            keys: try keyFiles(broker, "carol").keys,
            epoch: invented
        )
        try await say(broker, "alice", "owner speaks")
        #expect(await listener.waitForOutput("owner speaks", timeout: .seconds(10)))
        // Keys alice handed out would have gone before her message.
        #expect(await watch.waitForOutput("chat/groups/alice/robots/messages/alice "))
        #expect(seen(watch, "chat/groups/alice/robots/keys/carol") == nil)
        listener.signal(SIGTERM)
        #expect(try await listener.wait() == 0)
        watch.signal(SIGTERM)
        _ = try await watch.wait()
        #expect(
            withoutTimes(listener.stdout).filter { $0.contains("carol") || $0.contains("alice/robots") } == [
                "* carol joined alice/robots",
                "[alice/robots] [not encrypted] <carol> plain carol",
                "[alice/robots] * carol sent a message that was refused: its sender is not a member of alice/robots by the owner's signed list (forged)",
                "[alice/robots] <alice> owner speaks",
            ]
        )
    }

    @Test("in a group: replayed, moved, tampered copies and a member posing as another: one marker line each")
    func groupRefusals() async throws {
        let broker = try Mosquitto()
        let watch = try await operatorView(broker)
        try await robots(broker, members: ["bob", "carol"])
        #expect(try await run(broker, "alice", command: ["group", "create", "crew"]).code == 0)
        for user in ["bob", "carol"] {
            #expect(try await run(broker, user, command: ["group", "join", "alice/crew"]).code == 0)
            #expect(try await run(broker, "alice", command: ["group", "approve", "alice/crew", user]).code == 0)
        }
        let owner = try await broker.startChatListener(as: "alice")
        try await say(broker, "bob", "bob here")
        try await say(broker, "carol", "once only")
        #expect(await owner.waitForOutput("<carol> once only", timeout: .seconds(10)))
        #expect(await watch.waitForOutput("chat/groups/alice/robots/messages/carol "))
        let sealed = try #require(seen(watch, "chat/groups/alice/robots/messages/carol"))
        // The operator republishes carol's message (replay), moves it to another group she is in, and
        // flips one byte of it.
        try adminPublish(broker, "chat/groups/alice/robots/messages/carol", sealed)
        #expect(await owner.waitForOutput("replayed", timeout: .seconds(10)))
        try adminPublish(broker, "chat/groups/alice/crew/messages/carol", sealed)
        #expect(await owner.waitForOutput("moved", timeout: .seconds(10)))
        try adminPublish(broker, "chat/groups/alice/robots/messages/carol", try flipped(sealed))
        #expect(await owner.waitForOutput("tampered", timeout: .seconds(10)))
        // bob, a member holding the group's key: the broker refuses him carol's topic, and what he signs
        // under carol's name on his own is refused.
        let raw = try await broker.client("bob") { $0.reconnect = nil }
        await #expect(throws: MQTTError.self) {
            try await raw.publish(
                topic: "chat/groups/alice/robots/messages/carol",
                payload: Array(sealed.utf8),
                qos: .atLeastOnce
            )
        }
        await raw.disconnect()
        let bob = try keyFiles(broker, "bob")
        let newest = try #require(bob.epochs.max { $0.number < $1.number })
        try publishSealed(broker, .message(from: "carol", "I am carol"), keys: bob.keys, epoch: newest)
        #expect(await owner.waitForOutput("forged", timeout: .seconds(10)))
        owner.signal(SIGTERM)
        #expect(try await owner.wait() == 0)
        watch.signal(SIGTERM)
        _ = try await watch.wait()
        #expect(
            withoutTimes(owner.stdout).filter { $0.hasPrefix("[alice/") } == [
                "[alice/robots] <bob> bob here",
                "[alice/robots] <carol> once only",
                "[alice/robots] * carol sent a message that was refused: it was replayed (already shown once)",
                "[alice/crew] * carol sent a message that was refused: it was sealed for another conversation (moved)",
                "[alice/robots] * carol sent a message that was refused: it was tampered with",
                "[alice/robots] * bob sent a message that was refused: its signed sender is not bob (forged)",
            ]
        )
    }

    @Test("a member away across a change of key gets what was said, encrypted, exactly once")
    func groupOffline() async throws {
        let broker = try Mosquitto()
        try await robots(broker, members: ["bob"])
        let first = try await broker.startChatListener(as: "bob")
        first.signal(SIGTERM)
        #expect(try await first.wait() == 0)
        try await say(broker, "alice", "away 1")
        try await approve(broker, "carol")
        try await say(broker, "alice", "away 2")
        let back = try broker.start(
            .listener,
            as: "bob",
            ["--format", "json", "-C", "2", "-W", "10"],
            stdinIsNull: true
        )
        #expect(try await back.wait(timeout: .seconds(20)) == 0, "\(back.stderr)")
        let lines = try jsonLines(back.stdout).filter { $0["type"] as? String == "message" }
        #expect(lines.map { $0["message"] as? String } == ["away 1", "away 2"])
        #expect(lines.allSatisfy { $0["encrypted"] as? Bool == true })
        // Exactly once: a listener started later shows nothing again before a new message, sent as a marker.
        let again = try await broker.startChatListener(as: "bob", ["--format", "json"])
        try await say(broker, "alice", "marker")
        #expect(await again.waitForOutput("marker"), "\(again.stderr)")
        again.signal(SIGTERM)
        #expect(try await again.wait() == 0)
        let shown = try jsonLines(again.stdout).filter { $0["type"] as? String == "message" }
        #expect(shown.map { $0["message"] as? String } == ["marker"])
    }

    @Test("at the prompt: lines to the group go sealed; /group approve hands the newcomer the new key")
    func groupPrompt() async throws {
        let broker = try Mosquitto()
        try await robots(broker, members: ["bob"])
        #expect(try await run(broker, "carol", command: ["group", "join", "alice/robots"]).code == 0)
        let bob = try await broker.startChatListener(as: "bob", ["--format", "json"])
        let carol = try await broker.startChatListener(as: "carol", ["--format", "json"])
        let session = try PromptTests().session(
            broker,
            "alice",
            [
                "@wait-for-screen alice [alice/robots]> ",
                #"@keys before carol 8080\r"#, "@wait-for-screen alice [alice/robots]> ",
                #"@keys /group approve alice/robots carol\r"#, "@wait-for-screen approved carol for alice/robots",
                #"@keys with carol 9090\r"#, "@wait-for-screen alice [alice/robots]> ",
                #"@keys /quit\r"#,
            ],
            arguments: ["--group", "alice/robots"]
        )
        #expect(try await session.wait() == 0, "\(session.stderr)")
        #expect(session.stderr == "", "\(session.stderr)")
        for listener in [bob, carol] {
            #expect(await listener.waitForOutput("9090", timeout: .seconds(10)))
            listener.signal(SIGTERM)
            #expect(try await listener.wait() == 0)
        }
        let messages = { (listener: ChildProcess) in
            try jsonLines(listener.stdout).filter { $0["type"] as? String == "message" }
        }
        #expect(try messages(bob).map { $0["message"] as? String } == ["before carol 8080", "with carol 9090"])
        #expect(try messages(carol).map { $0["message"] as? String } == ["with carol 9090"])
        #expect(try (messages(bob) + messages(carol)).allSatisfy { $0["encrypted"] as? Bool == true })
    }

    @Test("a broker with an older acl.conf (no group keys): one note; the group still chats, in plaintext")
    func groupOlderACL() async throws {
        let older = Mosquitto.defaultACL.split(separator: "\n", omittingEmptySubsequences: false)
            .filter { !$0.contains("/keys/") }.joined(separator: "\n")
        let broker = try Mosquitto(acl: older)
        let created = try await run(broker, "alice", command: ["group", "create", "robots"])
        #expect(created.code == 0)
        #expect(
            created.stderr
                == "publisher: note: the broker refused alice/robots's keys (chat/groups/alice/robots/keys/alice; an "
                + "older acl.conf?): its messages are not encrypted to its members' new keys.\n"
        )
        #expect(try await run(broker, "bob", command: ["group", "join", "alice/robots"]).code == 0)
        let approved = try await run(broker, "alice", command: ["group", "approve", "alice/robots", "bob"])
        #expect(approved.code == 0 && approved.stderr.hasPrefix("publisher: note: the broker refused"))
        let bob = try await broker.startChatListener(as: "bob", ["--format", "json"])
        try await say(broker, "alice", "plain as before")
        try await say(broker, "bob", "still chatting")
        #expect(await bob.waitForOutput("still chatting", timeout: .seconds(10)))
        bob.signal(SIGTERM)
        #expect(try await bob.wait() == 0)
        let lines = try jsonLines(bob.stdout).filter { $0["type"] as? String == "message" }
        #expect(lines.map { $0["message"] as? String } == ["plain as before", "still chatting"])
        #expect(lines.allSatisfy { $0["encrypted"] as? Bool == false && $0["group"] as? String == "alice/robots" })
    }
}
