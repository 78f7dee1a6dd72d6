import ChatProtocol
import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The publisher's prompt at a terminal, driven on a pseudo-terminal with real key sequences (pty_run.py), and
/// checked by what was sent (a listener's lines) and what the terminal shows (pyte's screen).
@Suite(
    "the prompt at a terminal: editing, history, completion, lines printed while typing",
    .serialized,
    .timeLimit(.minutes(3))
)
struct PromptTests {
    static let ptyRun = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent(
        "Support/pty_run.py"
    ).path

    /// Runs `user`'s prompt on a pseudo-terminal with `script` (pty_run.py's directives), to its end.
    func session(
        _ broker: Mosquitto,
        _ user: String,
        _ script: [String],
        via proxy: TCPProxy? = nil,
        arguments: [String] = []
    ) throws -> ChildProcess {
        let session = try ChildProcess(
            "/usr/bin/python3",
            [Self.ptyRun, Tool.publisher.path] + broker.flags(user, via: proxy) + ["--quiet"] + arguments,
            environment: broker.machine
        )
        session.write(script.map { $0 + "\n" }.joined())
        session.closeInput()
        return session
    }

    /// A file for a screen dump in the broker's folder.
    func screenFile(_ broker: Mosquitto, _ name: String) -> String {
        broker.directory.appendingPathComponent("screen-\(name)").path
    }

    func screen(_ path: String) throws -> [String] {
        try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false)
            .map(String.init)
    }

    /// What `listener` showed, without times and without presence notices.
    func said(_ listener: ChildProcess) -> [String] {
        withoutTimes(listener.stdout).filter { !$0.hasSuffix(" is online") && !$0.hasSuffix(" went offline") }
    }

    @Test("editing in the middle of a UTF-8 line: arrows, Backspace, Delete, Home, End, Ctrl-A/E/K/U/W")
    func editing() async throws {
        let broker = try Mosquitto()
        let bob = try await broker.startChatListener(as: "bob")
        let shown = screenFile(broker, "editing")
        let session = try session(
            broker,
            "alice",
            [
                "@wait-for-screen alice #general> ",
                // wö|rld: Backspace takes ö, XY goes in; Home and Delete take h; End and ! finish it.
                #"@keys héllo wörld\x1b[D\x1b[D\x1b[D\x7fXY\x1b[H\x1b[3~\x1b[F!"#,
                "@wait-for-screen éllo wXYrld!",
                "@screen \(shown)",
                #"@keys \r"#,
                "@wait-for-screen alice #general> ",
                #"@keys one two three\x17four\r"#,
                #"@keys abc\x01\x0bxyz\x05 end\r"#,
                #"@keys drop this\x15kept\r"#,
                "@keys /quit\\r",
            ]
        )
        #expect(try await session.wait() == 0)
        #expect(await bob.waitForOutput("<alice> kept"))
        bob.signal(SIGTERM)
        #expect(try await bob.wait() == 0)
        #expect(said(bob) == ["<alice> éllo wXYrld!", "<alice> one two four", "<alice> xyz end", "<alice> kept"])
        #expect(try screen(shown).first == "alice #general> éllo wXYrld!")
    }

    @Test("history: Up recalls earlier lines, also after a restart; Ctrl-R searches; the file is the user's alone")
    func history() async throws {
        let broker = try Mosquitto()
        let bob = try await broker.startChatListener(as: "bob")
        let first = try session(
            broker,
            "alice",
            ["@wait-for-screen alice #general> ", #"@keys first line\r"#, #"@keys second line\r"#, #"@keys /quit\r"#]
        )
        #expect(try await first.wait() == 0)
        let file = broker.directory.appendingPathComponent("state/mqtt-chat/history/alice@127.0.0.1:\(broker.port)")
        let attributes = try FileManager.default.attributesOfItem(atPath: file.path)
        #expect((attributes[.posixPermissions] as? Int) == 0o600)
        #expect(try String(contentsOf: file, encoding: .utf8) == "first line\nsecond line\n/quit\n")
        let shown = screenFile(broker, "history")
        let second = try session(
            broker,
            "alice",
            [
                "@wait-for-screen alice #general> ",
                // Up twice: past /quit, the newest, to "second line".
                #"@keys \x1b[A\x1b[A"#,
                "@wait-for-screen alice #general> second line",
                #"@keys  again\r"#,
                "@wait-for-screen alice #general> ",
                #"@keys \x12first"#,
                "@wait-for-screen first line",
                "@screen \(shown)",
                #"@keys \r"#,
                "@wait-for-screen alice #general> ",
                #"@keys end\r/quit\r"#,
            ]
        )
        #expect(try await second.wait() == 0)
        #expect(await bob.waitForOutput("<alice> end"))
        bob.signal(SIGTERM)
        #expect(try await bob.wait() == 0)
        #expect(said(bob).prefix(3) == ["<alice> first line", "<alice> second line", "<alice> second line again"])
        #expect(said(bob).dropFirst(3) == ["<alice> first line", "<alice> end"])
    }

    @Test("Tab completes commands, rooms, people (after @ too), groups; several matches are listed")
    func completion() async throws {
        let broker = try Mosquitto()
        for (user, words) in [
            ("bob", ["join", "rust"]), ("carol", ["join", "ruby"]), ("alice", ["join", "rust"]),
            ("alice", ["group", "create", "robots"]),
        ] {
            #expect(try await broker.run(.publisher, as: user, command: words).code == 0)
        }
        let carol = try await broker.startChatListener(as: "carol")
        let listing = screenFile(broker, "listing")
        let session = try session(
            broker,
            "alice",
            [
                "@wait-for-screen alice #general> ",
                #"@keys /jo\t"#, "@wait-for-screen alice #general> /join ",
                #"@keys ru\t"#, "@wait-for-screen ruby  rust", "@screen \(listing)",
                #"@keys st\t"#, "@wait-for-screen alice #general> /join rust ",
                #"@keys \x15/leave \t"#, "@wait-for-screen general  rust",
                #"@keys r\t"#, "@wait-for-screen alice #general> /leave rust ",
                #"@keys \x15/invite c\trub\t"#, "@wait-for-screen alice #general> /invite carol ruby ",
                #"@keys \x15/msg ca\t"#, "@wait-for-screen alice #general> /msg carol ",
                #"@keys \x15/accept b\t"#, "@wait-for-screen alice #general> /accept bob ",
                #"@keys \x15/block c\t"#, "@wait-for-screen alice #general> /block carol ",
                #"@keys \x15/group ap\t"#, "@wait-for-screen alice #general> /group approve ",
                #"@keys \x15/group talk al\t"#, "@wait-for-screen alice #general> /group talk alice/robots ",
                #"@keys \x15hi @ca\tsee you\r"#,
                "@wait-for-screen alice #general> ",
                #"@keys /quit\r"#,
            ]
        )
        #expect(try await session.wait() == 0, "\(session.stderr)")
        #expect(session.stderr == "", "\(session.stderr)")
        #expect(await carol.waitForOutput("<alice> hi @carol see you"))
        carol.signal(SIGTERM)
        #expect(try await carol.wait() == 0)
        // Several matches: listed under the line, as shells do, and the prompt again under them.
        let rows = try screen(listing)
        let list = try #require(rows.firstIndex { $0 == "ruby  rust" })
        #expect(rows[list - 1] == "alice #general> /join ru")
        #expect(rows[list + 1] == "alice #general> /join ru")
    }

    @Test("a line printed while typing (the connection lost, then back) comes above the unfinished line, kept")
    func printedWhileTyping() async throws {
        let broker = try Mosquitto()
        let proxy = try TCPProxy(upstreamPort: broker.port)
        let bob = try await broker.startChatListener(as: "bob")
        let typed = broker.directory.appendingPathComponent("typed").path
        let cut = broker.directory.appendingPathComponent("cut").path
        let shown = screenFile(broker, "printed")
        let session = try session(
            broker,
            "alice",
            [
                "@wait-for-screen alice #general> ",
                "@keys half a li",
                "@wait-for-screen alice #general> half a li",
                "@create-file \(typed)",
                "@wait-for-file \(cut)",
                "@wait-for-screen reconnected to",
                "@screen \(shown)",
                #"@keys ne\r"#,
                "@wait-for-screen alice #general> ",
                #"@keys /quit\r"#,
            ],
            via: proxy
        )
        #expect(await waitForFile(typed))
        proxy.cut()
        #expect(FileManager.default.createFile(atPath: cut, contents: nil))
        #expect(try await session.wait() == 0)
        #expect(await bob.waitForOutput("<alice> half a line"))
        bob.signal(SIGTERM)
        #expect(try await bob.wait() == 0)
        #expect(said(bob) == ["<alice> half a line"])
        let rows = try screen(shown).filter { !$0.isEmpty }
        #expect(rows.first == "publisher: connection to 127.0.0.1:\(proxy.port) lost; reconnecting…", "\(rows)")
        #expect(rows.contains { $0.hasPrefix("publisher: reconnected to 127.0.0.1:\(proxy.port)") }, "\(rows)")
        #expect(rows.last == "alice #general> half a li", "\(rows)")
        #expect(rows.filter { $0.contains("half a li") }.count == 1, "\(rows)")
    }

    @Test("pasted lines are all sent, in order; a long line and a resize while typing keep the line whole")
    func pasteAndResize() async throws {
        let broker = try Mosquitto()
        let bob = try await broker.startChatListener(as: "bob")
        let long = String(repeating: "0123456789", count: 12)
        let shown = screenFile(broker, "resized")
        let session = try session(
            broker,
            "alice",
            [
                "@wait-for-screen alice #general> ",
                #"@keys one\rtwo\rthree\r"#,
                "@wait-for-screen alice #general> three",
                "@keys \(long)",
                "@wait-for-screen 0123456789",
                "@resize 24 60",
                "@keys !",
                "@wait-for-screen 789!",
                "@screen \(shown)",
                #"@keys \r/quit\r"#,
            ]
        )
        #expect(try await session.wait() == 0)
        #expect(await bob.waitForOutput("<alice> \(long)!"))
        bob.signal(SIGTERM)
        #expect(try await bob.wait() == 0)
        #expect(said(bob) == ["<alice> one", "<alice> two", "<alice> three", "<alice> \(long)!"])
        // 16 + 121 characters in 60 columns: three rows, the prompt's first.
        let rows = try screen(shown).filter { !$0.isEmpty }.suffix(3)
        #expect(rows.joined() == "alice #general> \(long)!", "\(rows)")
    }

    @Test("libedit is loaded by a prompt at a terminal only: never by a pipe's publisher or a listener")
    func loadedOnlyAtATerminal() async throws {
        let broker = try Mosquitto()
        let listener = try await broker.startChatListener(as: "bob")
        let piped = try broker.start(.publisher, as: "alice", ["-d"])
        #expect(await piped.waitForOutput("connected to", onStderr: true))
        let ready = broker.directory.appendingPathComponent("ready").path
        let done = broker.directory.appendingPathComponent("done").path
        let session = try session(
            broker,
            "carol",
            ["@wait-for-screen carol #general> ", "@create-file \(ready)", "@wait-for-file \(done)", #"@keys /quit\r"#]
        )
        #expect(await waitForFile(ready))
        // The prompt is pty_run.py's child.
        let children = try readProcFile("/proc/\(session.pid)/task/\(session.pid)/children")
        let prompt = try #require(children.split(separator: " ").first.flatMap { pid_t(String($0)) })
        #expect(try mappedLibraries(of: prompt).contains { $0.hasPrefix("libedit.so") })
        #expect(FileManager.default.createFile(atPath: done, contents: nil))
        #expect(try await session.wait() == 0)
        for process in [listener, piped] {
            let libraries = try mappedLibraries(of: process.pid)
            #expect(
                !libraries.contains { $0.hasPrefix("libedit") || $0.hasPrefix("libtinfo") },
                "\(libraries.sorted())"
            )
        }
        piped.closeInput()
        #expect(try await piped.wait() == 0)
        listener.signal(SIGTERM)
        #expect(try await listener.wait() == 0)
    }
}
