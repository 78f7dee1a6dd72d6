import ArgumentParser
import ChatCLI
import ChatProtocol

// The publisher's one-shot commands: each connects, does one thing, and exits 0 once the broker acknowledged
// it (77 when the broker refuses it). The same actions back the prompt's /commands.

/// A one-shot command: the names it takes (validated before connecting) and the one action it does.
protocol OneShotCommand: AsyncParsableCommand {
    var connection: ConnectionOptions { get }
    /// Each name with what it is (`room`, `user name`), for the usage error.
    var names: [(String, String)] { get }
    func act(_ actions: ChatActions) async throws(MQTTError)
}

extension OneShotCommand {
    func validate() throws {
        try connection.validateLayoutUser()
        try validateNames(names)
    }

    func run() async throws {
        await connection.runCommand { _, actions throws(MQTTError) in try await act(actions) }
    }
}

struct JoinCommand: OneShotCommand {
    static let configuration = CommandConfiguration(
        commandName: "join",
        abstract: "Join a room: every listener of yours follows it from now on."
    )
    @Argument(help: "The room.") var room: String
    @OptionGroup var connection: ConnectionOptions

    var names: [(String, String)] { [(room, "room")] }
    func act(_ actions: ChatActions) async throws(MQTTError) { try await actions.join(room) }
}

struct LeaveCommand: OneShotCommand {
    static let configuration = CommandConfiguration(
        commandName: "leave",
        abstract: "Leave a room: your listeners stop following it."
    )
    @Argument(help: "The room.") var room: String
    @OptionGroup var connection: ConnectionOptions

    var names: [(String, String)] { [(room, "room")] }
    func act(_ actions: ChatActions) async throws(MQTTError) { try await actions.leave(room) }
}

struct InviteCommand: OneShotCommand {
    static let configuration = CommandConfiguration(
        commandName: "invite",
        abstract: "Invite someone to a room (they see it even if they never accepted you)."
    )
    @Argument(help: "Who to invite.") var user: String
    @Argument(help: "The room.") var room: String
    @OptionGroup var connection: ConnectionOptions

    var names: [(String, String)] { [(user, "user name"), (room, "room")] }
    func act(_ actions: ChatActions) async throws(MQTTError) { try await actions.invite(user, to: room) }
}

struct MsgCommand: OneShotCommand {
    static let configuration = CommandConfiguration(
        commandName: "msg",
        abstract: "Send one private message (QoS 2; it waits for them if they are away)."
    )
    @Argument(help: "To whom.") var user: String
    @Argument(help: "The message.") var text: String
    @OptionGroup var connection: ConnectionOptions

    var names: [(String, String)] { [(user, "user name")] }
    func act(_ actions: ChatActions) async throws(MQTTError) { try await actions.message(user, text) }
}

struct AcceptCommand: OneShotCommand {
    static let configuration = CommandConfiguration(
        commandName: "accept",
        abstract: "Accept someone's private messages (shown plainly, not as requests)."
    )
    @Argument(help: "Whom to accept.") var user: String
    @OptionGroup var connection: ConnectionOptions

    var names: [(String, String)] { [(user, "user name")] }
    func act(_ actions: ChatActions) async throws(MQTTError) { try await actions.setContact(user, .accepted) }
}

struct BlockCommand: OneShotCommand {
    static let configuration = CommandConfiguration(
        commandName: "block",
        abstract: "Hide everything from someone: messages, invitations, notices."
    )
    @Argument(help: "Whom to block.") var user: String
    @OptionGroup var connection: ConnectionOptions

    var names: [(String, String)] { [(user, "user name")] }
    func act(_ actions: ChatActions) async throws(MQTTError) { try await actions.setContact(user, .blocked) }
}
