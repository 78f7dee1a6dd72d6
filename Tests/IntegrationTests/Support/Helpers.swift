import ChatProtocol
import Foundation
import MQTTPaho
import Testing

extension Mosquitto {
    /// A client configuration for one of the demo users, with a unique client id.
    func configuration(_ user: String, id: String? = nil, version: MQTTVersion = .v5) -> MQTTConfiguration {
        var configuration = MQTTConfiguration(
            host: host,
            port: port,
            clientID: id ?? "\(user)-\(UUID().uuidString.prefix(8))"
        )
        configuration.username = user
        configuration.password = Mosquitto.users[user]
        configuration.version = version
        configuration.connectTimeout = .seconds(5)
        return configuration
    }

    /// A connected client for one of the demo users.
    func client(
        _ user: String,
        id: String? = nil,
        version: MQTTVersion = .v5,
        configure: (inout MQTTConfiguration) -> Void = { _ in }
    )
        async throws -> MQTTClient
    {
        var configuration = configuration(user, id: id, version: version)
        configure(&configuration)
        let client = try MQTTClient(configuration)
        try await client.connect()
        return client
    }
}

/// A topic no other test uses.
func uniqueTopic(_ prefix: String = "chat/raw") -> String {
    "\(prefix)/test-\(UUID().uuidString.prefix(8))"
}

/// Waits until `condition` holds, looking every 10 ms; returns whether it did within `timeout`.
func waitUntil(timeout: Duration = .seconds(10), _ condition: () -> Bool) async -> Bool {
    let deadline = ContinuousClock.now + timeout
    while !condition() {
        if ContinuousClock.now >= deadline { return false }
        try? await Task.sleep(for: .milliseconds(10))
    }
    return true
}

/// Waits until a file exists at `path` (a pty_run.py script's `@create-file`); returns whether it did in time.
func waitForFile(_ path: String, timeout: Duration = .seconds(30)) async -> Bool {
    await waitUntil(timeout: timeout) { FileManager.default.fileExists(atPath: path) }
}

/// Runs `body`, failing if it takes longer than `limit` (the task is cancelled).
func withTimeout<T: Sendable>(_ limit: Duration, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    try await withThrowingTaskGroup(of: T.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: limit)
            throw TestFailure("timed out after \(limit)")
        }
        defer { group.cancelAll() }
        return try await group.next()!
    }
}

extension MQTTMessageStream {
    /// The next `count` messages, or a failure after `limit`.
    func first(_ count: Int, within limit: Duration = .seconds(10)) async throws -> [MQTTMessage] {
        try await withTimeout(limit) {
            var received: [MQTTMessage] = []
            for try await message in self {
                received.append(message)
                if received.count == count { break }
            }
            return received
        }
    }
}

/// A file under /proc, read to the end: /proc files report size 0, so a single sized read would stop after the
/// first page.
func readProcFile(_ path: String) throws -> String {
    guard let file = FileHandle(forReadingAtPath: path) else { throw TestFailure("cannot read \(path)") }
    defer { try? file.close() }
    return String(decoding: try file.readToEnd() ?? Data(), as: UTF8.self)
}

/// The file names of the shared libraries a running process has mapped (from /proc/PID/maps).
func mappedLibraries(of pid: pid_t) throws -> Set<String> {
    Set(
        try readProcFile("/proc/\(pid)/maps").split(separator: "\n").compactMap { line in
            line.split(separator: " ", omittingEmptySubsequences: true).last.flatMap { path in
                path.contains(".so") ? String(path.split(separator: "/").last ?? "") : nil
            }
        }
    )
}

/// How many times the thread of `pid` named `name` has gone to sleep and woken (voluntary context switches).
func voluntarySwitches(of pid: pid_t, thread name: String) throws -> Int {
    for task in try FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task") {
        let thread = "/proc/\(pid)/task/\(task)"
        guard try readProcFile(thread + "/comm").trimmingCharacters(in: .newlines) == name else { continue }
        let status = try readProcFile(thread + "/status")
        guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix("voluntary_ctxt_switches:") }),
            let count = line.split(separator: "\t").last.flatMap({ Int($0.trimmingCharacters(in: .whitespaces)) })
        else { throw TestFailure("no switch count in \(status)") }
        return count
    }
    throw TestFailure("process \(pid) has no thread named \(name)")
}
