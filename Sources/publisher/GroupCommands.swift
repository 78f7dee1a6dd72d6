import ArgumentParser
import ChatCLI
import ChatProtocol

/// `publisher group create|join|approve|reject|remove|leave`: groups with an owner who approves members.
struct GroupCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "group",
        abstract: "Create a group, ask to join one, approve or reject requests, remove members, leave.",
        discussion: """
            A group is named OWNER/NAME, so two people can each have a group "robots". Members talk with
            `publisher --group OWNER/NAME`; their listeners follow the group from the owner's approval on.

            Examples:
              publisher group create robots -u alice
              publisher group join alice/robots -u carol
              publisher group approve alice/robots carol -u alice
              publisher groups --format json
            """,
        subcommands: [Create.self, Join.self, Approve.self, Reject.self, Remove.self, Leave.self]
    )

    struct Create: OneShotCommand {
        static let configuration = CommandConfiguration(abstract: "Create a group you own.")
        @Argument(help: "The group's name.") var name: String
        @OptionGroup var connection: ConnectionOptions

        var names: [(String, String)] { [(name, "group name")] }
        func act(_ actions: ChatActions) async throws(MQTTError) { try await actions.createGroup(name) }
    }

    struct Join: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Ask to join a group; its owner decides.")
        @Argument(help: "OWNER/NAME.") var group: String
        @OptionGroup var connection: ConnectionOptions

        func validate() throws { try validateGroup(group, connection) }

        func run() async throws {
            let group = try GroupID(parsing: group)
            await connection.runWithDirectory { actions, directory throws(MQTTError) in
                guard directory.groups.contains(group) else { throw noSuchGroup(group) }
                if directory.isMember(actions.me, ofGroup: group) {
                    report(toolName, "\(actions.me) is already a member of \(group).")
                    return
                }
                try await actions.requestGroup(group)
            }
        }
    }

    struct Approve: DecisionCommand {
        static let configuration = CommandConfiguration(abstract: "Approve a request to join your group.")
        @Argument(help: "OWNER/NAME.") var group: String
        @Argument(help: "Who asked.") var user: String
        @OptionGroup var connection: ConnectionOptions

        var decision: ChatState.GroupDecision { .approved }
    }

    struct Reject: DecisionCommand {
        static let configuration = CommandConfiguration(abstract: "Reject a request to join your group.")
        @Argument(help: "OWNER/NAME.") var group: String
        @Argument(help: "Who asked.") var user: String
        @OptionGroup var connection: ConnectionOptions

        var decision: ChatState.GroupDecision { .rejected }
    }

    struct Remove: DecisionCommand {
        static let configuration = CommandConfiguration(abstract: "Remove a member from your group.")
        @Argument(help: "OWNER/NAME.") var group: String
        @Argument(help: "The member.") var user: String
        @OptionGroup var connection: ConnectionOptions

        var decision: ChatState.GroupDecision { .removed }
    }

    struct Leave: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Leave a group (or withdraw your request).")
        @Argument(help: "OWNER/NAME.") var group: String
        @OptionGroup var connection: ConnectionOptions

        func validate() throws { try validateGroup(group, connection) }

        func run() async throws {
            let group = try GroupID(parsing: group)
            await connection.runWithDirectory { actions, directory throws(MQTTError) in
                guard directory.groups.contains(group) else { throw noSuchGroup(group) }
                guard group.owner != actions.me else {
                    throw MQTTError(.refusedByState, "\(actions.me) owns \(group) and cannot leave it.")
                }
                guard directory.request(of: actions.me, for: group) != nil else {
                    throw MQTTError(.refusedByState, "\(actions.me) is not in \(group) and has not asked to join it.")
                }
                try await actions.leaveGroup(group)
            }
        }
    }
}

/// approve, reject, remove: the owner's decision on one user of one group.
protocol DecisionCommand: AsyncParsableCommand {
    var group: String { get }
    var user: String { get }
    var connection: ConnectionOptions { get }
    var decision: ChatState.GroupDecision { get }
}

extension DecisionCommand {
    func validate() throws { try validateGroup(group, connection, user: user) }

    func run() async throws { await decide(group, user, decision, connection) }
}

private func validateGroup(_ group: String, _ connection: ConnectionOptions, user: String? = nil) throws {
    try connection.validateLayoutUser()
    do { _ = try GroupID(parsing: group) } catch { throw ValidationError(error.message) }
    if let user { try validateNames([(user, "user name")]) }
}

private func noSuchGroup(_ group: GroupID) -> MQTTError {
    MQTTError(.refusedByState, "There is no group \(group) (publisher groups lists them).")
}

/// The owner's decision on `user`'s current request. Anyone may try: the broker refuses all but the owner.
private func decide(
    _ group: String,
    _ user: String,
    _ decision: ChatState.GroupDecision,
    _ connection: ConnectionOptions
)
    async
{
    guard let group = try? GroupID(parsing: group) else { return }
    await connection.runWithDirectory { actions, directory throws(MQTTError) in
        guard directory.groups.contains(group) else { throw noSuchGroup(group) }
        guard let request = directory.request(of: user, for: group) else {
            throw MQTTError(.refusedByState, "\(user) has not asked to join \(group).")
        }
        if decision == .removed && !directory.isMember(user, ofGroup: group) {
            throw MQTTError(.refusedByState, "\(user) is not a member of \(group).")
        }
        if decision != .removed && !directory.pendingRequests(of: group).contains(user) {
            throw MQTTError(.refusedByState, "\(user)'s request to join \(group) was already decided.")
        }
        try await actions.decide(group, user, decision, request: request)
    }
}
