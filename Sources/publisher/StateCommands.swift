import ChatCLI
import ChatProtocol

// The publisher's one-shot commands: each connects, does one thing, and exits 0 once the broker acknowledged
// it (77 when the broker refuses it). The same actions back the prompt's /commands.

/// A one-shot command: the names it takes (validated before connecting) and the one action it does.
protocol OneShotCommand: ChatCommand {
    var connection: ConnectionOptions { get }
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
    static let spec = CommandSpec(
        "join",
        abstract: "Join a room: every listener of yours follows it from now on.",
        options: ConnectionOptions.options,
        arguments: [ArgumentSpec("room", help: "The room.")]
    )
    let room: String
    let connection: ConnectionOptions

    init(_ arguments: inout ParsedArguments) throws(ValidationError) {
        room = arguments.requiredArgument()
        connection = try ConnectionOptions(arguments)
    }

    var names: [(String, String)] { [(room, "room")] }
    func act(_ actions: ChatActions) async throws(MQTTError) { try await actions.join(room) }
}

struct LeaveCommand: OneShotCommand {
    static let spec = CommandSpec(
        "leave",
        abstract: "Leave a room: your listeners stop following it.",
        options: ConnectionOptions.options,
        arguments: [ArgumentSpec("room", help: "The room.")]
    )
    let room: String
    let connection: ConnectionOptions

    init(_ arguments: inout ParsedArguments) throws(ValidationError) {
        room = arguments.requiredArgument()
        connection = try ConnectionOptions(arguments)
    }

    var names: [(String, String)] { [(room, "room")] }
    func act(_ actions: ChatActions) async throws(MQTTError) { try await actions.leave(room) }
}

struct InviteCommand: OneShotCommand {
    static let spec = CommandSpec(
        "invite",
        abstract: "Invite someone to a room (they see it even if they never accepted you).",
        options: ConnectionOptions.options,
        arguments: [ArgumentSpec("user", help: "Who to invite."), ArgumentSpec("room", help: "The room.")]
    )
    let user: String
    let room: String
    let connection: ConnectionOptions

    init(_ arguments: inout ParsedArguments) throws(ValidationError) {
        user = arguments.requiredArgument()
        room = arguments.requiredArgument()
        connection = try ConnectionOptions(arguments)
    }

    var names: [(String, String)] { [(user, "user name"), (room, "room")] }
    func act(_ actions: ChatActions) async throws(MQTTError) { try await actions.invite(user, to: room) }
}

struct MsgCommand: OneShotCommand {
    static let spec = CommandSpec(
        "msg",
        abstract: "Send one private message (QoS 2; it waits for them if they are away).",
        options: ConnectionOptions.options,
        arguments: [ArgumentSpec("user", help: "To whom."), ArgumentSpec("text", help: "The message.")]
    )
    let user: String
    let text: String
    let connection: ConnectionOptions

    init(_ arguments: inout ParsedArguments) throws(ValidationError) {
        user = arguments.requiredArgument()
        text = arguments.requiredArgument()
        connection = try ConnectionOptions(arguments)
    }

    var names: [(String, String)] { [(user, "user name")] }
    func act(_ actions: ChatActions) async throws(MQTTError) { try await actions.message(user, text) }
}

struct AcceptCommand: OneShotCommand {
    static let spec = CommandSpec(
        "accept",
        abstract: "Accept someone's private messages (shown plainly, not as requests).",
        options: ConnectionOptions.options,
        arguments: [ArgumentSpec("user", help: "Whom to accept.")]
    )
    let user: String
    let connection: ConnectionOptions

    init(_ arguments: inout ParsedArguments) throws(ValidationError) {
        user = arguments.requiredArgument()
        connection = try ConnectionOptions(arguments)
    }

    var names: [(String, String)] { [(user, "user name")] }
    func act(_ actions: ChatActions) async throws(MQTTError) { try await actions.setContact(user, .accepted) }
}

struct BlockCommand: OneShotCommand {
    static let spec = CommandSpec(
        "block",
        abstract: "Hide everything from someone: messages, invitations, notices.",
        options: ConnectionOptions.options,
        arguments: [ArgumentSpec("user", help: "Whom to block.")]
    )
    let user: String
    let connection: ConnectionOptions

    init(_ arguments: inout ParsedArguments) throws(ValidationError) {
        user = arguments.requiredArgument()
        connection = try ConnectionOptions(arguments)
    }

    var names: [(String, String)] { [(user, "user name")] }
    func act(_ actions: ChatActions) async throws(MQTTError) { try await actions.setContact(user, .blocked) }
}
