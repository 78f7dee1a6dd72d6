import ChatCLI
import ChatProtocol

/// `publisher group create|join|approve|reject|remove|leave`: groups with an owner who approves members.
struct GroupCommand: CommandGroup {
    static let spec = CommandSpec(
        "group",
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
        static let spec = CommandSpec.connecting(
            "create",
            abstract: "Create a group you own.",
            arguments: [ArgumentSpec("name", help: "The group's name.")]
        )
        let values: [String]
        let connection: ConnectionOptions
        var name: String { values[0] }

        var names: [(String, String)] { [(name, "group name")] }
        func act(_ actions: ChatActions) async throws(MQTTError) { try await actions.createGroup(name) }
    }

    struct Join: ArgumentCommand {
        static let spec = CommandSpec.connecting(
            "join",
            abstract: "Ask to join a group; its owner decides.",
            arguments: [ArgumentSpec("group", help: "OWNER/NAME.")]
        )
        let values: [String]
        let connection: ConnectionOptions
        var group: String { values[0] }

        func validate() throws(ValidationError) { try validateGroup(group, connection) }

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
        static let spec = CommandSpec.connecting(
            "approve",
            abstract: "Approve a request to join your group.",
            arguments: [ArgumentSpec("group", help: "OWNER/NAME."), ArgumentSpec("user", help: "Who asked.")]
        )
        let values: [String]
        let connection: ConnectionOptions

        var decision: ChatState.GroupDecision { .approved }
    }

    struct Reject: DecisionCommand {
        static let spec = CommandSpec.connecting(
            "reject",
            abstract: "Reject a request to join your group.",
            arguments: [ArgumentSpec("group", help: "OWNER/NAME."), ArgumentSpec("user", help: "Who asked.")]
        )
        let values: [String]
        let connection: ConnectionOptions

        var decision: ChatState.GroupDecision { .rejected }
    }

    struct Remove: DecisionCommand {
        static let spec = CommandSpec.connecting(
            "remove",
            abstract: "Remove a member from your group.",
            arguments: [ArgumentSpec("group", help: "OWNER/NAME."), ArgumentSpec("user", help: "The member.")]
        )
        let values: [String]
        let connection: ConnectionOptions

        var decision: ChatState.GroupDecision { .removed }
    }

    struct Leave: ArgumentCommand {
        static let spec = CommandSpec.connecting(
            "leave",
            abstract: "Leave a group (or withdraw your request).",
            arguments: [ArgumentSpec("group", help: "OWNER/NAME.")]
        )
        let values: [String]
        let connection: ConnectionOptions
        var group: String { values[0] }

        func validate() throws(ValidationError) { try validateGroup(group, connection) }

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
protocol DecisionCommand: ArgumentCommand {
    var decision: ChatState.GroupDecision { get }
}

extension DecisionCommand {
    /// OWNER/NAME and the user, the two arguments every decision declares.
    var group: String { values[0] }
    var user: String { values[1] }

    func validate() throws(ValidationError) { try validateGroup(group, connection, user: user) }

    func run() async throws { await decide(group, user, decision, connection) }
}

private func validateGroup(
    _ group: String,
    _ connection: ConnectionOptions,
    user: String? = nil
) throws(ValidationError) {
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
