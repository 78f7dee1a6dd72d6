import ChatProtocol
import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

@Suite("listener and publisher as processes", .serialized, .timeLimit(.minutes(3)))
struct CommandLineTests {
    @Test("publisher to listener: unicode, quotes, CRLF, empty lines skipped, 64 KiB lines")
    func roundTrip() async throws {
        let broker = try Mosquitto()
        let topic = uniqueTopic()
        let long = String(repeating: "x", count: 65_536)
        let listener = try await broker.startListener(as: "bob", ["-t", topic, "-C", "5"])
        let input = "hello\r\nsnow ☃ and \"quotes\" and \\backslash\n\n  spaced  \n\(long)\nlast line without newline"
        let sent = try await broker.run(.publisher, as: "alice", ["-t", topic], input: input)
        #expect(sent.code == 0)
        #expect(sent.stderr == "")
        #expect(try await listener.wait() == 0)
        #expect(
            withoutTimes(listener.stdout) == [
                "<alice> hello", "<alice> snow ☃ and \"quotes\" and \\backslash", "<alice>   spaced  ",
                "<alice> " + String(repeating: "x", count: TerminalText.defaultLimit) + "… [61440 more bytes]",
                "<alice> last line without newline",
            ]
        )
    }

    @Test("--format json carries the full text, parsed back exactly")
    func json() async throws {
        let broker = try Mosquitto()
        let topic = uniqueTopic()
        let long = String(repeating: "y", count: 65_536)
        let listener = try await broker.startListener(as: "bob", ["-t", topic, "-C", "2", "--format", "json"])
        #expect(try await broker.run(.publisher, as: "alice", ["-t", topic], input: "\(long)\nsnow ☃\n").code == 0)
        #expect(try await listener.wait() == 0)
        let lines = try jsonLines(listener.stdout)
        #expect(lines.count == 2)
        #expect(lines.map { $0["message"] as? String } == [long, "snow ☃"])
        #expect(lines.allSatisfy { $0["topic"] as? String == topic && $0["type"] as? String == "message" })
        #expect(lines.allSatisfy { $0["from"] as? String == "alice" && $0["retained"] as? Bool == false })
        #expect(lines.allSatisfy { ($0["time"] as? String).flatMap(ChatTimestamp.init(rfc3339:)) != nil })
    }

    @Test("-m sends one message, --notice one notice; the listener shows both")
    func oneShot() async throws {
        let broker = try Mosquitto()
        let topic = uniqueTopic()
        let listener = try await broker.startListener(as: "bob", ["-t", topic, "-C", "2"])
        #expect(try await broker.run(.publisher, as: "alice", ["-t", topic, "-m", "hi bob"]).code == 0)
        #expect(try await broker.run(.publisher, as: "alice", ["-t", topic, "--notice", "alice is away"]).code == 0)
        #expect(try await listener.wait() == 0)
        #expect(withoutTimes(listener.stdout) == ["<alice> hi bob", "* alice is away"])
    }

    @Test("several topics are shown with their topic")
    func severalTopics() async throws {
        let broker = try Mosquitto()
        let (first, second) = (uniqueTopic(), uniqueTopic())
        let listener = try await broker.startListener(as: "bob", ["-t", first, "-t", second, "-C", "2"])
        #expect(try await broker.run(.publisher, as: "alice", ["-t", first, "-m", "one"]).code == 0)
        #expect(try await broker.run(.publisher, as: "alice", ["-t", second, "-m", "two"]).code == 0)
        #expect(try await listener.wait() == 0)
        #expect(withoutTimes(listener.stdout) == ["[\(first)] <alice> one", "[\(second)] <alice> two"])
    }

    @Test(
        "both tools give libpaho their own usleep and poll, which cut Paho's start-up waits",
        arguments: [Tool.listener, .publisher]
    )
    func pahoWaitsExported(tool: Tool) async throws {
        // The dynamic symbol table is what libpaho's calls are bound against; without the exports they reach
        // libc, and a one-shot publish takes 23 ms instead of 14, or 120 ms in about half the runs.
        let readelf = try ChildProcess("/usr/bin/readelf", ["--dyn-syms", "--wide", tool.path], stdinIsNull: true)
        #expect(try await readelf.wait() == 0)
        for name in ["usleep", "poll"] {
            let entries = readelf.stdout.split(separator: "\n").filter {
                $0.split(separator: " ").last == Substring(name)
            }
            #expect(entries.count == 1, "\(name)")
            #expect(
                entries.first.map { $0.contains(" FUNC ") && $0.contains(" GLOBAL ") && !$0.contains(" UND ") } == true,
                "\(name)"
            )
        }
    }

    @Test("without TLS the tools load Paho's build without it, and no OpenSSL")
    func noTLSNoOpenSSL() async throws {
        let broker = try Mosquitto()
        let topic = uniqueTopic()
        let listener = try await broker.startListener(as: "bob", ["-t", topic, "-C", "1"])
        let libraries = try mappedLibraries(of: listener.pid)
        #expect(libraries.contains { $0.hasPrefix("libpaho-mqtt3a.so") }, "\(libraries.sorted())")
        #expect(!libraries.contains { $0.hasPrefix("libpaho-mqtt3as.so") }, "\(libraries.sorted())")
        #expect(!libraries.contains { $0.hasPrefix("libcrypto") || $0.hasPrefix("libssl") }, "\(libraries.sorted())")
        #expect(try await broker.run(.publisher, as: "alice", ["-t", topic, "-m", "plain"]).code == 0)
        #expect(try await listener.wait() == 0)
        #expect(withoutTimes(listener.stdout) == ["<alice> plain"])
    }

    /// Runs `tool` in a mount namespace of its own where Paho's build with TLS is an empty file (the machine's
    /// library is not touched): as if libpaho-mqtt3as were broken or missing.
    private func withoutTLSBuild(_ tool: Tool, _ arguments: [String]) async throws -> ChildProcess {
        let script = #"""
            library="$(ldconfig -p | sed -n 's/.*libpaho-mqtt3as\.so\.1 .*=> //p' | head -1)"
            mount --bind /dev/null "$library" && exec "$@"
            """#
        let child = try ChildProcess(
            "/usr/bin/unshare",
            ["--mount", "sh", "-c", script, "sh", tool.path] + arguments,
            stdinIsNull: true
        )
        _ = try await child.wait()
        return child
    }

    @Test(
        "Paho's TLS build broken: a plain publish still works (it is never loaded), a TLS one says so in one line",
        .enabled(if: getuid() == 0, "a mount namespace needs root")
    )
    func tlsBuildMissing() async throws {
        let broker = try Mosquitto()
        let topic = uniqueTopic()
        let plain = try await withoutTLSBuild(.publisher, broker.flags("alice") + ["-t", topic, "-m", "plain"])
        #expect(plain.exitCodeIfExited == 0, "\(plain.stderr)")
        #expect(plain.stderr == "")
        let tls = try await withoutTLSBuild(.publisher, broker.flags("alice") + ["--tls", "-t", topic, "-m", "tls"])
        #expect(tls.exitCodeIfExited == 1)
        #expect(tls.stderr.hasPrefix("publisher: Cannot load the Paho MQTT library: "), "\(tls.stderr)")
        #expect(tls.stderr.hasSuffix("libpaho-mqtt3as.so.1: file too short.\n"), "\(tls.stderr)")
        #expect(tls.stderr.filter { $0 == "\n" }.count == 1, "\(tls.stderr)")
        // Every path that connects says it the same way, with the same exit code: listening, a chat command, a
        // query of the broker's state (these two once said it as a usage error, exit 64).
        for (tool, arguments) in [
            (Tool.listener, ["-t", topic, "-C", "1"]), (.publisher, ["join", "rust"]), (.publisher, ["rooms"]),
            (.listener, ["who"]),
        ] {
            let other = try await withoutTLSBuild(tool, arguments + broker.flags("alice") + ["--tls"])
            #expect(other.exitCodeIfExited == 1, "\(tool) \(arguments)")
            #expect(other.stderr == tls.stderr.replacingOccurrences(of: "publisher: ", with: "\(tool): "))
        }
    }

    @Test("interop: mosquitto_pub payloads in, mosquitto_sub reads what publisher sends")
    func interop() async throws {
        let broker = try Mosquitto()
        let topic = uniqueTopic()
        let listener = try await broker.startListener(as: "bob", ["-t", topic, "-C", "3"])
        let pythonStyle = #"{"type": "message", "from": "py", "message": "from python \u00e9"}"#
        for payload in [
            pythonStyle, #"{"type":"info","from":"sys","notice":"sys restarted"}"#, "User alice timed out.\n",
        ] {
            try Mosquitto.run("/usr/bin/mosquitto_pub", broker.mosquittoFlags("alice") + ["-t", topic, "-m", payload])
        }
        #expect(try await listener.wait() == 0)
        #expect(
            withoutTimes(listener.stdout) == [
                "<py> from python é", "* sys restarted", "[raw] User alice timed out.\\n",
            ]
        )

        // stdbuf: mosquitto_sub's stdio buffers its -d lines when stdout is a pipe.
        let subscriber = try ChildProcess(
            "/usr/bin/stdbuf",
            ["-oL", "/usr/bin/mosquitto_sub"] + broker.mosquittoFlags("bob") + ["-t", topic, "-C", "1", "-d"],
            stdinIsNull: true
        )
        guard await subscriber.waitForOutput("SUBACK") else { throw TestFailure("mosquitto_sub did not subscribe") }
        #expect(try await broker.run(.publisher, as: "alice", ["-t", topic, "-m", "to \"C\" ü"]).code == 0)
        #expect(try await subscriber.wait() == 0)
        let line = try #require(subscriber.stdout.split(separator: "\n").last { $0.hasPrefix("{") })
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        #expect(object["type"] as? String == "message")
        #expect(object["from"] as? String == "alice")
        #expect(object["message"] as? String == "to \"C\" ü")
        #expect(line.hasPrefix(#"{"type":"message","from":"alice","message":"to \"C\" ü","time":""#))
    }

    @Test("hostile payloads are shown escaped, exactly")
    func hostile() async throws {
        let broker = try Mosquitto()
        let topic = uniqueTopic()
        let payloads: [(String, String)] = [
            (
                #"{"type":"message","from":"eve","message":"\u001b[2J\u001b]0;pwned\u0007 hi"}"#,
                "<eve> \\e[2J\\e]0;pwned\\x07 hi"
            ),
            (#"{"type":"message","from":"eve\u001b[31m","message":"x\nfake line"}"#, "<eve\\e[31m> x\\nfake line"),
            (
                #"{"type":"message","from":"eve","message":"abc\u202edcba \u0085 \u009b1m"}"#,
                "<eve> abc\\u{202e}dcba \\x85 \\x9b1m"
            ),
            ("\u{1B}]52;c;aGVsbG8=\u{07}not json", "[raw] \\e]52;c;aGVsbG8=\\x07not json"),
            (#"{"type":"message","from":"","message":"empty name"}"#, "<?> empty name"),
        ]
        let listener = try await broker.startListener(as: "bob", ["-t", topic, "-C", String(payloads.count + 1)])
        for (payload, _) in payloads {
            try Mosquitto.run("/usr/bin/mosquitto_pub", broker.mosquittoFlags("alice") + ["-t", topic, "-m", payload])
        }
        // Invalid UTF-8, from a file since argv cannot carry it.
        let file = broker.directory.appendingPathComponent("invalid.bin")
        try Data([0x68, 0x69, 0xFF, 0xC3, 0x28, 0x1B, 0x5B, 0x41]).write(to: file)
        try Mosquitto.run("/usr/bin/mosquitto_pub", broker.mosquittoFlags("alice") + ["-t", topic, "-f", file.path])
        #expect(try await listener.wait() == 0)
        #expect(withoutTimes(listener.stdout) == payloads.map(\.1) + ["[raw] hi\\xff\\xc3(\\e[A"])
        #expect(!listener.stdoutBytes.contains(0x1B))
    }

    @Test("--count and --timeout: exit 0 on time without a count, 75 when the count was not reached")
    func countAndTimeout() async throws {
        let broker = try Mosquitto()
        let topic = uniqueTopic()
        let quiet = try await broker.run(.listener, as: "bob", ["-t", topic, "-W", "0.5"])
        #expect(quiet.code == 0)
        #expect(quiet.stdout == "")
        #expect(quiet.stderr == "listener: listening on \(topic) at 127.0.0.1:\(broker.port) as bob.\n")
        let short = try await broker.run(.listener, as: "bob", ["-t", topic, "-W", "0.5", "-C", "2", "--quiet"])
        #expect(short.code == 75)
        #expect(short.stderr == "listener: timed out after 0 of 2 messages.\n")
    }

    @Test(
        "bad flags exit 64 with one line",
        arguments: [
            (
                Tool.publisher, ["-t", "chat/#", "-m", "x"],
                "publisher: The topic \"chat/#\" contains a wildcard (+ or #); publish needs an exact topic. (see publisher --help)\n"
            ),
            (Tool.publisher, ["-t", "", "-m", "x"], "publisher: The topic is empty. (see publisher --help)\n"),
            (
                Tool.listener, ["-p", "0"],
                "listener: Invalid port 0: it must be between 1 and 65535. (see listener --help)\n"
            ),
            (
                Tool.listener, ["-t", "chat/#/x"],
                "listener: The topic filter \"chat/#/x\" is invalid: # must be the last level on its own. (see listener --help)\n"
            ),
            (
                Tool.listener, ["--session"],
                "listener: --session needs a fixed client id (-i), so the broker knows it is you again. (see listener --help)\n"
            ),
            (Tool.listener, ["-q", "3"], "listener: Invalid QoS 3: it must be 0, 1 or 2. (see listener --help)\n"),
            // The command line itself, as the tools' parser reads it.
            (Tool.listener, ["--colour"], "listener: Unknown option --colour. (see listener --help)\n"),
            (
                Tool.listener, ["-C", "ten"],
                "listener: Invalid value ten for --count <count>: a whole number is needed. (see listener --help)\n"
            ),
            (Tool.publisher, ["-u", "p07", "join"], "publisher: Missing argument <room>. (see publisher --help)\n"),
            (
                Tool.publisher, ["group"],
                "publisher: group needs a subcommand: create, join, approve, reject, remove, leave. (see publisher --help)\n"
            ),
            (
                Tool.publisher, ["--generate-completion-script", "tcsh"],
                "publisher: Unknown shell tcsh: use bash, zsh or fish.\n"
            ),
        ]
    )
    func usage(tool: Tool, arguments: [String], expected: String) async throws {
        let result = try ChildProcess(tool.path, arguments, stdinIsNull: true)
        #expect(try await result.wait() == 64)
        #expect(result.stderr == expected)
        #expect(result.stdout == "")
    }

    @Test("short options grouped before a subcommand: `-dp PORT join rust` works as `-d -p PORT join rust` does")
    func groupedShortOptions() async throws {
        let broker = try Mosquitto()
        let login = ["-h", broker.host, "-u", "alice", "-P", Mosquitto.users["alice"] ?? "", "--no-config"]
        for (spelling, room) in [(["-dp", String(broker.port)], "rust"), (["-d", "-p", String(broker.port)], "go")] {
            let join = try ChildProcess(Tool.publisher.path, login + spelling + ["join", room], stdinIsNull: true)
            #expect(try await join.wait() == 0, "\(spelling): \(join.stderr)")
            #expect(join.stderr.hasPrefix("publisher: connected to \(broker.host):\(broker.port) as alice-"))
            #expect(join.stderr.filter { $0 == "\n" }.count == 1)
        }
        let rooms = try await broker.run(.publisher, as: "alice", command: ["rooms"])
        #expect(
            rooms.stdout
                == "#general 1 member, 0 online: alice (you are in it)\n#go 1 member, 0 online: alice (you are in it)\n"
                + "#rust 1 member, 0 online: alice (you are in it)\n"
        )
    }

    @Test("an unreachable broker exits 69 with a hint, at once")
    func unreachable() async throws {
        let port = try Mosquitto.freePort()
        for tool in [Tool.listener, .publisher] {
            let started = ContinuousClock.now
            let process = try ChildProcess(
                tool.path,
                ["-h", "127.0.0.1", "-p", String(port), "-m", "x"].filter {
                    tool == .publisher || ($0 != "-m" && $0 != "x")
                },
                stdinIsNull: true
            )
            #expect(try await process.wait() == 69)
            // About 0.2 s alone; the bound leaves room for CI running every suite at once on 2 cores.
            #expect(ContinuousClock.now - started < .seconds(10))
            #expect(
                process.stderr
                    == "\(tool.rawValue): Cannot connect to 127.0.0.1:\(port): connection refused. Is mosquitto running? Start one with: mosquitto -c mosquitto.conf\n"
            )
        }
    }

    @Test("bash completes subcommands, options and their values from the declarations the parser reads")
    func bashCompletion() async throws {
        var script = ""
        for tool in [Tool.listener, .publisher] {
            let generated = try ChildProcess(tool.path, ["--generate-completion-script", "bash"], stdinIsNull: true)
            #expect(try await generated.wait() == 0)
            script += generated.stdout
        }
        // What bash does on TAB: the line's words, the cursor's word, then the function `complete` names.
        let driver =
            script + """
                complete -p listener publisher
                comp() {
                    read -ra COMP_WORDS <<<"$1"
                    [[ $1 == *' ' ]] && COMP_WORDS+=('')
                    COMP_CWORD=$((${#COMP_WORDS[@]} - 1)) COMP_LINE=$1 COMP_POINT=${#1} COMPREPLY=()
                    "_${COMP_WORDS[0]}" "${COMP_WORDS[0]}" "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
                    echo "${COMPREPLY[*]}"
                }
                comp 'listener --for'
                comp 'listener --format '
                comp 'listener -q '
                comp 'listener w'
                comp 'publisher group ap'
                comp 'publisher join --ca'
                comp 'publisher -u bob gr'
                """
        let bash = try ChildProcess("/bin/bash", ["-c", driver], stdinIsNull: true)
        #expect(try await bash.wait() == 0)
        #expect(bash.stderr == "")
        #expect(
            bash.stdout == """
                complete -o filenames -F _listener listener
                complete -o filenames -F _publisher publisher
                --format
                text json
                0 1 2
                who
                approve
                --cafile
                group groups

                """
        )
    }

    @Test("a wrong password exits 77; a publish the ACL refuses exits 77")
    func notAuthorized() async throws {
        let broker = try Mosquitto()
        let wrong = try ChildProcess(
            Tool.listener.path,
            ["-h", broker.host, "-p", String(broker.port), "-u", "bob", "-P", "nope", "-t", "chat"],
            stdinIsNull: true
        )
        #expect(try await wrong.wait() == 77)
        #expect(
            wrong.stderr
                == "listener: 127.0.0.1:\(broker.port) refused user bob: not authorized. Check -u and the password (-P, --password-file or MQTT_PASSWORD).\n"
        )
        let refused = try await broker.run(.publisher, as: "alice", ["-t", "announce", "-m", "hi"])
        #expect(refused.code == 77)
        // mosquitto may also close the connection after refusing; the last line is the verdict.
        #expect(refused.stderr.hasSuffix("publisher: Not authorized to publish to announce as alice.\n"))
        let piped = try await broker.run(.publisher, as: "alice", ["-t", "announce"], input: "one\ntwo\n")
        #expect(piped.code == 77)
        #expect(piped.stderr.hasSuffix("publisher: Not authorized to publish to announce as alice.\n"))
    }

    @Test("a refused subscription exits 77 naming the topic and the user, as an ACL matter", arguments: ["5", "311"])
    func subscriptionRefused(version: String) async throws {
        let broker = try Mosquitto()
        let proxy = try TCPProxy(upstreamPort: broker.port, refuseSubscriptions: true)
        defer { proxy.stop() }
        let arguments = broker.flags("bob", via: proxy) + ["-V", version, "-t", "chat/secret"]
        let listener = try ChildProcess(Tool.listener.path, arguments, stdinIsNull: true)
        #expect(try await listener.wait() == 77)
        let reason =
            version == "5"
            ? ": not authorized by the broker's ACL (an access rule, not the password)."
            : " (MQTT 3.1.1 gives no reason; usually the broker's ACL, not the password)."
        #expect(
            listener.stderr
                == "listener: 127.0.0.1:\(proxy.port) refused the subscription to chat/secret for user bob\(reason)\n"
        )
    }

    @Test("a broker that closes the connection on an MQTT 5 CONNECT: 3.1.1 with a note; with -V 5 exit 69")
    func brokerClosesMQTT5() async throws {
        let broker = try Mosquitto()
        let proxy = try TCPProxy(upstreamPort: broker.port, mqtt5: .close)
        defer { proxy.stop() }
        let topic = uniqueTopic()
        let flags = broker.flags("alice", via: proxy) + ["-t", topic, "-m", "hi"]
        let sent = try ChildProcess(Tool.publisher.path, flags, stdinIsNull: true)
        #expect(try await sent.wait() == 0)
        #expect(
            sent.stderr
                == "publisher: note: 127.0.0.1:\(proxy.port) closed the connection after an MQTT 5 CONNECT; using MQTT 3.1.1 (-V 311 skips trying 5).\n"
        )
        let strict = try ChildProcess(Tool.publisher.path, flags + ["-V", "5"], stdinIsNull: true)
        #expect(try await strict.wait() == 69)
        #expect(
            strict.stderr
                == "publisher: 127.0.0.1:\(proxy.port) closed the connection before answering the MQTT 5 CONNECT. Is that port an MQTT broker's? Its log says why it closed the connection.\n"
        )
        let old = try ChildProcess(Tool.publisher.path, flags + ["-V", "311"], stdinIsNull: true)
        #expect(try await old.wait() == 0)
        #expect(old.stderr == "")
    }

    @Test("a 3.1.1 broker that closes the connection on a publish it refuses: exit 75, never 0")
    func publishRefusedByClosing() async throws {
        // RabbitMQ refuses a publish its topic permissions forbid this way. The publisher resends it after each
        // reconnect; it once exited 0 between a failed attempt and the next, reporting it delivered.
        let broker = try Mosquitto()
        let proxy = try TCPProxy(upstreamPort: broker.port, closeOnPublishTo: "chat/raw/forbidden")
        defer { proxy.stop() }
        let arguments = broker.flags("alice", via: proxy) + ["-V", "311", "-t", "chat/raw/forbidden", "-W", "3"]
        for input in [nil, "one\ntwo\n"] {
            let sent = try ChildProcess(Tool.publisher.path, arguments + (input == nil ? ["-m", "hi"] : []))
            if let input {
                sent.write(input)
                sent.closeInput()
            }
            #expect(try await sent.wait() == 75)
            let count = input == nil ? "1 message was" : "2 messages were"
            let verdict = "publisher: \(count) not delivered: no acknowledgement from the broker within 3.0 s.\n"
            #expect(sent.stderr.hasSuffix(verdict))
        }
    }

    @Test("a broker that never answers an MQTT 5 CONNECT: 3.1.1 after 3 s, with a note")
    func brokerIgnoresMQTT5() async throws {
        let broker = try Mosquitto()
        let proxy = try TCPProxy(upstreamPort: broker.port, mqtt5: .ignore)
        defer { proxy.stop() }
        let topic = uniqueTopic()
        let listener = try await broker.startListener(as: "bob", ["-t", topic, "-C", "1"])
        let started = ContinuousClock.now
        let arguments = broker.flags("alice", via: proxy) + ["-t", topic, "-m", "late"]
        let sent = try ChildProcess(Tool.publisher.path, arguments, stdinIsNull: true)
        #expect(try await sent.wait() == 0)
        let elapsed = ContinuousClock.now - started
        // The fallback timeout is 3 s; the upper bound leaves room for CI load (it was 12 s before).
        #expect(elapsed >= .seconds(3) && elapsed < .seconds(8), "\(elapsed)")
        #expect(
            sent.stderr
                == "publisher: note: 127.0.0.1:\(proxy.port) did not answer an MQTT 5 CONNECT; using MQTT 3.1.1 (-V 311 skips trying 5).\n"
        )
        #expect(try await listener.wait() == 0)
        #expect(withoutTimes(listener.stdout) == ["<alice> late"])
    }

    @Test("passwords from --password-file and MQTT_PASSWORD; a file others can read is warned about")
    func passwords() async throws {
        let broker = try Mosquitto()
        let topic = uniqueTopic()
        let base = ["-h", broker.host, "-p", String(broker.port), "-u", "alice", "-t", topic, "-m", "x"]
        let file = broker.directory.appendingPathComponent("pass").path
        try "alice-secret\n".write(toFile: file, atomically: true, encoding: .utf8)
        chmod(file, 0o600)
        let fromFile = try ChildProcess(Tool.publisher.path, base + ["--password-file", file], stdinIsNull: true)
        #expect(try await fromFile.wait() == 0)
        #expect(fromFile.stderr == "")
        chmod(file, 0o644)
        let readable = try ChildProcess(Tool.publisher.path, base + ["--password-file", file], stdinIsNull: true)
        #expect(try await readable.wait() == 0)
        #expect(readable.stderr == "publisher: warning: \(file) can be read by other users; chmod 600 it.\n")
        let fromEnvironment = try ChildProcess(
            Tool.publisher.path,
            base,
            environment: ["MQTT_PASSWORD": "alice-secret"],
            stdinIsNull: true
        )
        #expect(try await fromEnvironment.wait() == 0)
        let wrongEnvironment = try ChildProcess(
            Tool.publisher.path,
            base,
            environment: ["MQTT_PASSWORD": "hunter2"],
            stdinIsNull: true
        )
        #expect(try await wrongEnvironment.wait() == 77)
        #expect(!wrongEnvironment.stderr.contains("hunter2"))
    }

    @Test("-L URL gives host, port, user, password and topic")
    func url() async throws {
        let broker = try Mosquitto()
        let topic = uniqueTopic()
        let listener = try await broker.startListener(as: "bob", ["-t", topic, "-C", "1", "--format", "json"])
        let url = "mqtt://alice:alice-secret@127.0.0.1:\(broker.port)/\(topic)"
        let sent = try ChildProcess(Tool.publisher.path, ["-L", url, "-m", "via url"], stdinIsNull: true)
        #expect(try await sent.wait() == 0)
        #expect(try await listener.wait() == 0)
        let line = try #require(try jsonLines(listener.stdout).first)
        #expect(line["from"] as? String == "alice")
        #expect(line["message"] as? String == "via url")
    }

    @Test("the publisher at a terminal: prompt, join and leave notices, /quit")
    func interactive() async throws {
        let broker = try Mosquitto()
        let topic = uniqueTopic()
        let listener = try await broker.startListener(as: "bob", ["-t", topic, "-C", "4"])
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent(
            "Support/pty_run.py"
        ).path
        let session = try ChildProcess(
            "/usr/bin/python3",
            [script, Tool.publisher.path] + broker.flags("alice") + ["-t", topic],
            stdinIsNull: false
        )
        session.write("hello from a tty\nsecond\n/quit\n")
        session.closeInput()
        #expect(try await session.wait() == 0)
        #expect(session.stdout.contains("alice> "))
        #expect(try await listener.wait() == 0)
        #expect(
            withoutTimes(listener.stdout) == [
                "* alice joined", "<alice> hello from a tty", "<alice> second", "* alice left",
            ]
        )
    }
}

extension Mosquitto {
    /// The same user's flags for mosquitto_pub/mosquitto_sub.
    func mosquittoFlags(_ user: String) -> [String] {
        ["-h", host, "-p", String(port), "-u", user, "-P", Mosquitto.users[user] ?? "", "-q", "1"]
    }
}

@Suite("interrupting the publisher", .serialized, .timeLimit(.minutes(2)))
struct InterruptTests {
    @Test("Ctrl-C with messages not acknowledged: says how many and exits 75; with none pending: exits 0 at once")
    func interrupt() async throws {
        let broker = try Mosquitto()
        let topic = uniqueTopic()
        let seen = try await broker.startListener(as: "bob", ["-t", topic, "-C", "2"])
        let proxy = try TCPProxy(upstreamPort: broker.port)
        defer { proxy.stop() }
        let idle = try ChildProcess(
            Tool.publisher.path,
            broker.flags("alice", via: proxy) + ["-t", topic, "-d"],
            environment: broker.machine
        )
        #expect(await idle.waitForOutput("connected to", onStderr: true))
        idle.write("one\ntwo\n")
        #expect(try await seen.wait() == 0)
        // Both acknowledgements are in alice's socket, ahead of the Ctrl-C (mosquitto may pass a message on to
        // bob before it acknowledges it).
        #expect(await waitUntil { proxy.brokerPubacks == 2 }, "\(proxy.brokerPubacks)")
        idle.signal(SIGINT)
        #expect(try await idle.wait(timeout: .seconds(5)) == 0)
        #expect(!idle.stderr.contains("not delivered"))

        let stuck = try ChildProcess(
            Tool.publisher.path,
            broker.flags("alice", via: proxy) + ["-t", topic, "-d"],
            environment: broker.machine
        )
        #expect(await stuck.waitForOutput("connected to", onStderr: true))
        // The broker stops answering (SIGSTOP): nothing is acknowledged any more.
        broker.process?.signal(SIGSTOP)
        defer { broker.process?.signal(SIGCONT) }
        stuck.write("three\nfour\nfive\n")
        // Sent, so counted as waiting for the broker's answer (the first two were the idle publisher's).
        #expect(await waitUntil { proxy.clientPublishes >= 5 })
        #expect(proxy.clientPublishes == 5)
        stuck.signal(SIGTERM)
        #expect(try await stuck.wait(timeout: .seconds(5)) == 75)
        #expect(
            stuck.stderr.hasSuffix(
                "publisher: interrupted: 3 messages were not delivered (not acknowledged by the broker).\n"
            )
        )
    }
}
