import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Every chat command driven both ways through the same cases: as a one-shot `publisher` command and typed at
/// the publisher's prompt on a pseudo-terminal. Both must refuse the same things with the same sentence and
/// leave the broker in the same state.
@Suite("chat commands, one-shot and at the prompt", .serialized, .timeLimit(.minutes(5)))
struct ChatCommandIntegrationTests {
    enum Way: String, CaseIterable, Sendable {
        case oneShot
        case prompt
    }

    /// Who runs which command, the one line it answers with on stderr (nil: none), and the one-shot's exit code.
    struct Step: Sendable {
        var user: String
        var words: [String]
        var says: String?
        var code: Int32 = 0
    }

    static let steps: [Step] = [
        Step(user: "alice", words: ["group", "create", "robots"]),
        Step(
            user: "alice",
            words: ["group", "leave", "alice/robots"],
            says: "alice owns alice/robots and cannot leave it.",
            code: 1
        ),
        Step(
            user: "bob",
            words: ["group", "leave", "alice/robots"],
            says: "bob is not in alice/robots and has not asked to join it.",
            code: 1
        ),
        Step(
            user: "bob",
            words: ["group", "join", "alice/nope"],
            says: "There is no group alice/nope (publisher groups lists them).",
            code: 1
        ),
        Step(user: "bob", words: ["group", "join", "alice/robots"]),
        Step(user: "carol", words: ["group", "join", "alice/robots"]),
        Step(
            user: "alice",
            words: ["group", "approve", "alice/robots", "erin"],
            says: "erin has not asked to join alice/robots.",
            code: 1
        ),
        Step(
            user: "alice",
            words: ["group", "remove", "alice/robots", "bob"],
            says: "bob is not a member of alice/robots.",
            code: 1
        ),
        Step(user: "alice", words: ["group", "approve", "alice/robots", "bob"]),
        Step(
            user: "alice",
            words: ["group", "reject", "alice/robots", "bob"],
            says: "bob's request to join alice/robots was already decided.",
            code: 1
        ),
        Step(user: "bob", words: ["group", "join", "alice/robots"], says: "bob is already a member of alice/robots."),
        Step(user: "alice", words: ["group", "reject", "alice/robots", "carol"]),
        Step(user: "carol", words: ["group", "leave", "alice/robots"]),
        Step(user: "carol", words: ["group", "join", "alice/robots"]),
        Step(user: "alice", words: ["group", "approve", "alice/robots", "carol"]),
        Step(user: "alice", words: ["group", "remove", "alice/robots", "carol"]),
        Step(user: "alice", words: ["join", "rust"]),
        Step(user: "bob", words: ["join", "go"]),
        Step(user: "bob", words: ["leave", "go"]),
        Step(user: "alice", words: ["invite", "bob", "rust"]),
        Step(user: "alice", words: ["msg", "bob", "see you at 5"]),
        Step(user: "bob", words: ["accept", "carol"]),
        Step(user: "bob", words: ["block", "erin"]),
        Step(
            user: "alice",
            words: ["join", "a/b"],
            says: "Invalid room \"a/b\": it contains \"/\" (names are 1 to 64 bytes of UTF-8 without /, +, # or "
                + "control characters).",
            code: 64
        ),
    ]

    /// Runs `step` one way; returns the lines the publisher said on stderr (`publisher: ...`).
    func run(_ step: Step, _ way: Way, on broker: Mosquitto) async throws -> [String] {
        switch way {
        case .oneShot:
            let result = try await broker.run(.publisher, as: step.user, command: step.words)
            #expect(result.code == step.code, "\(step.user) \(step.words): \(result.stderr)")
            #expect(result.stdout == "")
            return result.stderr.split(separator: "\n").map(String.init)
        case .prompt:
            let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent(
                "Support/pty_run.py"
            ).path
            let session = try ChildProcess(
                "/usr/bin/python3",
                [script, Tool.publisher.path] + broker.flags(step.user) + ["--quiet"],
                environment: broker.machine
            )
            session.write("/" + step.words.joined(separator: " ") + "\n/quit\n")
            session.closeInput()
            #expect(try await session.wait() == 0)
            // The terminal shows both streams, lines ending in CR LF.
            return session.stdout.split(separator: "\r\n").filter { $0.hasPrefix("publisher: ") }.map(String.init)
        }
    }

    @Test("the same refusals and the same state, one-shot and at the prompt", arguments: Way.allCases)
    func bothWays(way: Way) async throws {
        let broker = try Mosquitto()
        let bob = try await broker.startChatListener(as: "bob")
        for step in Self.steps {
            let said = try await run(step, way, on: broker)
            // A one-shot's usage error also points to --help.
            let help = way == .oneShot && step.code == 64 ? " (see publisher --help)" : ""
            #expect(said == (step.says.map { ["publisher: " + $0 + help] } ?? []), "\(way) \(step.user) \(step.words)")
        }
        let groups = try await broker.run(.publisher, as: "alice", command: ["groups"])
        #expect(groups.stdout == "alice/robots members: alice, bob\n")
        let rooms = try await broker.run(.publisher, as: "carol", command: ["rooms"])
        #expect(
            rooms.stdout
                == "#general 3 members, 1 online: alice, bob, carol (you are in it)\n#rust 1 member, 0 online: alice\n",
            "\(rooms.stdout)"
        )
        #expect(await bob.waitForOutput("see you at 5", timeout: .seconds(5)))
        bob.signal(SIGTERM)
        #expect(try await bob.wait() == 0)
        let shown = withoutTimes(bob.stdout).filter { !$0.hasSuffix(" is online") && !$0.hasSuffix(" went offline") }
        #expect(
            shown == [
                "* alice approved your request to join alice/robots", "* bob joined alice/robots",
                "* carol joined alice/robots", "* carol left alice/robots", "* bob joined #go", "* bob left #go",
                "[private] * alice invites you to #rust: /join rust",
                "[request] <alice> see you at 5 (to accept: /accept alice; to block: /block alice)",
            ],
            "\(way): \(bob.stdout)"
        )
    }
}
