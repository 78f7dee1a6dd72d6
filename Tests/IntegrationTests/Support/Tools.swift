import Foundation
import Testing

/// The built `listener` and `publisher`, run as a user would run them.
enum Tool: String {
    case listener
    case publisher

    /// Beside the test bundle (SwiftPM puts every product of a build in one folder).
    var path: String {
        let bundle = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        let candidate = bundle.appendingPathComponent(rawValue).path
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        return URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent(".build/debug/\(rawValue)")
            .path
    }
}

extension Mosquitto {
    /// Connection flags for one of the demo users against this broker, or through `proxy` to it.
    func flags(_ user: String, via proxy: TCPProxy? = nil) -> [String] {
        ["-h", host, "-p", String(proxy?.port ?? port), "-u", user, "-P", Mosquitto.users[user] ?? ""]
    }

    /// Each broker is another "machine": the listener's per-machine session lock, the journal of the state
    /// its tools wrote and the users' keys live in its folder.
    var machine: [String: String] {
        [
            "XDG_RUNTIME_DIR": directory.appendingPathComponent("run").path,
            "XDG_STATE_HOME": directory.appendingPathComponent("state").path,
            "XDG_DATA_HOME": directory.appendingPathComponent("data").path,
        ]
    }

    /// Starts a tool as `user`; a `command` word (`join rust`) comes first, as the tools require; extra
    /// environment entries are added.
    func start(
        _ tool: Tool,
        as user: String,
        command: [String] = [],
        _ arguments: [String],
        environment: [String: String] = [:],
        stdinIsNull: Bool = false
    ) throws -> ChildProcess {
        return try ChildProcess(
            tool.path,
            command + flags(user) + arguments,
            environment: machine.merging(environment) { $1 },
            stdinIsNull: stdinIsNull
        )
    }

    /// A listener that has subscribed (it says so with -d), ready to receive.
    func startListener(
        as user: String,
        _ arguments: [String],
        environment: [String: String] = [:]
    ) async throws
        -> ChildProcess
    {
        let listener = try start(.listener, as: user, ["-d"] + arguments, environment: environment, stdinIsNull: true)
        guard await listener.waitForOutput("subscribed to", onStderr: true) else {
            throw TestFailure("listener did not subscribe: \(listener.stderr)")
        }
        return listener
    }

    /// The listener over the chat layout, once it says it is listening (its snapshot of the state is in).
    func startChatListener(
        as user: String,
        _ arguments: [String] = [],
        environment: [String: String] = [:]
    ) async throws
        -> ChildProcess
    {
        let listener = try start(.listener, as: user, arguments, environment: environment, stdinIsNull: true)
        guard await listener.waitForOutput("listening on", timeout: .seconds(20), onStderr: true) else {
            listener.signal(SIGKILL)
            throw TestFailure("listener did not start listening: \(listener.stderr)")
        }
        return listener
    }

    /// Runs a tool to completion with `input` on stdin; returns exit code, stdout and stderr.
    func run(
        _ tool: Tool,
        as user: String,
        command: [String] = [],
        _ arguments: [String] = [],
        input: String? = nil,
        timeout: Duration = .seconds(30)
    ) async throws -> (code: Int32, stdout: String, stderr: String) {
        let process = try start(tool, as: user, command: command, arguments, stdinIsNull: input == nil)
        if let input {
            process.write(input)
            process.closeInput()
        }
        let code = try await process.wait(timeout: timeout)
        return (code, process.stdout, process.stderr)
    }
}

/// Runs a chat command (`join rust`, `who`) as `user`, expecting exit 0; returns its stdout.
func command(_ broker: Mosquitto, _ user: String, _ words: [String], tool: Tool = .publisher) async throws -> String {
    let result = try await broker.run(tool, as: user, command: words)
    #expect(result.code == 0, "\(user) \(words): \(result.stderr)")
    return result.stdout
}

/// Output lines without the `HH:MM:SS ` time prefix, which depends on the clock.
func withoutTimes(_ output: String) -> [String] {
    output.split(separator: "\n", omittingEmptySubsequences: false).dropLast().map { line in
        let text = String(line)
        guard text.count > 9, text.prefix(9).allSatisfy({ $0.isNumber || $0 == ":" || $0 == " " }) else { return text }
        return String(text.dropFirst(9))
    }
}

/// One JSON object per line, parsed.
func jsonLines(_ output: String) throws -> [[String: Any]] {
    try output.split(separator: "\n").map { line in
        guard let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
            throw TestFailure("not a JSON object: \(line)")
        }
        return object
    }
}
