import ChatCLI
import ChatProtocol

// The publisher's one-shot commands: each connects, does one thing, and exits 0 once the broker acknowledged
// it (77 when the broker refuses it). The same actions back the prompt's /commands.

/// A command whose inputs are its arguments (all required, `CommandSpec.connecting`) and the connection options.
protocol ArgumentCommand: ChatCommand {
    /// The arguments, in the order the spec declares them.
    var values: [String] { get }
    var connection: ConnectionOptions { get }
    init(values: [String], connection: ConnectionOptions)
}

extension ArgumentCommand {
    init(_ arguments: inout ParsedArguments) throws(ValidationError) {
        var values: [String] = []
        for _ in Self.spec.arguments { values.append(arguments.requiredArgument()) }
        self.init(values: values, connection: try ConnectionOptions(arguments))
    }
}

/// A one-shot command: the names it takes (validated before connecting) and the one action it does.
protocol OneShotCommand: ArgumentCommand {
    /// Each name with what it is (`room`, `user name`), for the usage error.
    var names: [(String, String)] { get }
    func act(_ actions: ChatActions) async throws(MQTTError)
}

extension OneShotCommand {
    func validate() throws(ValidationError) {
        try connection.validateLayoutUser()
        try validateNames(names)
    }

    func run() async throws {
        await connection.runCommand { _, actions throws(MQTTError) in try await act(actions) }
    }
}

struct JoinCommand: OneShotCommand {
    static let spec = CommandSpec.connecting(
        "join",
        abstract: "Join a room: every listener of yours follows it from now on.",
        arguments: [ArgumentSpec("room", help: "The room.")]
    )
    let values: [String]
    let connection: ConnectionOptions
    var room: String { values[0] }

    var names: [(String, String)] { [(room, "room")] }
    func act(_ actions: ChatActions) async throws(MQTTError) { try await actions.join(room) }
}

struct LeaveCommand: OneShotCommand {
    static let spec = CommandSpec.connecting(
        "leave",
        abstract: "Leave a room: your listeners stop following it.",
        arguments: [ArgumentSpec("room", help: "The room.")]
    )
    let values: [String]
    let connection: ConnectionOptions
    var room: String { values[0] }

    var names: [(String, String)] { [(room, "room")] }
    func act(_ actions: ChatActions) async throws(MQTTError) { try await actions.leave(room) }
}

struct InviteCommand: OneShotCommand {
    static let spec = CommandSpec.connecting(
        "invite",
        abstract: "Invite someone to a room (they see it even if they never accepted you).",
        arguments: [ArgumentSpec("user", help: "Who to invite."), ArgumentSpec("room", help: "The room.")]
    )
    let values: [String]
    let connection: ConnectionOptions
    var user: String { values[0] }
    var room: String { values[1] }

    var names: [(String, String)] { [(user, "user name"), (room, "room")] }
    func act(_ actions: ChatActions) async throws(MQTTError) { try await actions.invite(user, to: room) }
}

struct MsgCommand: OneShotCommand {
    static let spec = CommandSpec.connecting(
        "msg",
        abstract: "Send one private message (QoS 2; it waits for them if they are away).",
        arguments: [ArgumentSpec("user", help: "To whom."), ArgumentSpec("text", help: "The message.")]
    )
    let values: [String]
    let connection: ConnectionOptions
    var user: String { values[0] }
    var text: String { values[1] }

    var names: [(String, String)] { [(user, "user name")] }
    func act(_ actions: ChatActions) async throws(MQTTError) { try await actions.message(user, text) }
}

struct AcceptCommand: OneShotCommand {
    static let spec = CommandSpec.connecting(
        "accept",
        abstract: "Accept someone's private messages (shown plainly, not as requests).",
        arguments: [ArgumentSpec("user", help: "Whom to accept.")]
    )
    let values: [String]
    let connection: ConnectionOptions
    var user: String { values[0] }

    var names: [(String, String)] { [(user, "user name")] }
    func act(_ actions: ChatActions) async throws(MQTTError) { try await actions.setContact(user, .accepted) }
}

struct BlockCommand: OneShotCommand {
    static let spec = CommandSpec.connecting(
        "block",
        abstract: "Hide everything from someone: messages, invitations, notices.",
        arguments: [ArgumentSpec("user", help: "Whom to block.")]
    )
    let values: [String]
    let connection: ConnectionOptions
    var user: String { values[0] }

    var names: [(String, String)] { [(user, "user name")] }
    func act(_ actions: ChatActions) async throws(MQTTError) { try await actions.setContact(user, .blocked) }
}
