import ChatProtocol
import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Room topics, /me, away and back, mentions and the bell, through the real tools and a real mosquitto.
@Suite("the screen: topics, /me, away, mentions, bell", .serialized, .timeLimit(.minutes(3)))
struct ScreenTests {
    static let ptyRun = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent(
        "Support/pty_run.py"
    ).path

    @Test("/topic: set, shown to a running listener and to one started later, listed, cleared; forging refused")
    func topics() async throws {
        let broker = try Mosquitto()
        _ = try await command(broker, "bob", ["join", "lab"])
        let running = try await broker.startChatListener(as: "carol", ["--room", "lab", "--format", "json"])
        let refused = try await broker.run(.publisher, as: "alice", command: ["topic", "lab", "step 1"])
        #expect(refused.code == 1)
        #expect(refused.stderr == "publisher: alice is not in #lab: join it to set its topic.\n")
        _ = try await command(broker, "bob", ["topic", "lab", "step 2 is on the board"])
        #expect(await running.waitForOutput("step 2 is on the board"))
        let live = try #require(try jsonLines(running.stdout).last)
        #expect(live["type"] as? String == "topic")
        #expect(live["room"] as? String == "lab")
        #expect(live["room_topic"] as? String == "step 2 is on the board")
        #expect(live["from"] as? String == "bob")
        #expect(live["verified"] as? Bool == true)
        // A listener that starts later shows it first.
        let later = try await broker.startChatListener(as: "alice", ["--room", "lab", "--room", "go"])
        // "listening on" (stderr) is written before the broker's state is shown on stdout: wait for the line.
        #expect(await later.waitForOutput("): step 2 is on the board"))
        let line = try #require(withoutTimes(later.stdout).first)
        #expect(line.hasPrefix("#lab topic (set by bob at ") && line.hasSuffix("): step 2 is on the board"), "\(line)")
        #expect(try await command(broker, "alice", ["topic", "lab"]) == line + "\n")
        let rooms = try await command(broker, "alice", ["rooms"])
        #expect(rooms.contains("#lab 1 member, 0 online: bob; topic: step 2 is on the board\n"), "\(rooms)")
        // Cleared ("" on the command line).
        _ = try await command(broker, "bob", ["topic", "lab", ""])
        #expect(await later.waitForOutput("#lab topic cleared by bob"))
        #expect(try await command(broker, "alice", ["topic", "lab"]) == "#lab has no topic\n")
        // Nobody sets a topic under another's name: the broker refuses it.
        let carol = try await broker.client("carol")
        let forged = await #expect(throws: MQTTError.self) {
            try await carol.publish(
                topic: "chat/topics/lab/bob",
                payload: ChatState.roomTopic("forged"),
                retain: true
            )
        }
        #expect(forged?.code == .notAuthorized)
        await carol.disconnect()
        for listener in [running, later] {
            listener.signal(SIGTERM)
            #expect(try await listener.wait() == 0)
        }
        #expect(!later.stdout.contains("forged"))
    }

    @Test("/me at the prompt and publisher --me: * alice TEXT in a room and privately")
    func me() async throws {
        let broker = try Mosquitto()
        let bob = try await broker.startChatListener(as: "bob")
        let session = try ChildProcess(
            "/usr/bin/python3",
            [Self.ptyRun, Tool.publisher.path] + broker.flags("alice") + ["--quiet"],
            environment: broker.machine
        )
        session.write("/me waves\n/msg bob hi\n/quit\n")
        session.closeInput()
        #expect(try await session.wait() == 0)
        _ = try await command(broker, "alice", ["--me", "alice's cat purrs"])
        _ = try await command(broker, "alice", ["--to", "bob", "--me", "smiles"])
        #expect(await bob.waitForOutput("[request] * alice smiles"))
        bob.signal(SIGTERM)
        #expect(try await bob.wait() == 0)
        #expect(
            withoutTimes(bob.stdout).filter { !$0.hasSuffix(" is online") && !$0.hasSuffix(" went offline") } == [
                "* alice waves", "[request] <alice> hi (to accept: /accept alice; to block: /block alice)",
                "* alice alice's cat purrs", "[request] * alice smiles",
            ]
        )
        let both = try await broker.run(.publisher, as: "alice", ["-m", "x", "--me", "y"])
        #expect(both.code == 64)
        #expect(both.stderr == "publisher: Give either --me or -m/--notice, not both. (see publisher --help)\n")
    }

    @Test("away and back: live notices, who in both formats, kept across restarts until back; offline wins")
    func away() async throws {
        let broker = try Mosquitto()
        let bob = try await broker.startChatListener(as: "bob")
        var alice = try await broker.startChatListener(as: "alice")
        #expect(await bob.waitForOutput("* alice is online"))
        _ = try await command(broker, "alice", ["away", "lunch, back at 2"])
        #expect(await bob.waitForOutput("* alice is away: lunch, back at 2"))
        #expect(try await command(broker, "carol", ["who"], tool: .listener).contains("alice away: lunch, back at 2\n"))
        let json = try jsonLines(try await command(broker, "carol", ["who", "--format", "json"]))
        let entry = try #require(json.first { $0["user"] as? String == "alice" })
        #expect(entry["status"] as? String == "away")
        #expect(entry["away"] as? String == "lunch, back at 2")
        // A restart of alice's tools: still away.
        alice.signal(SIGTERM)
        #expect(try await alice.wait() == 0)
        #expect(await bob.waitForOutput("* alice went offline"))
        // Offline wins: an away user with no connection is offline.
        _ = try await command(broker, "alice", ["join", "lab"])
        #expect(try await command(broker, "carol", ["who", "lab"]) == "alice offline\n")
        #expect(!(try await command(broker, "carol", ["who"]).contains("alice")))
        alice = try await broker.startChatListener(as: "alice")
        #expect(await bob.waitForOutput("* alice is online"))
        #expect(try await command(broker, "carol", ["who"]).contains("alice away: lunch, back at 2\n"))
        _ = try await command(broker, "alice", ["back"])
        #expect(await bob.waitForOutput("* alice is back"))
        #expect(try await command(broker, "carol", ["who"]).contains("alice online\n"))
        for listener in [alice, bob] {
            listener.signal(SIGTERM)
            #expect(try await listener.wait() == 0)
        }
    }

    @Test("a mention: marked in JSON, highlighted on a terminal; the bell rings on a terminal, never into a pipe")
    func mentions() async throws {
        let broker = try Mosquitto()
        let json = try await broker.startChatListener(as: "bob", ["--format", "json", "--bell", "-C", "2"])
        _ = try await command(broker, "alice", ["-m", "hi @Bob, look"])
        _ = try await command(broker, "alice", ["-m", "bobby is not you"])
        #expect(try await json.wait() == 0)
        let lines = try jsonLines(json.stdout)
        #expect(lines.map { $0["mention"] as? Bool } == [true, nil])
        // --bell into a pipe: no bell.
        #expect(!json.stdout.contains("\u{07}"))
        // On a terminal: the line that says bob's name is highlighted, and --bell rings for it and for a
        // private message.
        let ready = broker.directory.appendingPathComponent("listening")
        let screen = try ChildProcess(
            "/usr/bin/python3",
            [Self.ptyRun, Tool.listener.path] + broker.flags("bob") + ["--bell", "-C", "3"],
            // Colours on (swift test sets NO_COLOR for its children).
            environment: broker.machine.merging(["NO_COLOR": ""]) { $1 }
        )
        screen.write("@wait-for-output listening on\n@create-file \(ready.path)\n")
        screen.closeInput()
        #expect(await waitForFile(ready.path))
        _ = try await command(broker, "alice", ["-m", "bob: ready?"])
        _ = try await command(broker, "alice", ["-m", "nothing for you"])
        _ = try await command(broker, "alice", ["--to", "bob", "-m", "lunch?"])
        #expect(try await screen.wait() == 0)
        let shown = screen.stdout
        #expect(shown.contains("\u{07}\u{1B}[2m"))
        #expect(shown.contains("\u{1B}[1;7mbob: ready?\u{1B}[0m"), "\(shown)")
        // Two bells: the mention and the private message.
        #expect(shown.components(separatedBy: "\u{07}").count == 3, "\(shown)")
    }
}
