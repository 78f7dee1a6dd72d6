import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// A real mosquitto on a free loopback port with generated password and ACL files, stopped by `stop()`.
/// Each test starts its own, so tests never share a broker's state.
final class Mosquitto: @unchecked Sendable {
    /// The demo users every test broker knows, with their passwords.
    static let users = ["alice": "alice-secret", "bob": "bob-secret", "carol": "carol-secret", "admin": "admin-secret"]

    /// The repository's own acl.conf, so the tests check what ships.
    static let defaultACL: String = {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent()
        return (try? String(contentsOf: root.appendingPathComponent("acl.conf"), encoding: .utf8)) ?? ""
    }()

    private(set) var port: Int
    let directory: URL
    private(set) var process: ChildProcess?
    private let extraConfig: String

    var host: String { "127.0.0.1" }

    /// Starts a broker. `extraConfig` lines are appended to the generated mosquitto.conf.
    init(
        acl: String = Mosquitto.defaultACL,
        extraConfig: String = "",
        persistence: Bool = false,
        autosaveInterval: Int = 1,
        port: Int? = nil
    ) throws {
        self.port = try port ?? Self.freePort()
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("mqtt-chat-test-\(UUID().uuidString)")
        // Started as root, mosquitto drops to the "mosquitto" user, which must be able to save its database here.
        try FileManager.default.createDirectory(
            at: directory,
            withIntermediateDirectories: true,
            attributes: [.posixPermissions: 0o777]
        )
        let passwords = directory.appendingPathComponent("passwd")
        try Self.users.map { "\($0.key):\($0.value)" }.joined(separator: "\n").write(
            to: passwords,
            atomically: true,
            encoding: .utf8
        )
        // mosquitto_passwd -U hashes a plain user:password file in place.
        try Self.run("/usr/bin/mosquitto_passwd", ["-U", passwords.path])
        try acl.write(to: directory.appendingPathComponent("acl"), atomically: true, encoding: .utf8)
        var config = """
            listener PORT 127.0.0.1
            allow_anonymous false
            password_file \(passwords.path)
            acl_file \(directory.appendingPathComponent("acl").path)
            max_queued_messages 0
            max_inflight_messages 20
            log_dest stderr
            log_type error
            log_type warning
            log_type notice
            log_type information
            connection_messages true

            """
        if persistence {
            config +=
                "persistence true\npersistence_location \(directory.path)/\nautosave_interval \(autosaveInterval)\n"
        }
        self.extraConfig = extraConfig
        config += extraConfig
        // A free port can be taken by a parallel test before mosquitto binds it: then try another.
        for attempt in 1...3 {
            let text = config.replacingOccurrences(of: "listener PORT ", with: "listener \(self.port) ")
            try text.write(to: directory.appendingPathComponent("mosquitto.conf"), atomically: true, encoding: .utf8)
            do {
                try start()
                return
            } catch  where port == nil && attempt < 3 {
                stop()
                self.port = try Self.freePort()
            }
        }
    }

    /// Starts (or restarts) the broker process with the generated config, and waits until it accepts.
    func start() throws {
        let process = try ChildProcess(
            "/usr/sbin/mosquitto",
            ["-c", directory.appendingPathComponent("mosquitto.conf").path],
            stdinIsNull: true
        )
        self.process = process
        try Self.waitUntilListening(port: port, timeout: .seconds(10))
        // Something else answering on the port (a parallel test got the same free port) means ours failed.
        usleep(20_000)
        if let code = process.exitCodeIfExited {
            throw TestFailure("mosquitto exited with \(code): \(process.stderr)")
        }
    }

    /// Stops the broker by its PID: SIGTERM (it saves persistence) or SIGKILL (a crash).
    func stop(signal: Int32 = SIGTERM) {
        guard let process else { return }
        process.signal(signal)
        let deadline = ContinuousClock.now + .seconds(10)
        while process.exitCodeIfExited == nil, ContinuousClock.now < deadline { usleep(5_000) }
        while !process.outputEnded, ContinuousClock.now < deadline { usleep(5_000) }
        stoppedLog += process.stderr
        self.process = nil
    }

    /// Waits until the broker has written its persistence database after `instant` (autosave).
    func waitForSave(after instant: Date, timeout: Duration = .seconds(10)) async throws {
        let file = directory.appendingPathComponent("mosquitto.db").path
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let modified = (try? FileManager.default.attributesOfItem(atPath: file)[.modificationDate]) as? Date
            if let modified, modified > instant { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw TestFailure("mosquitto did not save its database")
    }

    /// What the broker printed, over all its runs (restarts included): errors, warnings, notices and
    /// connections. mosquitto buffers its log, so all of it is here only once the broker stopped.
    var log: String { stoppedLog + (process?.stderr ?? "") }
    private var stoppedLog = ""

    deinit {
        stop()
        try? FileManager.default.removeItem(at: directory)
    }

    // MARK: Helpers

    /// A port the kernel just handed out on 127.0.0.1 and that nothing listens on now.
    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = loopbackAddress(port: 0)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
                bind(fd, pointer, length) == 0 && getsockname(fd, pointer, &length) == 0
            }
        }
        guard bound else { throw TestFailure("could not find a free port") }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    static func canConnect(port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = loopbackAddress(port: port)
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
    }

    static func waitUntilListening(port: Int, timeout: Duration) throws {
        let deadline = ContinuousClock.now + timeout
        while !canConnect(port: port) {
            guard ContinuousClock.now < deadline else { throw TestFailure("mosquitto did not listen on \(port)") }
            usleep(20_000)
        }
    }

    /// Runs one of mosquitto's clients to its exit (killed after `timeout`).
    static func run(_ path: String, _ arguments: [String], timeout: Duration = .seconds(30)) throws {
        let child = try ChildProcess(path, arguments, stdinIsNull: true)
        let deadline = ContinuousClock.now + timeout
        while child.exitCodeIfExited == nil {
            guard ContinuousClock.now < deadline else {
                child.signal(SIGKILL)
                throw TestFailure("\(path) did not exit within \(timeout): \(child.stderr)")
            }
            usleep(2_000)
        }
        guard child.exitCodeIfExited == 0 else { throw TestFailure("\(path) failed: \(child.stderr)") }
    }
}

/// 127.0.0.1:`port` as a socket address (port 0: let the kernel choose).
func loopbackAddress(port: Int) -> sockaddr_in {
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    return address
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
