import ChatProtocol
import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Rooms, private messages, invitations and presence against a real mosquitto with the shipped acl.conf,
/// driving the built tools as a user would (and raw clients where a test plays the attacker).
@Suite("rooms, private messages, invitations, presence", .serialized, .timeLimit(.minutes(3)))
struct ChatLayoutTests {
    private func send(_ broker: Mosquitto, _ user: String, _ arguments: [String]) async throws {
        let result = try await broker.run(.publisher, as: user, arguments)
        #expect(result.code == 0, "publisher \(arguments): \(result.stderr)")
    }

    @Test("a room message reaches the default room's listener, verified, with the proven sender")
    func defaultRoom() async throws {
        let broker = try Mosquitto()
        let listener = try await broker.startChatListener(as: "bob", ["--format", "json", "-C", "1"])
        try await send(broker, "alice", ["--room", "rust", "-m", "not for bob"])
        try await send(broker, "alice", ["-m", "hello general"])
        #expect(try await listener.wait() == 0)
        let lines = try jsonLines(listener.stdout)
        #expect(lines.count == 1)
        #expect(lines.first?["topic"] as? String == "chat/rooms/general/alice")
        #expect(lines.first?["from"] as? String == "alice")
        #expect(lines.first?["message"] as? String == "hello general")
        #expect(lines.first?["room"] as? String == "general")
        #expect(lines.first?["verified"] as? Bool == true)
        #expect(
            listener.stderr.contains(
                "listener: listening on #general and your private messages at 127.0.0.1:\(broker.port) as bob.\n"
            )
        )
    }

    @Test("join reaches a running listener at once; membership survives a restart; leave stops it")
    func liveJoin() async throws {
        let broker = try Mosquitto()
        let listener = try await broker.startChatListener(as: "bob")
        _ = try await command(broker, "bob", ["join", "rust"])
        #expect(await listener.waitForOutput("* bob joined #rust", timeout: .seconds(5)))
        try await send(broker, "alice", ["--room", "rust", "-m", "in rust"])
        #expect(await listener.waitForOutput("#rust <alice> in rust", timeout: .seconds(5)))
        listener.signal(SIGTERM)
        #expect(try await listener.wait() == 0)
        #expect(withoutTimes(listener.stdout) == ["* bob joined #rust", "#rust <alice> in rust"])

        // Restarted: still in #rust, without joining again.
        let again = try await broker.startChatListener(as: "bob")
        try await send(broker, "alice", ["--room", "rust", "-m", "still here"])
        #expect(await again.waitForOutput("#rust <alice> still here", timeout: .seconds(5)))
        _ = try await command(broker, "bob", ["leave", "rust"])
        #expect(await again.waitForOutput("* bob left #rust", timeout: .seconds(5)))
        try await send(broker, "alice", ["--room", "rust", "-m", "gone"])
        try await send(broker, "alice", ["-m", "in general"])
        #expect(await again.waitForOutput("<alice> in general", timeout: .seconds(5)))
        again.signal(SIGTERM)
        #expect(try await again.wait() == 0)
        #expect(withoutTimes(again.stdout) == ["#rust <alice> still here", "* bob left #rust", "<alice> in general"])
        #expect(
            try await command(broker, "bob", ["rooms"], tool: .listener)
                == "#general 1 member, 0 online: bob (you are in it)\n"
        )
    }

    @Test("an invitation names the room and the command, even from someone not accepted")
    func invitation() async throws {
        let broker = try Mosquitto()
        let listener = try await broker.startChatListener(as: "bob", ["-C", "1"])
        _ = try await command(broker, "carol", ["invite", "bob", "rust"])
        #expect(try await listener.wait() == 0)
        #expect(withoutTimes(listener.stdout) == ["[private] * carol invites you to #rust: /join rust"])
        let json = try await broker.startChatListener(as: "bob", ["-C", "1", "--format", "json", "-i", "bob-json"])
        _ = try await command(broker, "carol", ["invite", "bob", "go"])
        #expect(try await json.wait() == 0)
        let line = try jsonLines(json.stdout).first
        #expect(line?["type"] as? String == "invite")
        #expect(line?["invite"] as? String == "go")
        #expect(line?["to"] as? String == "bob")
        #expect(line?["from"] as? String == "carol")
    }

    @Test("private messages: a request first, plain once accepted (after restarts too), nothing once blocked")
    func privateMessages() async throws {
        let broker = try Mosquitto()
        let listener = try await broker.startChatListener(as: "bob")
        try await send(broker, "alice", ["--to", "bob", "-m", "one"])
        #expect(await listener.waitForOutput("one", timeout: .seconds(5)))
        _ = try await command(broker, "bob", ["accept", "alice"])
        _ = try await command(broker, "alice", ["msg", "bob", "two"])
        #expect(await listener.waitForOutput("two", timeout: .seconds(5)))
        listener.signal(SIGTERM)
        #expect(try await listener.wait() == 0)
        #expect(
            withoutTimes(listener.stdout) == [
                "[request] <alice> one (to accept: /accept alice; to block: /block alice)", "[private] <alice> two",
            ]
        )

        let again = try await broker.startChatListener(as: "bob", ["--format", "json"])
        _ = try await command(broker, "alice", ["msg", "bob", "three"])
        #expect(await again.waitForOutput("three", timeout: .seconds(5)))
        _ = try await command(broker, "bob", ["block", "alice"])
        _ = try await command(broker, "alice", ["msg", "bob", "four"])
        _ = try await command(broker, "alice", ["invite", "bob", "rust"])
        try await send(broker, "alice", ["-m", "in general"])
        _ = try await command(broker, "carol", ["msg", "bob", "five"])
        #expect(await again.waitForOutput("five", timeout: .seconds(5)))
        again.signal(SIGTERM)
        #expect(try await again.wait() == 0)
        let lines = try jsonLines(again.stdout)
        #expect(lines.map { $0["message"] as? String } == ["three", "five"])
        #expect(lines.map { $0["request"] as? Bool } == [nil, true])
        #expect(lines.allSatisfy { $0["to"] as? String == "bob" && $0["verified"] as? Bool == true })
    }

    @Test("private messages sent while the listener was away arrive when it is back, exactly once")
    func offlineDelivery() async throws {
        let broker = try Mosquitto()
        let first = try await broker.startChatListener(as: "bob")
        first.signal(SIGTERM)
        #expect(try await first.wait() == 0)
        for text in ["while away 1", "while away 2", "while away 3"] {
            _ = try await command(broker, "alice", ["msg", "bob", text])
        }
        try await send(broker, "alice", ["-m", "room chatter is not kept"])
        let back = try await broker.startChatListener(as: "bob", ["-C", "3", "-W", "10"])
        #expect(try await back.wait() == 0)
        #expect(
            withoutTimes(back.stdout)
                == (1...3).map {
                    "[request] <alice> while away \($0) (to accept: /accept alice; to block: /block alice)"
                }
        )
        // Exactly once: a listener started later shows nothing again before a new message, sent as a marker.
        let later = try await broker.startChatListener(as: "bob")
        _ = try await command(broker, "alice", ["msg", "bob", "marker"])
        #expect(await later.waitForOutput("marker"), "\(later.stderr)")
        later.signal(SIGTERM)
        #expect(try await later.wait() == 0)
        #expect(
            withoutTimes(later.stdout) == [
                "[request] <alice> marker (to accept: /accept alice; to block: /block alice)"
            ]
        )
    }

    @Test("presence: online while a listener runs, gone after a SIGKILL, told to people sharing a room")
    func presence() async throws {
        let broker = try Mosquitto(extraConfig: "")
        let carol = try await broker.startChatListener(as: "carol")
        let bob = try await broker.startChatListener(as: "bob", ["-k", "2"])
        #expect(await carol.waitForOutput("* bob is online", timeout: .seconds(5)))
        #expect(try await command(broker, "alice", ["who"], tool: .listener) == "bob online\ncarol online\n")
        let who = try jsonLines(try await command(broker, "alice", ["who", "--format", "json"], tool: .listener))
        #expect(who.map { $0["user"] as? String } == ["bob", "carol"])
        #expect(who.allSatisfy { $0["status"] as? String == "online" && $0["connections"] as? Int == 1 })
        bob.signal(SIGKILL)
        _ = try await bob.wait()
        #expect(await carol.waitForOutput("* bob went offline", timeout: .seconds(5)))
        #expect(try await command(broker, "alice", ["who"], tool: .listener) == "carol online\n")
        carol.signal(SIGTERM)
        #expect(try await carol.wait() == 0)
        #expect(withoutTimes(carol.stdout) == ["* bob is online", "* bob went offline"])
        // A clean exit takes the presence away itself.
        #expect(try await command(broker, "alice", ["who"], tool: .listener) == "nobody is online\n")
    }

    @Test("a second listener of the same user on one machine keeps the first one's session")
    func secondListener() async throws {
        let broker = try Mosquitto()
        let first = try await broker.startChatListener(as: "bob")
        let second = try await broker.startChatListener(as: "bob")
        #expect(
            second.stderr.contains("listener: note: another listener of bob on this machine holds the session bob@")
        )
        try await send(broker, "alice", ["-m", "to both"])
        #expect(await first.waitForOutput("<alice> to both", timeout: .seconds(5)))
        #expect(await second.waitForOutput("<alice> to both", timeout: .seconds(5)))
        #expect(try await command(broker, "carol", ["who"], tool: .listener) == "bob online (2 connections)\n")
        for listener in [first, second] {
            listener.signal(SIGTERM)
            #expect(try await listener.wait() == 0)
        }
        #expect(!first.stderr.contains("took over"))
    }

    @Test("a payload claiming another sender is shown with the proven one and marked forged")
    func forgedFrom() async throws {
        let broker = try Mosquitto()
        let listener = try await broker.startChatListener(as: "bob", ["--format", "json", "-C", "1"])
        let forged = #"{"type":"message","from":"alice","message":"I am alice"}"#
        try Mosquitto.run(
            "/usr/bin/mosquitto_pub",
            broker.mosquittoFlags("carol") + ["-t", "chat/rooms/general/carol", "-m", forged]
        )
        #expect(try await listener.wait() == 0)
        let line = try jsonLines(listener.stdout).first
        #expect(line?["from"] as? String == "carol")
        #expect(line?["forged"] as? Bool == true)
        #expect(line?["claimed_from"] as? String == "alice")
        let text = try await broker.startChatListener(as: "bob", ["-C", "1", "-i", "bob-text"])
        try Mosquitto.run(
            "/usr/bin/mosquitto_pub",
            broker.mosquittoFlags("carol") + ["-t", "chat/rooms/general/carol", "-m", forged]
        )
        #expect(try await text.wait() == 0)
        #expect(withoutTimes(text.stdout) == ["<carol> [forged: claims to be alice] I am alice"])
    }

    @Test("the broker refuses every forgery (room, inbox, state, presence, keys, away, topic); inboxes are private")
    func forgeriesRefused() async throws {
        let broker = try Mosquitto()
        for topic in [
            "chat/rooms/general/alice", "chat/users/bob/inbox/alice", "chat/users/alice/rooms/general",
            "chat/users/alice/online/x", "chat/users/alice/private/contacts/carol", "chat/users/alice/private/focus",
            "chat/users/alice/keys", "chat/users/alice/away", "chat/topics/general/alice",
        ] {
            // mosquitto 2.0.11 closes the connection after refusing a publish: one client per attempt.
            let carol = try await broker.client("carol") { $0.reconnect = nil }
            await #expect(throws: MQTTError.self, "carol wrote \(topic)") {
                try await carol.publish(topic: topic, payload: Array("forged".utf8), retain: true)
            }
            await carol.disconnect()
        }
        // A raw client subscribing to everyone's inbox and private state sees nothing of bob's.
        let spy = try await broker.client("carol")
        try await spy.subscribe([("chat/users/+/inbox/#", .exactlyOnce), ("chat/users/+/private/#", .atLeastOnce)])
        let bob = try await broker.startChatListener(as: "bob", ["-C", "1"])
        _ = try await command(broker, "alice", ["msg", "bob", "secret"])
        _ = try await command(broker, "bob", ["accept", "alice"])
        #expect(try await bob.wait() == 0)
        #expect(
            withoutTimes(bob.stdout) == ["[request] <alice> secret (to accept: /accept alice; to block: /block alice)"]
        )
        // A message to carol comes after all of that: bob's message and his contacts must not come before it.
        _ = try await command(broker, "alice", ["msg", "carol", "marker"])
        let seen = try await spy.messages.first(1)
        #expect(seen.map(\.topic) == ["chat/users/carol/inbox/alice"])
        await spy.disconnect()
    }

    @Test("names are checked before connecting: one line, exit 64")
    func names() async throws {
        let broker = try Mosquitto()
        let cases: [(Tool, [String], [String], String)] = [
            (.publisher, [], ["--room", "a/b", "-m", "x"], "Invalid room \"a/b\": it contains \"/\""),
            (.listener, [], ["--room", "x+y"], "Invalid room \"x+y\": it contains \"+\""),
            (.publisher, ["join", String(repeating: "r", count: 65)], [], "it is longer than 64 bytes"),
            (.publisher, ["msg", "b\u{1B}[31mob", "hi"], [], "it contains a control character"),
            (.publisher, [], ["--to", "#all", "-m", "x"], "Invalid user name \"#all\": it contains \"#\""),
        ]
        for (tool, words, arguments, expected) in cases {
            let result = try await broker.run(tool, as: "alice", command: words, arguments)
            #expect(result.code == 64, "\(words + arguments)")
            #expect(
                result.stderr.hasPrefix("\(tool.rawValue): ") && result.stderr.contains(expected),
                "\(result.stderr)"
            )
            #expect(result.stderr.filter { $0 == "\n" }.count == 1)
        }
        let badUser = try await broker.run(.publisher, as: "alice", ["-u", "ev+l", "-m", "x"])
        #expect(badUser.code == 64)
        #expect(badUser.stderr.contains("Invalid user name \"ev+l\""))
    }

    @Test("the prompt: /join switches rooms, unknown /words are not sent, //text sends /text")
    func prompt() async throws {
        let broker = try Mosquitto()
        let listener = try await broker.startChatListener(as: "bob", ["-C", "3"])
        _ = try await command(broker, "bob", ["join", "rust"])
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent(
            "Support/pty_run.py"
        ).path
        let session = try ChildProcess(
            "/usr/bin/python3",
            [script, Tool.publisher.path] + broker.flags("alice"),
            environment: broker.machine
        )
        session.write("hello\n/frobnicate now\n//slash\n/join rust\nin rust\n/quit\n")
        session.closeInput()
        #expect(try await session.wait() == 0)
        #expect(session.stdout.contains("alice #general> "))
        #expect(session.stdout.contains("alice #rust> "))
        #expect(session.stdout.contains("publisher: unknown command /frobnicate (type /help; //text sends /text)"))
        #expect(try await listener.wait() == 0)
        #expect(
            withoutTimes(listener.stdout) == [
                "* bob joined #rust", "* alice is online", "<alice> hello", "<alice> /slash", "* alice joined #rust",
                "#rust <alice> in rust",
            ]
        )
    }

    @Test("an idle prompt on one CPU does not hold up the reconnect: it waits for a line on a thread of its own")
    func idlePromptOneCPU() async throws {
        let broker = try Mosquitto()
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent(
            "Support/pty_run.py"
        ).path
        let typeQuit = broker.directory.appendingPathComponent("type-quit")
        // One CPU: Swift's cooperative pool has one thread, which a read of the terminal would keep.
        let session = try ChildProcess(
            "/usr/bin/taskset",
            ["-c", "0", "/usr/bin/python3", script, Tool.publisher.path] + broker.flags("alice"),
            environment: broker.machine
        )
        session.write("@wait-for-file \(typeQuit.path)\n/quit\n")
        session.closeInput()
        let aliceOnline = { try await command(broker, "bob", ["who"], tool: .listener) == "alice online\n" }
        var online = false
        for _ in 0..<100 where !online {
            online = try await aliceOnline()
            if !online { try await Task.sleep(for: .milliseconds(100)) }
        }
        #expect(online, "the prompt never said alice is online")
        // Without persistence the restarted broker has forgotten the presence: only a reconnect brings it back,
        // while nobody types.
        broker.stop()
        try broker.start()
        online = false
        for _ in 0..<100 where !online {
            online = try await aliceOnline()
            if !online { try await Task.sleep(for: .milliseconds(100)) }
        }
        #expect(online, "the idle prompt did not reconnect")
        #expect(FileManager.default.createFile(atPath: typeQuit.path, contents: nil))
        #expect(try await session.wait() == 0)
    }

    @Test("seed-style clients on a raw topic: shown, never verified")
    func rawTopics() async throws {
        let broker = try Mosquitto()
        let listener = try await broker.startListener(as: "bob", ["-t", "chat", "--format", "json", "-C", "1"])
        try Mosquitto.run(
            "/usr/bin/mosquitto_pub",
            broker.mosquittoFlags("carol") + [
                "-t", "chat", "-m", #"{"type": "message", "from": "Test", "message": "hi"}"#,
            ]
        )
        #expect(try await listener.wait() == 0)
        let line = try jsonLines(listener.stdout).first
        #expect(line?["from"] as? String == "Test")
        #expect(line?["verified"] as? Bool == false)
        #expect(line?["room"] == nil)
    }

    @Test("on a broker without the layout's ACL nothing is verified, and the listener says so once")
    func unverifiedBroker() async throws {
        let broker = try Mosquitto(acl: "pattern readwrite #\n")
        let listener = try await broker.startChatListener(as: "bob", ["--format", "json", "-C", "1"])
        #expect(
            await listener.waitForOutput("listener: note: this broker let bob post under another name", onStderr: true)
        )
        try await send(broker, "alice", ["-m", "unproven"])
        #expect(try await listener.wait() == 0)
        #expect(try jsonLines(listener.stdout).first?["verified"] as? Bool == false)
    }
}
