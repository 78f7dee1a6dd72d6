import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The broker-held state a user can trust (README, "What the broker guarantees"): a running listener misses
/// no live event, and what the tools said was done survives a broker crash. Real mosquitto, real tools; the
/// broker killed with SIGKILL (a crash: nothing saved since its last autosave) and restarted on its port.
@Suite("broker-held state: live events, crashes", .serialized, .timeLimit(.minutes(3)))
struct BrokerStateTests {
    private func run(
        _ broker: Mosquitto,
        _ user: String,
        command: [String] = [],
        _ arguments: [String] = [],
        environment: [String: String] = [:]
    ) async throws {
        let process = try broker.start(.publisher, as: user, command: command, arguments, environment: environment)
        let code = try await process.wait(timeout: .seconds(30))
        #expect(code == 0, "\(command) \(arguments): \(process.stderr)")
    }

    /// Kills the broker (nothing saved since its last autosave), starts it again on its port, and waits until
    /// `listener` (started with -d) has read the broker's state again.
    private func crash(_ broker: Mosquitto, readBackBy listener: ChildProcess) async throws {
        let line = "read the broker's state again after the reconnect"
        let before = listener.stderr.components(separatedBy: line).count - 1
        broker.stop(signal: SIGKILL)
        try broker.start()
        let readAgain = await listener.waitForOutput(line, times: before + 1, timeout: .seconds(30), onStderr: true)
        #expect(readAgain, "\(listener.stderr)")
    }

    @Test("a message posted the moment `join` exits is shown, five rooms in a row")
    func messageRightAfterJoin() async throws {
        let broker = try Mosquitto()
        let listener = try await broker.startChatListener(as: "bob")
        for index in 1...5 {
            try await run(broker, "bob", command: ["join", "r\(index)"])
            try await run(broker, "alice", ["--room", "r\(index)", "-m", "first in r\(index)"])
        }
        try await run(broker, "alice", ["-m", "done"])
        #expect(await listener.waitForOutput("<alice> done", timeout: .seconds(10)))
        listener.signal(SIGTERM)
        _ = try await listener.wait()
        let shown = withoutTimes(listener.stdout).filter { $0.contains("<alice>") }
        #expect(shown == (1...5).map { "#r\($0) <alice> first in r\($0)" } + ["<alice> done"])
    }

    @Test("a request that reaches the owner's listener while it starts is shown, once it listens")
    func requestDuringStart() async throws {
        let broker = try Mosquitto()
        try await run(broker, "alice", command: ["group", "create", "robots"])
        // Subscribed (-d says so) but not listening yet: the sender-proof probe and the snapshot still run.
        let listener = try broker.start(.listener, as: "alice", ["-d"], stdinIsNull: true)
        #expect(await listener.waitForOutput("subscribed to", onStderr: true))
        try await run(broker, "bob", command: ["group", "join", "alice/robots"])
        #expect(await listener.waitForOutput("* bob asks to join alice/robots", timeout: .seconds(10)))
        listener.signal(SIGTERM)
        _ = try await listener.wait()
    }

    @Test("after a crash the listener writes back what its user's tools did since the broker's last save")
    func crashRestoresState() async throws {
        // The shipped mosquitto.conf saves every 30 s: a crash loses what came since.
        let broker = try Mosquitto(persistence: true, autosaveInterval: 30)
        let listener = try await broker.startChatListener(as: "bob", ["-d"])
        try await run(broker, "bob", command: ["join", "crashroom"])
        try await run(broker, "bob", command: ["accept", "carol"])
        try await run(broker, "bob", command: ["group", "create", "crashgrp"])
        #expect(await listener.waitForOutput("* bob joined #crashroom", timeout: .seconds(10)))
        try await crash(broker, readBackBy: listener)
        // The three retained messages are back (or come back live): admin reads them.
        let watch = try ChildProcess(
            "/usr/bin/mosquitto_sub",
            broker.flags("admin") + [
                "-t", "chat/users/bob/rooms/crashroom", "-t", "chat/users/bob/private/contacts/carol",
                "-t", "chat/groups/bob/crashgrp/info", "-C", "3", "-W", "30", "-F", "%t",
            ],
            stdinIsNull: true
        )
        #expect(try await watch.wait(timeout: .seconds(40)) == 0)
        #expect(
            watch.stdout.split(separator: "\n").sorted() == [
                "chat/groups/bob/crashgrp/info", "chat/users/bob/private/contacts/carol",
                "chat/users/bob/rooms/crashroom",
            ]
        )
        let rooms = try await broker.run(.publisher, as: "alice", command: ["rooms"])
        #expect(rooms.stdout.contains("#crashroom"), "\(rooms)")
        let groups = try await broker.run(.publisher, as: "alice", command: ["groups"])
        #expect(groups.stdout.contains("bob/crashgrp"), "\(groups)")
        listener.signal(SIGTERM)
        _ = try await listener.wait()
    }

    @Test("after a broker restart the listener's view is the broker's, not what it remembered")
    func viewAfterRestart() async throws {
        let broker = try Mosquitto(persistence: true, autosaveInterval: 30)
        let listener = try await broker.startChatListener(as: "bob", ["-d"])
        // Joined from another machine (its own journal), then lost in the crash: bob is not in lostroom.
        let elsewhere = ["XDG_STATE_HOME": broker.directory.appendingPathComponent("elsewhere").path]
        try await run(broker, "bob", command: ["join", "lostroom"], environment: elsewhere)
        #expect(await listener.waitForOutput("* bob joined #lostroom", timeout: .seconds(10)))
        try await crash(broker, readBackBy: listener)
        try await run(broker, "alice", ["--room", "lostroom", "-m", "not for bob any more"])
        try await run(broker, "alice", ["-m", "after the restart"])
        #expect(await listener.waitForOutput("<alice> after the restart", timeout: .seconds(10)))
        listener.signal(SIGTERM)
        _ = try await listener.wait()
        #expect(!listener.stdout.contains("not for bob any more"))
    }

    @Test("a client online when the broker crashed, and never back, is offline within two of its keepalives")
    func presenceAfterCrash() async throws {
        let broker = try Mosquitto(persistence: true, autosaveInterval: 1)
        let listener = try await broker.startChatListener(as: "bob")
        // carol's presence lasts 4 s unless renewed (keepalive 2 s).
        let carol = try await broker.startChatListener(as: "carol", ["-k", "2"])
        #expect(await listener.waitForOutput("* carol is online", timeout: .seconds(10)))
        try await broker.waitForSave(after: Date())
        // The broker dies first, so carol's will is never sent; then carol, while it is down.
        broker.stop(signal: SIGKILL)
        carol.signal(SIGKILL)
        _ = try await carol.wait()
        try broker.start()
        #expect(await listener.waitForOutput("* carol went offline", timeout: .seconds(20)))
        let who = try await broker.run(.publisher, as: "alice", command: ["who"])
        #expect(who.code == 0)
        #expect(!who.stdout.contains("carol"), "\(who.stdout)")
        #expect(who.stdout.contains("bob"), "\(who.stdout)")
        listener.signal(SIGTERM)
        _ = try await listener.wait()
    }

    @Test("a crash that brings back an older value: the newer one the tools wrote wins (a leave, a block)")
    func crashRestoresNewerOverOlder() async throws {
        let broker = try Mosquitto(persistence: true, autosaveInterval: 30)
        let listener = try await broker.startChatListener(as: "bob", ["-d"])
        try await run(broker, "bob", command: ["join", "oldroom"])
        try await run(broker, "bob", command: ["accept", "dave"])
        // Saved now (SIGTERM writes the database), so the crash below brings these values back.
        broker.stop()
        try broker.start()
        #expect(
            await listener.waitForOutput(
                "read the broker's state again after the reconnect",
                timeout: .seconds(30),
                onStderr: true
            )
        )
        try await run(broker, "bob", command: ["leave", "oldroom"])
        try await run(broker, "bob", command: ["block", "dave"])
        #expect(await listener.waitForOutput("* bob left #oldroom", timeout: .seconds(10)))
        try await crash(broker, readBackBy: listener)
        // The broker came back with bob in oldroom and dave accepted; the listener writes back the newer state,
        // in topic order (the contact first), so once it shows bob out of oldroom again both are back.
        #expect(await listener.waitForOutput("* bob left #oldroom", times: 2, timeout: .seconds(10)))
        let watch = try ChildProcess(
            "/usr/bin/mosquitto_sub",
            broker.flags("bob") + ["-t", "chat/users/bob/private/contacts/dave", "-C", "1", "-W", "10", "-F", "%p"],
            stdinIsNull: true
        )
        #expect(try await watch.wait(timeout: .seconds(20)) == 0)
        #expect(watch.stdout.contains(#""status":"blocked""#), "\(watch.stdout)")
        let rooms = try await broker.run(.publisher, as: "alice", command: ["rooms"])
        #expect(!rooms.stdout.contains("#oldroom"), "\(rooms.stdout)")
        listener.signal(SIGTERM)
        _ = try await listener.wait()
    }

    @Test("rapid joins and leaves end in the last one: shown after the last join, nothing after the last leave")
    func rapidJoinsAndLeaves() async throws {
        let broker = try Mosquitto()
        let listener = try await broker.startChatListener(as: "bob")
        for word in ["join", "leave", "join", "leave", "join"] {
            try await run(broker, "bob", command: [word, "flip"])
        }
        try await run(broker, "alice", ["--room", "flip", "-m", "after the last join"])
        #expect(await listener.waitForOutput("#flip <alice> after the last join", timeout: .seconds(10)))
        try await run(broker, "bob", command: ["leave", "flip"])
        try await run(broker, "alice", ["--room", "flip", "-m", "after the last leave"])
        try await run(broker, "alice", ["-m", "in general"])
        #expect(await listener.waitForOutput("<alice> in general", timeout: .seconds(10)))
        listener.signal(SIGTERM)
        _ = try await listener.wait()
        #expect(!listener.stdout.contains("after the last leave"))
    }
}
