import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// scripts/workshop driven as an instructor would, on a free port, with participants set up by their cards.
final class Workshop: @unchecked Sendable {
    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("scripts/workshop").path

    let root = FileManager.default.temporaryDirectory.appendingPathComponent("mqtt-chat-workshop-\(UUID().uuidString)")
    var directory: String { root.appendingPathComponent("workshop").path }
    let port: Int

    init() throws {
        port = try Mosquitto.freePort()
        // Started as root, mosquitto runs as "mosquitto" and must reach the workshop folder inside this one.
        try FileManager.default.createDirectory(
            at: root,
            withIntermediateDirectories: true,
            attributes: [.posixPermissions: 0o755]
        )
    }

    /// Runs `scripts/workshop COMMAND ... --dir DIR`.
    func run(_ arguments: [String]) async throws -> (code: Int32, stdout: String, stderr: String) {
        let process = try ChildProcess(
            "/usr/bin/python3",
            [Self.script] + arguments + ["--dir", directory],
            stdinIsNull: true
        )
        let code = try await process.wait(timeout: .seconds(30))
        return (code, process.stdout, process.stderr)
    }

    /// name -> password from credentials.csv.
    func credentials() throws -> [String: String] {
        let text = try String(contentsOfFile: directory + "/credentials.csv", encoding: .utf8)
        let lines = text.split(separator: "\n")
        #expect(lines.first == "name,password")
        var result: [String: String] = [:]
        for line in lines.dropFirst() {
            let parts = line.split(separator: ",")
            result[String(parts[0])] = String(parts[1])
        }
        return result
    }

    /// The participant's one setup line from the text sheet, run in a fresh home folder; returns that home.
    func setUp(_ name: String) async throws -> String {
        let sheet = try String(contentsOfFile: directory + "/sheet.txt", encoding: .utf8).split(separator: "\n")
        guard let index = sheet.firstIndex(of: Substring("name:     \(name)")) else {
            throw TestFailure("no card for \(name)")
        }
        let line = sheet[index + 3].trimmingCharacters(in: .whitespaces)
        let home = root.appendingPathComponent("home-\(name)").path
        try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true)
        let shell = try ChildProcess(
            "/bin/sh",
            ["-c", line],
            environment: ["HOME": home, "XDG_CONFIG_HOME": ""],
            stdinIsNull: true
        )
        #expect(try await shell.wait() == 0)
        #expect(shell.stdout == "mqtt-chat is set up for \(name)\n")
        return home
    }

    /// A tool run as the instructor, with the admin config the workshop folder holds (no flags).
    func admin(_ tool: Tool, _ arguments: [String]) throws -> ChildProcess {
        try ChildProcess(
            tool.path,
            arguments,
            environment: [
                "XDG_CONFIG_HOME": directory + "/admin", "MQTT_PASSWORD": "",
                "XDG_RUNTIME_DIR": root.appendingPathComponent("run-admin").path,
            ],
            stdinIsNull: true
        )
    }

    var pid: pid_t? {
        (try? String(contentsOfFile: directory + "/mosquitto.pid", encoding: .utf8))
            .flatMap { pid_t($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
    }

    deinit {
        // Only this workshop's broker, by the PID it wrote, and only while that PID is still a mosquitto running
        // this workshop's config (a PID whose process has ended can be reused at once by another test's).
        if let pid, let argv = try? String(contentsOfFile: "/proc/\(pid)/cmdline", encoding: .utf8),
            argv.contains("mosquitto"), argv.contains(directory)
        {
            kill(pid, SIGKILL)
        }
        try? FileManager.default.removeItem(at: root)
    }
}

/// Whether `pid` has ended (no such process, or a zombie its new parent has not reaped yet).
func isGone(_ pid: pid_t) -> Bool {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8) else { return true }
    // The state follows the command name in parentheses: "1234 (mosquitto) Z ...".
    return stat.split(separator: ")").last?.split(separator: " ").first == "Z"
}

/// A tool run as a participant: no flags but what is given, HOME set to the participant's (their own machine:
/// the listener's session lock lives under it too).
func participant(_ tool: Tool, home: String, _ arguments: [String]) throws -> ChildProcess {
    try ChildProcess(
        tool.path,
        arguments,
        environment: ["HOME": home, "XDG_CONFIG_HOME": "", "MQTT_PASSWORD": "", "XDG_RUNTIME_DIR": home + "/run"],
        stdinIsNull: true
    )
}

@Suite("scripts/workshop", .serialized, .timeLimit(.minutes(3)))
struct WorkshopTests {
    @Test(
        "start, two participants with their cards only (room, private), projector, status, --all refused, add, remove, stop"
    )
    func workshop() async throws {
        let workshop = try Workshop()
        let started = try await workshop.run([
            "start", "--participants", "5", "--port", String(workshop.port), "--host", "127.0.0.1",
        ])
        #expect(started.code == 0, "\(started.stderr)")
        #expect(started.stdout.contains("Listening on every interface, port \(workshop.port) (plain MQTT)"))
        #expect(started.stdout.contains("Stop it: scripts/workshop stop --dir \(workshop.directory)"))
        let passwords = try workshop.credentials()
        #expect(passwords.keys.sorted() == ["p01", "p02", "p03", "p04", "p05"])
        #expect(Set(passwords.values).count == 5)
        #expect(passwords.values.allSatisfy { $0.count == 16 && $0.allSatisfy { $0.isLetter || $0.isNumber } })
        for name in ["", "/credentials.csv", "/passwd", "/sheet.txt", "/admin.password"] {
            let mode =
                try FileManager.default.attributesOfItem(atPath: workshop.directory + name)[.posixPermissions] as? Int
            #expect(mode == (name.isEmpty ? 0o700 : 0o600), "\(name)")
        }
        // The hashed password file holds no password; no output of the script shows one.
        let hashed = try String(contentsOfFile: workshop.directory + "/passwd", encoding: .utf8)
        #expect(
            passwords.values.allSatisfy {
                !hashed.contains($0) && !started.stdout.contains($0) && !started.stderr.contains($0)
            }
        )

        // Two participants, set up by their cards' one line, chat with no flags at all.
        let p01 = try await workshop.setUp("p01")
        let p02 = try await workshop.setUp("p02")
        let config = try String(contentsOfFile: p01 + "/.config/mqtt-chat/config", encoding: .utf8)
        #expect(
            config
                == "--host 127.0.0.1\n--port \(workshop.port)\n--username p01\n--password-file \(p01)/.config/mqtt-chat/password\n"
        )
        #expect(
            try FileManager.default.attributesOfItem(atPath: p01 + "/.config/mqtt-chat/password")[.posixPermissions]
                as? Int == 0o600
        )
        // The projector: the admin's config from the workshop folder, every room, the room on each line.
        let projector = try workshop.admin(.listener, ["--all"])
        #expect(await projector.waitForOutput("listening on", timeout: .seconds(20), onStderr: true))
        #expect(projector.stderr == "listener: listening on every room at 127.0.0.1:\(workshop.port) as admin.\n")

        // p01 listens with no flags: #general, the rooms p01 joins, p01's private messages.
        let listener = try participant(.listener, home: p01, [])
        #expect(await listener.waitForOutput("listening on", timeout: .seconds(20), onStderr: true))
        #expect(
            listener.stderr
                == "listener: listening on #general and your private messages at 127.0.0.1:\(workshop.port) as p01.\n"
        )
        #expect(await projector.waitForOutput("* p01 is online"))
        let join = try participant(.publisher, home: p01, ["join", "lab"])
        #expect(try await join.wait() == 0)
        #expect(await listener.waitForOutput("* p01 joined #lab"))
        #expect(await projector.waitForOutput("* p01 joined #lab"))

        // p02 writes in a room, in #general (the default) and privately to p01, with no connection flags.
        for (arguments, seen) in [
            (["--room", "lab", "-m", "hello lab"], "hello lab"), (["-m", "hello everyone"], "hello everyone"),
            (["--to", "p01", "-m", "just for you"], "just for you"),
        ] {
            let sent = try participant(.publisher, home: p02, arguments)
            #expect(try await sent.wait() == 0)
            #expect(sent.stderr == "")
            #expect(await listener.waitForOutput(seen), "\(arguments)")
        }
        #expect(await projector.waitForOutput("hello everyone"))

        // status: who is online, through listener who as the admin (the projector is online too).
        let status = try await workshop.run(["status"])
        #expect(status.code == 0, "\(status.stderr)")
        #expect(status.stderr == "")
        #expect(
            status.stdout
                == "Broker running (pid \(try #require(workshop.pid))), port \(workshop.port), 5 participants.\n"
                + "Online (1 of 5): p01\nNot online: p02, p03, p04, p05\nAlso online: admin\n"
        )

        // --all is the admin's view: a participant is refused with one line (77).
        let refused = try participant(.listener, home: p02, ["--all"])
        #expect(try await refused.wait() == 77)
        #expect(
            refused.stderr
                == "listener: --all is the workshop host's view and needs the admin account: the broker does not let p02 act for others.\n"
        )
        #expect(refused.stdout == "")

        listener.signal(SIGTERM)
        #expect(try await listener.wait() == 0)
        #expect(
            withoutTimes(listener.stdout) == [
                "* p01 joined #lab", "#lab <p02> hello lab", "<p02> hello everyone",
                "[request] <p02> just for you (to accept: /accept p02; to block: /block p02)",
            ]
        )
        #expect(await projector.waitForOutput("* p01 went offline"))
        projector.signal(SIGTERM)
        #expect(try await projector.wait() == 0)
        // Every room with its name, arrivals and departures; nobody's private messages.
        #expect(
            withoutTimes(projector.stdout) == [
                "* p01 is online", "* p01 joined #lab", "#lab <p02> hello lab", "#general <p02> hello everyone",
                "* p01 went offline",
            ]
        )

        // A wrong password and an unknown name are refused (77).
        let wrong = try participant(.publisher, home: p02, ["-m", "x", "-P", "wrong-password"])
        #expect(try await wrong.wait() == 77)
        let unknown = try participant(.publisher, home: p02, ["-m", "x", "-u", "mallory"])
        #expect(try await unknown.wait() == 77)

        // Added while it runs: the new name logs in at once; removed: refused at once.
        #expect(try await workshop.run(["add", "dana"]).code == 0)
        let dana = try #require(try workshop.credentials()["dana"])
        let joined = try participant(.publisher, home: p02, ["-m", "hi", "-u", "dana", "-P", dana])
        #expect(try await joined.wait() == 0)
        #expect(try await workshop.run(["remove", "dana"]).code == 0)
        #expect(try workshop.credentials()["dana"] == nil)
        let removed = try participant(.publisher, home: p02, ["-m", "hi", "-u", "dana", "-P", dana])
        #expect(try await removed.wait() == 77)

        // A second start keeps every password already handed out.
        let again = try await workshop.run(["start", "--participants", "6"])
        #expect(again.code == 0, "\(again.stderr)")
        let after = try workshop.credentials()
        #expect(after.count == 6)
        #expect(passwords.allSatisfy { after[$0.key] == $0.value })

        // Stop: the broker is gone and the port is free.
        let pid = try #require(workshop.pid)
        let stopped = try await workshop.run(["stop"])
        #expect(stopped.code == 0)
        #expect(
            stopped.stdout
                == "Stopped the workshop's broker (pid \(pid)); its data and credentials stay in \(workshop.directory).\n"
        )
        #expect(isGone(pid))
        #expect(!Mosquitto.canConnect(port: workshop.port))
        let down = try await workshop.run(["status"])
        #expect(down.code == 69)
        #expect(down.stdout == "")
        #expect(
            down.stderr
                == "workshop: the workshop's broker is not running (\(workshop.directory); scripts/workshop start)\n"
        )
    }

    @Test("a bad name in --names is one line naming the file and line, exit 64, and nothing starts")
    func badNames() async throws {
        let workshop = try Workshop()
        let names = workshop.root.appendingPathComponent("names.txt").path
        try "anna\n# a comment\nJürgen\nbad/name\n".write(toFile: names, atomically: true, encoding: .utf8)
        let result = try await workshop.run(["start", "--names", names, "--port", String(workshop.port)])
        #expect(result.code == 64)
        #expect(result.stderr == "workshop: \(names):4: the name 'bad/name' contains '/' (no / + # in names)\n")
        #expect(workshop.pid == nil)
    }
}
