import Testing

@testable import ChatCLI

/// A tool shaped like ours: the connection flags, a repeatable option, a flag, and a subcommand.
struct Tool: ChatCommand {
    static let spec = CommandSpec(
        "tool",
        abstract: "A tool.",
        options: ConnectionOptions.options + [
            OptionKey.repeatable("topic", "t", help: "A topic.").spec,
            OptionKey.repeatable("room", help: "A room.").spec,
            OptionKey.flag("session", help: "A session.").spec,
            OptionKey.value("message", "m", help: "A message.").spec,
        ],
        subcommands: [CommandNode(Join.self)]
    )

    init(_ arguments: inout ParsedArguments) throws(ValidationError) {}
    func run() async throws {}
}

struct Join: ChatCommand {
    static let spec = CommandSpec(
        "join",
        abstract: "Join.",
        options: ConnectionOptions.options,
        arguments: [ArgumentSpec("name", help: "A name.")]
    )
    let connection: ConnectionOptions
    let name: String

    init(_ arguments: inout ParsedArguments) throws(ValidationError) {
        name = arguments.requiredArgument()
        connection = try ConnectionOptions(arguments)
    }

    func run() async throws {}
}

@Suite("config file")
struct ConfigFileTests {
    let path = "/home/p07/.config/mqtt-chat/config"

    func file(_ text: String) throws -> ConfigFile {
        try ConfigFile(path: path, text: text, home: "/home/p07")
    }

    @Test("one long option a line; comments, blank lines, = form, quotes and ~/ handled")
    func parsing() throws {
        let config = try file(
            """
            # the workshop's broker
            --host 192.168.1.20

              --port=1883\r
            --username p07
            --password-file ~/.config/mqtt-chat/password
            --room   my room  \t
            --room "  spaced  "
            --tls
            """
        )
        #expect(
            config.entries == [
                .init(line: 2, name: "host", value: "192.168.1.20"), .init(line: 4, name: "port", value: "1883"),
                .init(line: 5, name: "username", value: "p07"),
                .init(line: 6, name: "password-file", value: "/home/p07/.config/mqtt-chat/password"),
                .init(line: 7, name: "room", value: "my room"), .init(line: 8, name: "room", value: "  spaced  "),
                .init(line: 9, name: "tls", value: nil),
            ]
        )
    }

    @Test("a line that is not a long option names the file and line")
    func notAnOption() throws {
        #expect(throws: ConfigFile.Problem("\(path):2: expected a long option such as --host HOST, found \"-h x\"")) {
            try file("--port 1883\n-h x\n")
        }
    }

    @Test("the file's options come first; a subcommand gets them after its name")
    func insertion() throws {
        let config = try file("--host 10.0.0.5\n--username p07\n--tls\n")
        #expect(
            try config.merged(into: ["-m", "hi"], root: Tool.self) == [
                "--host=10.0.0.5", "--username=p07", "--tls", "-m", "hi",
            ]
        )
        #expect(
            try config.merged(into: ["join", "rust"], root: Tool.self) == [
                "join", "--host=10.0.0.5", "--username=p07", "--tls", "rust",
            ]
        )
        // The merged line parses: the subcommand got the file's host.
        let parsed = try Tool.parse(try config.merged(into: ["join", "rust"], root: Tool.self)) as? Join
        #expect(parsed?.connection.host == "10.0.0.5")
        #expect(parsed?.name == "rust")
    }

    @Test("the command line wins: single options, repeatable ones, and groups")
    func overrides() throws {
        let config = try file("--host a\n--port 1\n--topic t1\n--room r1\n--password-file /pw\n--session\n")
        let host = try config.merged(into: ["-h", "b"], root: Tool.self)
        #expect(host == ["--port=1", "--topic=t1", "--room=r1", "--password-file=/pw", "--session", "-h", "b"])
        // Repeatable: the command line's list replaces the file's; a room replaces the file's topics too.
        let room = try config.merged(into: ["--room", "r2"], root: Tool.self)
        #expect(room == ["--host=a", "--port=1", "--password-file=/pw", "--session", "--room", "r2"])
        // -P replaces the file's --password-file (both at once would be refused).
        #expect(!(try config.merged(into: ["-P", "x"], root: Tool.self)).contains("--password-file=/pw"))
        // A URL replaces the file's host and port, and its password when it has one.
        #expect(
            try config.merged(into: ["-L", "mqtt://u:pw@h:2"], root: Tool.self) == [
                "--topic=t1", "--room=r1", "--session", "-L", "mqtt://u:pw@h:2",
            ]
        )
        // Grouped short options are read as the parser reads them: -dp 2 gives the port.
        #expect(try config.merged(into: ["-dp", "2"], root: Tool.self).first == "--host=a")
        #expect(!(try config.merged(into: ["-dp", "2"], root: Tool.self)).contains("--port=1"))
        // A value that looks like a flag is a value: -m --host does not override the file's host.
        #expect(try config.merged(into: ["-m", "--host"], root: Tool.self).first == "--host=a")
    }

    @Test("options of the other tool or of another subcommand are skipped; unknown ones are errors")
    func unknown() throws {
        #expect(
            try file("--format json\n--room r\n--wait-for-broker\n").merged(into: ["join", "x"], root: Tool.self) == [
                "join", "x",
            ]
        )
        #expect(throws: ConfigFile.Problem("\(path):3: unknown option --hots")) {
            try file("# typo below\n--host a\n--hots b\n").merged(into: [], root: Tool.self)
        }
        #expect(throws: ConfigFile.Problem("\(path):1: --host needs a value")) {
            try file("--host\n").merged(into: [], root: Tool.self)
        }
        #expect(throws: ConfigFile.Problem("\(path):1: --session takes no value")) {
            try file("--session yes\n").merged(into: [], root: Tool.self)
        }
    }

    @Test("where the file is: an absolute XDG_CONFIG_HOME, else HOME/.config")
    func location() {
        let env = { (values: [String: String]) in { (name: String) in values[name] } }
        #expect(
            ConfigFile.defaultPath(environment: env(["XDG_CONFIG_HOME": "/x", "HOME": "/h"])) == "/x/mqtt-chat/config"
        )
        #expect(
            ConfigFile.defaultPath(environment: env(["XDG_CONFIG_HOME": "rel", "HOME": "/h"]))
                == "/h/.config/mqtt-chat/config"
        )
        #expect(ConfigFile.defaultPath(environment: env(["HOME": "/h"])) == "/h/.config/mqtt-chat/config")
        #expect(ConfigFile.defaultPath(environment: env([:])) == nil)
    }
}
