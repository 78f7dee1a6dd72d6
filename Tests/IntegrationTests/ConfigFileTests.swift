import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// A config folder for XDG_CONFIG_HOME, removed afterwards.
final class ConfigHome: @unchecked Sendable {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
        "mqtt-chat-config-\(UUID().uuidString)"
    )
    var file: String { directory.appendingPathComponent("mqtt-chat/config").path }
    var environment: [String: String] { ["XDG_CONFIG_HOME": directory.path] }

    init(_ lines: [String], mode: mode_t = 0o600) throws {
        try FileManager.default.createDirectory(
            at: directory.appendingPathComponent("mqtt-chat"),
            withIntermediateDirectories: true
        )
        try (lines.joined(separator: "\n") + "\n").write(toFile: file, atomically: true, encoding: .utf8)
        chmod(file, mode)
    }

    /// A password file in the folder, mode 0600.
    func passwordFile(_ password: String) throws -> String {
        let path = directory.appendingPathComponent("mqtt-chat/password").path
        try (password + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        chmod(path, 0o600)
        return path
    }

    deinit { try? FileManager.default.removeItem(at: directory) }
}

/// Runs a tool with only the arguments given (no connection flags) and the config folder's environment.
func runTool(
    _ tool: Tool,
    _ arguments: [String],
    home: ConfigHome,
    timeout: Duration = .seconds(30)
) async throws -> (code: Int32, stdout: String, stderr: String) {
    let process = try ChildProcess(tool.path, arguments, environment: home.environment, stdinIsNull: true)
    let code = try await process.wait(timeout: timeout)
    return (code, process.stdout, process.stderr)
}

@Suite("config file", .serialized, .timeLimit(.minutes(2)))
struct ConfigFileIntegrationTests {
    @Test("both tools work with no flags from one config file; the listener's --format does not break the publisher")
    func noFlags() async throws {
        let broker = try Mosquitto()
        let topic = uniqueTopic()
        let secrets = try ConfigHome([])
        let bobFile = try secrets.passwordFile("bob-secret")
        let bobLines = [
            "--host \(broker.host)", "--port \(broker.port)", "--username bob", "--password-file \(bobFile)",
        ]
        let listenerHome = try ConfigHome(bobLines + ["# the listener's own:", "--format json", "--topic \(topic)"])
        let listener = try ChildProcess(
            Tool.listener.path,
            ["-C", "1", "-d"],
            environment: listenerHome.environment,
            stdinIsNull: true
        )
        #expect(await listener.waitForOutput("subscribed to \(topic)", onStderr: true))
        let alice = try ConfigHome([
            "--host \(broker.host)", "--port \(broker.port)", "--username alice", "--password alice-secret",
            "--format json", "--topic \(topic)",
        ])
        let sent = try await runTool(.publisher, ["-m", "from the config"], home: alice)
        #expect(sent.code == 0)
        #expect(sent.stderr == "")
        #expect(try await listener.wait() == 0)
        let lines = try jsonLines(listener.stdout)
        #expect(lines.map { $0["from"] as? String } == ["alice"])
        #expect(lines.map { $0["message"] as? String } == ["from the config"])
        #expect(lines.map { $0["topic"] as? String } == [topic])
    }

    @Test("the command line wins over the file, and --no-config ignores a broken file")
    func overrides() async throws {
        let broker = try Mosquitto()
        let topic = uniqueTopic()
        // The file's port and password are wrong; the command line's are right.
        let home = try ConfigHome(["--host \(broker.host)", "--port 1", "--username alice", "--password nope"])
        let listener = try await broker.startListener(as: "bob", ["-t", topic, "-C", "2"])
        let sent = try await runTool(
            .publisher,
            [
                "-p", String(broker.port), "--password-file", try home.passwordFile("alice-secret"), "-t", topic, "-m",
                "one",
            ],
            home: home
        )
        #expect(sent.code == 0)
        #expect(sent.stderr == "")
        let broken = try ConfigHome(["--host \(broker.host)", "--bogus 1"])
        let ignored = try await runTool(
            .publisher,
            ["--no-config"] + broker.flags("alice") + ["-t", topic, "-m", "two"],
            home: broken
        )
        #expect(ignored.code == 0)
        #expect(ignored.stderr == "")
        #expect(try await listener.wait() == 0)
        #expect(withoutTimes(listener.stdout) == ["<alice> one", "<alice> two"])
    }

    @Test(
        "an unknown option is one line naming the file and line, exit 64, in both tools",
        arguments: [Tool.listener, .publisher]
    )
    func unknownOption(tool: Tool) async throws {
        let home = try ConfigHome(["# workshop", "--host 127.0.0.1", "--hots 10.0.0.1"])
        let result = try await runTool(tool, ["-m", "x"].filter { _ in tool == .publisher }, home: home)
        #expect(result.code == 64)
        #expect(result.stdout == "")
        #expect(
            result.stderr == "\(tool.rawValue): \(home.file):3: unknown option --hots (--no-config ignores the file)\n"
        )
    }

    @Test("a config file others can read gets a warning")
    func readableByOthers() async throws {
        let broker = try Mosquitto()
        let home = try ConfigHome(
            ["--host \(broker.host)", "--port \(broker.port)", "--username alice", "--password alice-secret"],
            mode: 0o644
        )
        let result = try await runTool(.publisher, ["-t", uniqueTopic(), "-m", "hi"], home: home)
        #expect(result.code == 0)
        #expect(result.stderr == "publisher: warning: \(home.file) can be read by other users; chmod 600 it.\n")
    }

    /// Every long option of either tool, its subcommands included, as the tool lists them (`listener listen:
    /// --all --count/-C= ...`, `=` for an option that takes a value).
    func longOptions(of tool: Tool) async throws -> [(name: String, flag: Bool)] {
        let dump = try ChildProcess(tool.path, ["--experimental-dump-options"], stdinIsNull: true)
        #expect(try await dump.wait() == 0)
        var found: [(String, Bool)] = []
        for line in dump.stdout.split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
            for option in parts.count == 2 ? parts[1].split(separator: " ") : [] {
                let long = option.dropFirst(2).prefix { $0 != "/" && $0 != "=" }
                found.append((String(long), !option.hasSuffix("=")))
            }
        }
        return found
    }

    @Test("every option of one tool in the file is accepted by the other (ConfigFile.optionsOfEitherTool is complete)")
    func sharedFile() async throws {
        for (tool, other) in [(Tool.listener, Tool.publisher), (.publisher, .listener)] {
            let options = try await longOptions(of: tool)
            #expect(options.count > 15)
            // All of them in one file: the first one the other tool did not know would be named. An invalid
            // port makes the tool stop before connecting, once the file has been read.
            let home = try ConfigHome(options.map { $0.flag ? "--\($0.name)" : "--\($0.name) 1" })
            let result = try await runTool(other, ["-p", "0"], home: home)
            #expect(
                !result.stderr.contains("unknown option"),
                "\(other.rawValue) refuses one of \(tool.rawValue)'s options"
            )
            #expect(result.code == 64)
        }
    }
}
