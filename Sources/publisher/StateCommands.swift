import ArgumentParser
import ChatCLI
import ChatProtocol

// The publisher's one-shot commands: each connects, does one thing, and exits 0 once the broker acknowledged
// it (77 when the broker refuses it). The same actions back the prompt's /commands.

struct JoinCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "join",
        abstract: "Join a room: every listener of yours follows it from now on."
    )
    @Argument(help: "The room.") var room: String
    @OptionGroup var connection: ConnectionOptions

    func validate() throws {
        try connection.validateLayoutUser()
        try validateNames([(room, "room")])
    }

    func run() async throws {
        let room = room
        await connection.runCommand { _, actions throws(MQTTError) in try await actions.join(room) }
    }
}

struct LeaveCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "leave",
        abstract: "Leave a room: your listeners stop following it."
    )
    @Argument(help: "The room.") var room: String
    @OptionGroup var connection: ConnectionOptions

    func validate() throws {
        try connection.validateLayoutUser()
        try validateNames([(room, "room")])
    }

    func run() async throws {
        let room = room
        await connection.runCommand { _, actions throws(MQTTError) in try await actions.leave(room) }
    }
}

struct InviteCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "invite",
        abstract: "Invite someone to a room (they see it even if they never accepted you)."
    )
    @Argument(help: "Who to invite.") var user: String
    @Argument(help: "The room.") var room: String
    @OptionGroup var connection: ConnectionOptions

    func validate() throws {
        try connection.validateLayoutUser()
        try validateNames([(user, "user name"), (room, "room")])
    }

    func run() async throws {
        let (user, room) = (user, room)
        await connection.runCommand { _, actions throws(MQTTError) in try await actions.invite(user, to: room) }
    }
}

struct MsgCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "msg",
        abstract: "Send one private message (QoS 2; it waits for them if they are away)."
    )
    @Argument(help: "To whom.") var user: String
    @Argument(help: "The message.") var text: String
    @OptionGroup var connection: ConnectionOptions

    func validate() throws {
        try connection.validateLayoutUser()
        try validateNames([(user, "user name")])
    }

    func run() async throws {
        let (user, text) = (user, text)
        await connection.runCommand { _, actions throws(MQTTError) in try await actions.message(user, text) }
    }
}

struct AcceptCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "accept",
        abstract: "Accept someone's private messages (shown plainly, not as requests)."
    )
    @Argument(help: "Whom to accept.") var user: String
    @OptionGroup var connection: ConnectionOptions

    func validate() throws {
        try connection.validateLayoutUser()
        try validateNames([(user, "user name")])
    }

    func run() async throws {
        let user = user
        await connection.runCommand { _, actions throws(MQTTError) in try await actions.setContact(user, .accepted) }
    }
}

struct BlockCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "block",
        abstract: "Hide everything from someone: messages, invitations, notices."
    )
    @Argument(help: "Whom to block.") var user: String
    @OptionGroup var connection: ConnectionOptions

    func validate() throws {
        try connection.validateLayoutUser()
        try validateNames([(user, "user name")])
    }

    func run() async throws {
        let user = user
        await connection.runCommand { _, actions throws(MQTTError) in try await actions.setContact(user, .blocked) }
    }
}
