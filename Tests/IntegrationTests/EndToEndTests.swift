import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// End-to-end encryption of private messages (groups: GroupEndToEndTests.swift) against a real mosquitto with the shipped acl.conf: each test
/// tries to break one claim of the README's threat model with a raw client (mosquitto_sub/pub as `admin`).
@Suite("end-to-end encryption", .serialized, .timeLimit(.minutes(3)))
struct EndToEndTests {
    func run(
        _ broker: Mosquitto,
        _ user: String,
        command: [String] = [],
        _ arguments: [String] = [],
        environment: [String: String] = [:],
        input: String? = nil
    ) async throws -> (code: Int32, stdout: String, stderr: String) {
        let process = try broker.start(
            .publisher,
            as: user,
            command: command,
            arguments,
            environment: environment,
            stdinIsNull: input == nil
        )
        if let input {
            process.write(input)
            process.closeInput()
        }
        let code = try await process.wait(timeout: .seconds(30))
        return (code, process.stdout, process.stderr)
    }

    /// `admin` on `#`, printing topic and payload, once subscribed.
    func operatorView(_ broker: Mosquitto) async throws -> ChildProcess {
        let watch = try ChildProcess(
            "/usr/bin/stdbuf",
            ["-oL", "/usr/bin/mosquitto_sub"] + broker.mosquittoFlags("admin") + ["-t", "#", "-v", "-d"],
            stdinIsNull: true
        )
        guard await watch.waitForOutput("SUBACK") else { throw TestFailure("mosquitto_sub did not subscribe") }
        return watch
    }

    /// The payload admin saw last on `topic`.
    func seen(_ watch: ChildProcess, _ topic: String) -> String? {
        watch.stdout.split(separator: "\n").last { $0.hasPrefix(topic + " ") }.map {
            String($0.dropFirst(topic.count + 1))
        }
    }

    /// The environment of another machine of the same user: its own key files and state.
    func secondMachine(_ broker: Mosquitto) -> [String: String] {
        [
            "XDG_DATA_HOME": broker.directory.appendingPathComponent("second/data").path,
            "XDG_STATE_HOME": broker.directory.appendingPathComponent("second/state").path,
            "XDG_RUNTIME_DIR": broker.directory.appendingPathComponent("second/run").path,
        ]
    }

    func adminPublish(_ broker: Mosquitto, _ topic: String, _ payload: String, retain: Bool = false) throws {
        try Mosquitto.run(
            "/usr/bin/mosquitto_pub",
            broker.mosquittoFlags("admin") + ["-t", topic, "-m", payload] + (retain ? ["-r"] : [])
        )
    }

    /// `payload` (a sealed chat message as the operator saw it) with one byte of its envelope changed.
    func flipped(_ payload: String) throws -> String {
        let marker = try #require(payload.range(of: "\"sealed\":\"")).upperBound
        var bytes = Array(payload.utf8)
        let index = payload.utf8.distance(from: payload.utf8.startIndex, to: marker) + 120
        bytes[index] = bytes[index] == UInt8(ascii: "A") ? UInt8(ascii: "B") : UInt8(ascii: "A")
        return String(decoding: bytes, as: UTF8.self)
    }

    @Test("a private message: bob reads it, encrypted; admin on # and the persistence file see no plaintext")
    func sealedForRecipient() async throws {
        let broker = try Mosquitto(persistence: true, autosaveInterval: 1)
        let watch = try await operatorView(broker)
        let listener = try await broker.startChatListener(as: "bob", ["--format", "json"])
        let sent = try await run(broker, "alice", ["--to", "bob", "-m", "the secret is 4711"])
        #expect(sent.code == 0, "\(sent.stderr)")
        #expect(await listener.waitForOutput("4711", timeout: .seconds(10)))
        try await broker.waitForSave(after: Date())
        let database = try Data(contentsOf: broker.directory.appendingPathComponent("mosquitto.db"))
        listener.signal(SIGTERM)
        #expect(try await listener.wait() == 0)
        #expect(await watch.waitForOutput("chat/users/bob/inbox/alice "))
        watch.signal(SIGTERM)
        _ = try await watch.wait()
        let lines = try jsonLines(listener.stdout)
        #expect(lines.count == 1)
        #expect(lines.first?["message"] as? String == "the secret is 4711")
        #expect(lines.first?["encrypted"] as? Bool == true)
        #expect(lines.first?["verified"] as? Bool == true)
        // The operator saw the message go by, and the broker kept it for bob's session: never its text.
        let payload = seen(watch, "chat/users/bob/inbox/alice")
        #expect(payload?.contains("\"sealed\":\"") == true, "\(watch.stdout)")
        #expect(payload?.contains("[encrypted message: this client cannot read it]") == true)
        #expect(!watch.stdout.contains("4711"))
        #expect(database.range(of: Data("4711".utf8)) == nil)
        #expect(seen(watch, "chat/users/alice/keys")?.contains("\"identity\":\"") == true)
    }

    @Test("replayed, moved and tampered copies are refused with one marker line each, never shown as messages")
    func refusals() async throws {
        let broker = try Mosquitto()
        let watch = try await operatorView(broker)
        let bob = try await broker.startChatListener(as: "bob")
        let carol = try await broker.startChatListener(as: "carol")
        #expect(try await run(broker, "alice", ["--to", "bob", "-m", "once only"]).code == 0)
        #expect(await bob.waitForOutput("once only", timeout: .seconds(10)))
        #expect(await watch.waitForOutput("chat/users/bob/inbox/alice "))
        let sealed = try #require(seen(watch, "chat/users/bob/inbox/alice"))
        // The operator republishes it (replay), moves it to carol's inbox, and flips one byte of it.
        try adminPublish(broker, "chat/users/bob/inbox/alice", sealed)
        #expect(await bob.waitForOutput("replayed", timeout: .seconds(10)))
        try adminPublish(broker, "chat/users/carol/inbox/alice", sealed)
        #expect(await carol.waitForOutput("moved", timeout: .seconds(10)))
        try adminPublish(broker, "chat/users/bob/inbox/alice", try flipped(sealed))
        #expect(await bob.waitForOutput("tampered", timeout: .seconds(10)))
        for listener in [bob, carol] {
            listener.signal(SIGTERM)
            #expect(try await listener.wait() == 0)
        }
        watch.signal(SIGTERM)
        _ = try await watch.wait()
        let shown = { (output: String) in
            withoutTimes(output).filter { !$0.hasSuffix("online") && !$0.hasSuffix("offline") }
        }
        #expect(
            shown(bob.stdout) == [
                "[request] <alice> once only (to accept: /accept alice; to block: /block alice)",
                "* alice sent a message that was refused: it was replayed (already shown once)",
                "* alice sent a message that was refused: it was tampered with",
            ]
        )
        #expect(
            shown(carol.stdout) == [
                "* alice sent a message that was refused: it was sealed for another conversation (moved)"
            ]
        )
    }

    @Test("a key change: one notice, sending stops with exit 77 until trust; keys shows both fingerprints")
    func keyChange() async throws {
        let broker = try Mosquitto()
        #expect(try await run(broker, "alice", ["-m", "hi"]).code == 0)
        #expect(try await run(broker, "bob", ["--to", "alice", "-m", "before"]).code == 0)
        let listener = try await broker.startChatListener(as: "bob")
        let before = try await run(broker, "bob", command: ["keys", "alice"])
        #expect(before.code == 0, "\(before)")
        let renewed = try await run(broker, "alice", command: ["keys"], ["--new"])
        #expect(renewed.code == 0, "\(renewed.stderr)")
        #expect(await listener.waitForOutput("new identity key", timeout: .seconds(10)))
        let refused = try await run(broker, "bob", ["--to", "alice", "-m", "after"])
        #expect(refused.code == 77)
        #expect(refused.stderr.hasPrefix("publisher: alice's identity key changed (pinned "), "\(refused.stderr)")
        #expect(
            refused.stderr.hasSuffix(
                "nothing was sent. Check it with alice (publisher keys alice), then: publisher trust alice\n"
            )
        )
        let keys = try await run(broker, "bob", command: ["keys", "alice"])
        #expect(keys.stdout.contains("(published now: CHANGED; to accept it: publisher trust alice)"), "\(keys.stdout)")
        #expect(try await run(broker, "bob", command: ["trust", "alice"]).code == 0)
        #expect(try await run(broker, "bob", ["--to", "alice", "-m", "after"]).code == 0)
        // Both sides see the same safety number.
        let mine = try await run(broker, "bob", command: ["keys", "alice"])
        let theirs = try await run(broker, "alice", command: ["keys", "bob"])
        let number = { (text: String) in text.split(separator: "\n").first { $0.hasPrefix("safety number: ") } }
        #expect(number(mine.stdout) != nil && number(mine.stdout) == number(theirs.stdout), "\(mine) \(theirs)")
        listener.signal(SIGTERM)
        _ = try await listener.wait()
        #expect(
            withoutTimes(listener.stdout) == [
                "* alice has a new identity key: messages to alice stop until you check it (publisher keys alice) and accept it (publisher trust alice)"
            ]
        )
    }

    @Test("key files are created 0600 in a 0700 folder; a key file others can read is refused (exit 77)")
    func keyFileModes() async throws {
        let broker = try Mosquitto()
        #expect(try await run(broker, "alice", ["-m", "hello"]).code == 0)
        let folder = broker.directory.appendingPathComponent("data/mqtt-chat/keys/alice@127.0.0.1:\(broker.port)")
        for (name, mode) in [("", 0o700), ("identity", 0o600), ("device", 0o600)] {
            let path = name.isEmpty ? folder.path : folder.appendingPathComponent(name).path
            let attributes = try FileManager.default.attributesOfItem(atPath: path)
            #expect((attributes[.posixPermissions] as? Int) == mode, "\(path)")
        }
        let identity = folder.appendingPathComponent("identity").path
        chmod(identity, 0o644)
        let refused = try await run(broker, "alice", ["-m", "hello"])
        #expect(refused.code == 77)
        #expect(
            refused.stderr
                == "publisher: The key file \(identity) is readable by others (mode 644): run chmod 600 \(identity).\n"
        )
    }

    @Test("old and raw clients still chat, marked not encrypted once keys were seen for the sender")
    func plaintextClients() async throws {
        let broker = try Mosquitto()
        // alice has keys (her first run made them); carol writes with a raw client only.
        #expect(try await run(broker, "alice", ["-m", "hi"]).code == 0)
        let listener = try await broker.startChatListener(as: "bob", ["--format", "json", "-C", "2"])
        try Mosquitto.run(
            "/usr/bin/mosquitto_pub",
            broker.mosquittoFlags("carol") + [
                "-t", "chat/users/bob/inbox/carol", "-m", #"{"type":"message","from":"carol","message":"raw carol"}"#,
            ]
        )
        try Mosquitto.run(
            "/usr/bin/mosquitto_pub",
            broker.mosquittoFlags("alice") + [
                "-t", "chat/users/bob/inbox/alice", "-m", #"{"type":"message","from":"alice","message":"raw alice"}"#,
            ]
        )
        #expect(try await listener.wait() == 0)
        let lines = try jsonLines(listener.stdout)
        #expect(lines.map { $0["message"] as? String } == ["raw carol", "raw alice"])
        #expect(lines.map { $0["encrypted"] as? Bool } == [false, false])
        // In text, the one from someone with keys is marked.
        let text = try await broker.startChatListener(as: "bob", ["-C", "1"])
        try Mosquitto.run(
            "/usr/bin/mosquitto_pub",
            broker.mosquittoFlags("alice") + [
                "-t", "chat/users/bob/inbox/alice", "-m", #"{"type":"message","from":"alice","message":"raw again"}"#,
            ]
        )
        #expect(try await text.wait() == 0)
        #expect(
            withoutTimes(text.stdout) == [
                "[request] [not encrypted] <alice> raw again (to accept: /accept alice; to block: /block alice)"
            ]
        )
    }

    @Test("a second machine with an identity of its own: its listener says once that the keys lack its device")
    func deviceMissing() async throws {
        let broker = try Mosquitto()
        let secondMachine = secondMachine(broker)
        let first = try await broker.startChatListener(as: "bob")
        let second = try await broker.startChatListener(as: "bob", ["-i", "bob-laptop"], environment: secondMachine)
        #expect(await second.waitForOutput("without this device", timeout: .seconds(10)))
        let device = try String(
            contentsOfFile: broker.directory.appendingPathComponent(
                "second/data/mqtt-chat/keys/bob@127.0.0.1:\(broker.port)/device"
            ).path,
            encoding: .utf8
        ).split(separator: "\n")[1]
        #expect(try await run(broker, "alice", ["-m", "marker"]).code == 0)
        for listener in [first, second] {
            #expect(await listener.waitForOutput("<alice> marker", timeout: .seconds(10)))
            listener.signal(SIGTERM)
            #expect(try await listener.wait() == 0)
        }
        #expect(!first.stdout.contains("without this device"))
        #expect(
            withoutTimes(second.stdout).filter { !$0.contains("online") } == [
                "* bob publishes keys without this device (\(device)): what is sealed to bob does not open here. To use "
                    + "this device too: publisher keys --export FILE on the other one, publisher keys --import FILE here",
                "<alice> marker",
            ]
        )
        #expect(second.stderr.contains("another identity key is published for bob"), "\(second.stderr)")
    }

    @Test("a second device by --export/--import: no key change for others; offline delivery to both, once each")
    func twoDevices() async throws {
        let broker = try Mosquitto()
        let secondMachine = secondMachine(broker)
        // bob's first device: its listener's session, and alice pins bob's key by writing to him.
        let first = try await broker.startChatListener(as: "bob")
        #expect(try await run(broker, "alice", ["--to", "bob", "-m", "pinned"]).code == 0)
        #expect(await first.waitForOutput("pinned", timeout: .seconds(10)))
        first.signal(SIGTERM)
        #expect(try await first.wait() == 0)
        let file = broker.directory.appendingPathComponent("bob.identity").path
        let exported = try await run(broker, "bob", command: ["keys"], ["--export", file], input: "horse battery\n")
        #expect(exported.code == 0, "\(exported.stderr)")
        let attributes = try FileManager.default.attributesOfItem(atPath: file)
        #expect((attributes[.posixPermissions] as? Int) == 0o600)
        #expect(!(try String(contentsOfFile: file, encoding: .utf8)).contains("identity v1\n"))
        let wrong = try await run(
            broker,
            "bob",
            command: ["keys"],
            ["--import", file],
            environment: secondMachine,
            input: "wrong\n"
        )
        #expect(wrong.code == 77)
        #expect(wrong.stderr == "publisher: Wrong passphrase (or a damaged file): the identity was not imported.\n")
        let imported = try await run(
            broker,
            "bob",
            command: ["keys"],
            ["--import", file],
            environment: secondMachine,
            input: "horse battery\n"
        )
        #expect(imported.code == 0, "\(imported.stderr)")
        // The second device's listener registers its session (its own id: both "machines" share a host
        // name here), then both are away.
        let second = try await broker.startChatListener(as: "bob", ["-i", "bob-laptop"], environment: secondMachine)
        second.signal(SIGTERM)
        #expect(try await second.wait() == 0)
        for text in ["away 1", "away 2"] {
            let sent = try await run(broker, "alice", ["--to", "bob", "-m", text])
            #expect(sent.code == 0, "\(sent.stderr)")
        }
        for (environment, id) in [([:], []), (secondMachine, ["-i", "bob-laptop"])] {
            let back = try broker.start(
                .listener,
                as: "bob",
                id + ["--format", "json", "-C", "2", "-W", "10"],
                environment: environment,
                stdinIsNull: true
            )
            #expect(try await back.wait(timeout: .seconds(20)) == 0, "\(id) \(back.stderr)")
            let lines = try jsonLines(back.stdout)
            #expect(lines.map { $0["message"] as? String } == ["away 1", "away 2"])
            #expect(lines.allSatisfy { $0["encrypted"] as? Bool == true })
            // Exactly once: started later, the device shows nothing again before a new message, a marker. (The
            // second device may first get the first pass's marker, queued for it while it was away.)
            let later = try await broker.startChatListener(
                as: "bob",
                id + ["--format", "json"],
                environment: environment
            )
            let marker = "marker for \(id.isEmpty ? "the first device" : "bob-laptop")"
            let sent = try await run(broker, "alice", ["--to", "bob", "-m", marker])
            #expect(sent.code == 0, "\(sent.stderr)")
            #expect(await later.waitForOutput(marker), "\(later.stderr)")
            later.signal(SIGTERM)
            #expect(try await later.wait() == 0)
            let shown = try jsonLines(later.stdout).compactMap { $0["message"] as? String }
            #expect(shown.last == marker && shown.allSatisfy { $0.hasPrefix("marker for") }, "\(shown)")
        }
    }
}
