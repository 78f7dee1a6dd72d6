import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The tools against a broker that is not mosquitto: amqtt 0.12.1 (PyPI), which never answers the tools'
/// MQTT 5 CONNECT. scripts/test installs it into .build/amqtt-venv and names it in MQTT_CHAT_AMQTT; without
/// it these tests are skipped (shown as such), never passed.
@Suite(
    "brokers other than mosquitto",
    .timeLimit(.minutes(1)),
    .enabled(if: ProcessInfo.processInfo.environment["MQTT_CHAT_AMQTT"] != nil, "MQTT_CHAT_AMQTT is not set")
)
struct BrokerInteropTests {
    @Test("amqtt: both tools fall back to MQTT 3.1.1 within seconds, say so, and a message goes through")
    func amqtt() async throws {
        let broker = try await AMQTT.start()
        defer { broker.stop() }
        let topic = "chat/raw/amqtt-\(UUID().uuidString.prefix(8))"
        let flags = ["-h", "127.0.0.1", "-p", String(broker.port), "-u", "alice", "-P", "any"]
        let note =
            "note: 127.0.0.1:\(broker.port) did not answer an MQTT 5 CONNECT; using MQTT 3.1.1 (-V 311 skips trying 5).\n"
        let listener = try ChildProcess(Tool.listener.path, flags + ["-d", "-t", topic, "-C", "1"], stdinIsNull: true)
        guard await listener.waitForOutput("subscribed to", timeout: .seconds(15), onStderr: true) else {
            throw TestFailure("listener did not subscribe: \(listener.stderr)")
        }
        #expect(listener.stderr.hasPrefix("listener: " + note))
        let started = ContinuousClock.now
        let sent = try ChildProcess(Tool.publisher.path, flags + ["-t", topic, "-m", "hello amqtt"], stdinIsNull: true)
        #expect(try await sent.wait() == 0)
        // 3 s of fallback timeout, up to 3 s more for Paho's timeout check (was 12 s and exit 69).
        #expect(ContinuousClock.now - started < .seconds(8))
        #expect(sent.stderr == "publisher: " + note)
        #expect(try await listener.wait() == 0)
        #expect(withoutTimes(listener.stdout) == ["<alice> hello amqtt"])

        // -V 311 goes straight there, without a note.
        let direct = try ChildProcess(
            Tool.publisher.path,
            flags + ["-V", "311", "-t", topic, "-m", "x"],
            stdinIsNull: true
        )
        #expect(try await direct.wait() == 0)
        #expect(direct.stderr == "")
    }
}

/// amqtt on a free loopback port, anonymous logins allowed (it then accepts any user and password).
final class AMQTT: @unchecked Sendable {
    let port: Int
    private let process: ChildProcess
    private let directory: URL

    /// Starts it and waits, without holding a thread of the test pool, until it listens (Python takes a
    /// few seconds to start, more on a loaded machine).
    static func start() async throws -> AMQTT {
        let broker = try AMQTT()
        let deadline = ContinuousClock.now + .seconds(30)
        while !Mosquitto.canConnect(port: broker.port) {
            guard ContinuousClock.now < deadline, broker.process.exitCodeIfExited == nil else {
                broker.stop()
                throw TestFailure("amqtt did not listen on \(broker.port): \(broker.process.stderr)")
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        return broker
    }

    private init() throws {
        guard let executable = ProcessInfo.processInfo.environment["MQTT_CHAT_AMQTT"] else {
            throw TestFailure("MQTT_CHAT_AMQTT is not set")
        }
        port = try Mosquitto.freePort()
        directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "mqtt-chat-amqtt-\(UUID().uuidString)"
        )
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let config = directory.appendingPathComponent("amqtt.yaml")
        try """
        listeners:
          default:
            type: tcp
            bind: 127.0.0.1:\(port)
        plugins:
          amqtt.plugins.authentication.AnonymousAuthPlugin:
            allow_anonymous: true

        """.write(to: config, atomically: true, encoding: .utf8)
        process = try ChildProcess(executable, ["-c", config.path], stdinIsNull: true)
    }

    func stop() {
        process.signal(SIGTERM)
        let deadline = ContinuousClock.now + .seconds(5)
        while process.exitCodeIfExited == nil, ContinuousClock.now < deadline { usleep(10_000) }
        if process.exitCodeIfExited == nil { process.signal(SIGKILL) }
        try? FileManager.default.removeItem(at: directory)
    }
}
