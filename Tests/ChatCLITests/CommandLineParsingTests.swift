import ChatProtocol
import Testing

@testable import ChatCLI

/// A command with one of each kind: flags (one with a short name), a value option, a repeatable one, a
/// number, a choice, and a required and an optional argument.
struct Sample: ChatCommand {
    enum Format: String, CaseIterable, Sendable { case text, json }

    enum Key {
        static let debug = OptionKey.flag("debug", "d", help: "Debug.")
        static let retain = OptionKey.flag("retain", "r", help: "Retain.")
        static let message = OptionKey.value("message", "m", help: "A message.")
        static let room = OptionKey.repeatable("room", help: "A room.")
        static let port = OptionKey.integer("port", "p", help: "A port.")
        static let timeout = OptionKey.number("timeout", "W", help: "Seconds.")
        static let format = OptionKey.choice("format", as: Format.self, help: "text or json.")
    }

    static let spec = CommandSpec(
        "sample",
        abstract: "A sample.",
        options: [
            Key.debug.spec, Key.retain.spec, Key.message.spec, Key.room.spec, Key.port.spec, Key.timeout.spec,
            Key.format.spec,
        ],
        arguments: [ArgumentSpec("user", help: "Who."), ArgumentSpec("room", optional: true, help: "Where.")]
    )

    var debug, retain: Bool
    var message: String?
    var rooms: [String]
    var port: Int?
    var timeout: Double?
    var format: Format?
    var user: String
    var room: String?

    init(_ arguments: inout ParsedArguments) throws(ValidationError) {
        debug = try arguments[Key.debug]
        retain = try arguments[Key.retain]
        message = try arguments[Key.message]
        rooms = try arguments[Key.room]
        port = try arguments[Key.port]
        timeout = try arguments[Key.timeout]
        format = try arguments[Key.format]
        user = arguments.requiredArgument()
        room = arguments.argument()
    }

    func run() async throws {}
}

@Suite("command line parsing")
struct CommandLineParsingTests {
    func parse(_ arguments: [String]) throws(ValidationError) -> Sample {
        var parsed = try ParsedArguments(arguments, for: Sample.spec)
        return try Sample(&parsed)
    }

    @Test("long and short forms, inline values, flags together, options among arguments")
    func forms() throws {
        let sample = try parse(["bob", "-dr", "--message=a=b", "-p1883", "--room", "x", "general", "--room", "y"])
        #expect(sample.debug && sample.retain)
        #expect(sample.message == "a=b")
        #expect(sample.port == 1883)
        #expect(sample.rooms == ["x", "y"])
        #expect(sample.user == "bob" && sample.room == "general")
        #expect(try parse(["bob", "-m", "first", "-m", "last"]).message == "last")
        #expect(try parse(["bob", "-W", "0.5", "--format", "json"]).timeout == 0.5)
        #expect(try parse(["bob", "--format", "json"]).format == .json)
        #expect(try parse(["bob"]).room == nil)
    }

    @Test("a value is the next argument whatever it looks like, as in the mosquitto clients; -- ends options")
    func values() throws {
        #expect(try parse(["bob", "-m", "-d"]).message == "-d")
        #expect(try parse(["bob", "-m", "--room"]).rooms == [])
        let after = try parse(["--", "-bob", "--debug"])
        #expect(after.user == "-bob" && after.room == "--debug" && !after.debug)
        #expect(try parse(["-"]).user == "-")
        // A short option that takes a value may end a group of flags; its value is the next word.
        let grouped = try parse(["-dp", "1883", "bob", "-drm-5"])
        #expect(grouped.debug && grouped.retain && grouped.port == 1883 && grouped.message == "-5")
    }

    @Test(
        "every mistake is one sentence naming what was wrong",
        arguments: [
            (["bob", "--bogus"], "Unknown option --bogus."),
            (["bob", "-x"], "Unknown option -x."),
            (["bob", "-dx"], "Unknown option -x."),
            (["bob", "-m"], "Missing value for --message <message>."),
            (["bob", "--debug=yes"], "--debug takes no value."),
            ([], "Missing argument <user>."),
            (["bob", "general", "extra"], "Unexpected argument extra."),
            (["bob", "-p", "80x"], "Invalid value 80x for --port <port>: a whole number is needed."),
            (["bob", "-W", "nan"], "Invalid value nan for --timeout <timeout>: a number is needed."),
            (["bob", "--format", "xml"], "Invalid value xml for --format <format>: use text or json."),
        ]
    )
    func mistakes(arguments: [String], message: String) {
        #expect(throws: ValidationError(message)) { try parse(arguments) }
    }

    @Test("help: overview, usage, arguments, options with short names, wrapped at 80 columns")
    func help() {
        let text = HelpText.text(for: Sample.spec, path: ["tool", "sample"], isRoot: false)
        #expect(text.hasPrefix("OVERVIEW: A sample.\n\nUSAGE: tool sample [<options>] <user> [<room>]\n"))
        #expect(text.contains("\n  <user>                  Who.\n"))
        #expect(text.contains("\n  -p, --port <port>       A port.\n"))
        // Names that leave no two spaces before the description's column put it on the next line.
        #expect(text.contains("\n  -m, --message <message>\n" + String(repeating: " ", count: 26) + "A message.\n"))
        #expect(text.contains("\n  --format <format>       text or json.\n"))
        #expect(text.hasSuffix("  --help                  Show help information.\n"))
        #expect(!text.contains("--version"))
        let long = HelpText.entry("-x, --a-very-long-option <value>", String(repeating: "word ", count: 30))
        #expect(long.split(separator: "\n").allSatisfy { $0.count <= 80 })
        #expect(long.hasPrefix("  -x, --a-very-long-option <value>\n" + String(repeating: " ", count: 26) + "word"))
    }

    @Test("subcommand words are found after options and their values; the rest goes to the command")
    func subcommands() throws {
        let (command, words) = Tool.resolve(["-h", "join", "join", "rust"])
        #expect(command.spec.name == "join")
        #expect(words == [2])
        #expect(Tool.removingWords(words, from: ["-h", "join", "join", "rust"]) == ["-h", "join", "rust"])
        // Flags grouped with an option that takes a value (-dp 1883): the value is skipped, not taken for a
        // subcommand (the parser and the lookup read the words alike).
        #expect(Tool.resolve(["-dp", "1883", "join", "rust"]).1 == [2])
        #expect(Tool.resolve(["-d", "-p", "1883", "join", "rust"]).1 == [3])
        #expect(Tool.resolve(["--", "join", "rust"]).1 == [])
        #expect((try Tool.parse(["-dp", "1883", "join", "rust"]) as? Join)?.connection.port == 1883)
        let join = try Tool.parse(["-u", "p07", "join", "rust"]) as? Join
        #expect(join?.name == "rust" && join?.connection.username == "p07")
        #expect(throws: ValidationError("tool needs a subcommand: join.")) { try Tool.parse(["-u", "p07"]) }
    }

    @Test("the connection options are checked as they are read")
    func connection() throws {
        #expect(throws: ValidationError("Invalid QoS 3: it must be 0, 1 or 2.")) {
            try Tool.parse(["join", "x", "-q", "3"])
        }
        #expect(throws: ValidationError("--key needs --cert.")) { try Tool.parse(["join", "x", "--key", "/dev/null"]) }
    }
}

@Suite("the chat commands as the publisher's")
struct ChatCommandsTests {
    @Test("the prompt's /help lists every chat command with its help, in 80 columns")
    func promptHelp() {
        let help = ChatOperation.promptHelp
        for operation in ChatOperations.all {
            #expect(help.contains(operation.promptUsage) && help.contains(operation.abstract.prefix(30)))
        }
        #expect(help.split(separator: "\n").allSatisfy { $0.count <= 80 })
        let expected = """
              /join <room>            Join a room: every listener of yours follows it from
                                      now on.
              /leave [<room>]         Leave a room: your listeners stop following it.
              /rooms                  Show the rooms you are in and every room with people
                                      in it.
              /who [<room>]           Show who is online; with a room, who joined it (online
                                      or not).
              /invite <user> [<room>]
                                      Invite someone to a room (they see it even if they
                                      never accepted you).
              /msg <user> <text>      Send one private message (QoS 2; it waits for them if
                                      they are away).
              /me <text>              An action where you talk: /me waves is * alice waves.
              /topic [<text>]         Show the room's topic, or set it ("" clears it).
              /away [<text>]          Say you are away (until back), and why if you like.
              /back                   Say you are back.
              /accept <user>          Accept someone's private messages (shown plainly, not
                                      as requests).
              /block <user>           Hide everything from someone: messages, invitations,
                                      notices.
              /group create <name>    Create a group you own.
              /group join <group>     Ask to join a group; its owner decides.
              /group approve <group> <user>
                                      Approve a request to join your group.
              /group reject <group> <user>
                                      Reject a request to join your group.
              /group remove <group> <user>
                                      Remove a member from your group.
              /group leave <group>    Leave a group (or withdraw your request).
              /group talk <group>     Talk in a group you are a member of.
              /groups                 Show every group with its members (and the requests to
                                      the groups you own).
              /keys [<user>]          Show your key's fingerprint; with a user, the one
                                      pinned for them and your safety number.
              /trust <user>           Accept someone's new identity key (check it with them
                                      first: keys USER).
              /help                   This list.
              /quit                   Leave (exit works too); //text sends "/text".

            """
        #expect(help == expected)
    }

    @Test("the one-shot commands are the table's, in its order, those under `group` in a node of their own")
    func oneShots() {
        let nodes = CommandNode.chatCommands()
        #expect(
            nodes.map(\.spec.name) == [
                "join", "leave", "rooms", "who", "invite", "msg", "topic", "away", "back", "accept", "block", "group",
                "groups", "keys", "trust",
            ]
        )
        let group = nodes.first { $0.spec.name == "group" }?.spec
        #expect(group?.subcommands.map(\.spec.name) == ["create", "join", "approve", "reject", "remove", "leave"])
    }
}
