/// The chat commands, in the order help lists them. To add one: declare it here (words, arguments, help, what it
/// checks and publishes); the publisher's subcommand, the prompt's `/command`, `/help`, the completions and the
/// man page follow. `Tests/ChatProtocolTests/ChatOperationTests.swift` feeds each its refusals and publishes.
public enum ChatOperations {
    /// A word that only groups commands (`group`): its help.
    public struct Heading: Sendable {
        public let word: String
        public let abstract: String
        public let discussion: String
    }

    public static let headings = [
        Heading(
            word: "group",
            abstract: "Create a group, ask to join one, approve or reject requests, remove members, leave.",
            discussion: """
                A group is named OWNER/NAME, so two people can each have a group "robots". Members talk with
                `publisher --group OWNER/NAME`; their listeners follow the group from the owner's approval on.

                Examples:
                  publisher group create robots -u alice
                  publisher group join alice/robots -u carol
                  publisher group approve alice/robots carol -u alice
                  publisher groups --format json
                """
        )
    ]

    public static let all: [ChatOperation] = [
        join, leave, rooms, who, invite, msg, me, topic, away, back, accept, block, groupCreate, groupJoin,
        decision(.approved), decision(.rejected), decision(.removed), groupLeave, groupTalk, groups, keys, trust,
    ]

    /// The command these words name, if any.
    public static func named(_ words: [String]) -> ChatOperation? { all.first { $0.words == words } }

    static let join = ChatOperation(
        ["join"],
        abstract: "Join a room: every listener of yours follows it from now on.",
        arguments: [.init("room", .room, help: "The room.")]
    ) { (input) throws(MQTTError) in
        let room = input[0]
        var outcome = ChatOperation.Outcome(
            publishes: [.state(input.layout.membership(of: input.me, in: room), ChatState.membership(joined: true))]
        )
        // At the prompt, joining is also going there.
        if input.place != nil { outcome.talk(in: room, input) }
        return outcome
    }

    static let leave = ChatOperation(
        ["leave"],
        abstract: "Leave a room: your listeners stop following it.",
        arguments: [.init("room", .room, defaultsToPromptRoom: true, help: "The room.")]
    ) { (input) throws(MQTTError) in
        let room = input[0]
        // Leaving the default room is remembered ("left"); any other membership is simply removed.
        let state = room == ChatLayout.defaultRoom ? ChatState.membership(joined: false) : []
        var outcome = ChatOperation.Outcome(publishes: [.state(input.layout.membership(of: input.me, in: room), state)])
        if input.place == .room(room) { outcome.talk(in: ChatLayout.defaultRoom, input) }
        return outcome
    }

    public static let rooms = ChatOperation(
        ["rooms"],
        abstract: "Show the rooms you are in and every room with people in it.",
        readsDirectory: true
    ) { (input) throws(MQTTError) in
        ChatOperation.Outcome(
            output: String(decoding: DirectoryReport.rooms(input.directory, format: .text), as: UTF8.self)
        )
    }

    public static let who = ChatOperation(
        ["who"],
        abstract: "Show who is online; with a room, who joined it (online or not).",
        arguments: [.init("room", .room, optional: true, help: "A room.")],
        readsDirectory: true
    ) { (input) throws(MQTTError) in
        let report = DirectoryReport.who(input.directory, room: input.values[0], format: .text)
        return ChatOperation.Outcome(output: String(decoding: report, as: UTF8.self))
    }

    static let invite = ChatOperation(
        ["invite"],
        abstract: "Invite someone to a room (they see it even if they never accepted you).",
        arguments: [
            .init("user", .user, help: "Who to invite."),
            .init("room", .room, defaultsToPromptRoom: true, help: "The room."),
        ]
    ) { (input) throws(MQTTError) in
        let (user, room) = (input[0], input[1])
        let invitation = ChatMessage(kind: .invite, from: input.me, text: room, time: input.time)
        return ChatOperation.Outcome(
            publishes: [.message(input.layout.inbox(of: user, from: input.me), invitation)],
            output: "invited \(user) to #\(room)\n"
        )
    }

    static let msg = ChatOperation(
        ["msg"],
        abstract: "Send one private message (QoS 2; it waits for them if they are away).",
        arguments: [.init("user", .user, help: "To whom."), .init("text", .text, help: "The message.")]
    ) { (input) throws(MQTTError) in
        ChatOperation.Outcome(
            publishes: input.layout.privateMessage(from: input.me, to: input[0], input[1], time: input.time)
        )
    }

    /// The one-shot form is `publisher --me TEXT`, which goes where sending goes (--room, --to, --group).
    static let me = ChatOperation(
        ["me"],
        abstract: "An action where you talk: /me waves is * alice waves.",
        arguments: [.init("text", .text, help: "What you do.")],
        promptOnly: true
    ) { (input) throws(MQTTError) in
        let notice = ChatMessage.me(input.me, input[0], time: input.time)
        return ChatOperation.Outcome(
            publishes: input.layout.publishes(notice, to: input.place ?? .room(ChatLayout.defaultRoom))
        )
    }

    static let topic = ChatOperation(
        ["topic"],
        abstract: "Show the room's topic, or set it (\"\" clears it).",
        arguments: [
            .init("room", .room, isPromptRoom: true, help: "The room."),
            .init("text", .text, optional: true, help: "The new topic; \"\" clears it; none shows it."),
        ],
        readsDirectory: true
    ) { (input) throws(MQTTError) in
        let room = input[0]
        guard let given = input.values[1] else {
            return ChatOperation.Outcome(output: DirectoryReport.topic(input.directory, room: room))
        }
        guard input.directory.isMember(input.me, of: room) else {
            throw MQTTError(.refusedByState, "\(input.me) is not in #\(room): join it to set its topic.")
        }
        // `""` clears it at the prompt as on the command line, where the shell has taken the quotes.
        let text = given == "\"\"" ? "" : given
        return ChatOperation.Outcome(
            publishes: [.state(input.layout.roomTopic(room, setter: input.me), ChatState.roomTopic(text))]
        )
    }

    static let away = ChatOperation(
        ["away"],
        abstract: "Say you are away (until back), and why if you like.",
        arguments: [.init("text", .text, optional: true, help: "Why, or until when.")]
    ) { (input) throws(MQTTError) in
        let text = input.values[0] ?? ""
        return ChatOperation.Outcome(
            publishes: [.state(input.layout.away(of: input.me), ChatState.away(text))],
            output: "you are away\(text.isEmpty ? "" : ": " + text) (/back when you return)\n"
        )
    }

    static let back = ChatOperation(["back"], abstract: "Say you are back.") { (input) throws(MQTTError) in
        ChatOperation.Outcome(publishes: [.state(input.layout.away(of: input.me), [])], output: "you are back\n")
    }

    static let accept = contact(
        "accept",
        .accepted,
        abstract: "Accept someone's private messages (shown plainly, not as requests).",
        argument: "Whom to accept."
    )

    static let block = contact(
        "block",
        .blocked,
        abstract: "Hide everything from someone: messages, invitations, notices.",
        argument: "Whom to block."
    )

    static func contact(
        _ word: String,
        _ status: ChatState.Contact,
        abstract: String,
        argument: String
    ) -> ChatOperation {
        ChatOperation([word], abstract: abstract, arguments: [.init("user", .user, help: argument)]) {
            (input) throws(MQTTError) in
            ChatOperation.Outcome(
                publishes: [input.layout.contactPublish(of: input.me, for: input[0], status)],
                output: "\(status.rawValue) \(input[0])\n"
            )
        }
    }

    static let groupCreate = ChatOperation(
        ["group", "create"],
        abstract: "Create a group you own.",
        arguments: [.init("name", .groupName, help: "The group's name.")]
    ) { (input) throws(MQTTError) in
        let group = GroupID(owner: input.me, name: input[0])
        return ChatOperation.Outcome(
            publishes: [.state(input.layout.groupInfo(group), ChatState.groupCreated)],
            output: "created \(group)\n"
        )
    }

    static let groupJoin = ChatOperation(
        ["group", "join"],
        abstract: "Ask to join a group; its owner decides.",
        arguments: [.init("group", .group, help: "OWNER/NAME.")],
        readsDirectory: true
    ) { (input) throws(MQTTError) in
        let group = try input.existingGroup(0)
        if input.directory.isMember(input.me, ofGroup: group) {
            return ChatOperation.Outcome(note: "\(input.me) is already a member of \(group).")
        }
        // A new request each time; the owner sees it live and decides.
        let request = ChatState.groupRequest(.requested, id: input.requestID)
        return ChatOperation.Outcome(
            publishes: [.state(input.layout.groupRequest(group, by: input.me), request)],
            output: "asked \(group.owner) to let you join \(group)\n"
        )
    }

    /// approve, reject, remove: the owner's decision on `user`'s current request. Anyone may try: the broker
    /// refuses all but the owner.
    static func decision(_ decision: ChatState.GroupDecision) -> ChatOperation {
        let (word, abstract, user) =
            switch decision {
            case .approved: ("approve", "Approve a request to join your group.", "Who asked.")
            case .rejected: ("reject", "Reject a request to join your group.", "Who asked.")
            case .removed: ("remove", "Remove a member from your group.", "The member.")
            }
        return ChatOperation(
            ["group", word],
            abstract: abstract,
            arguments: [.init("group", .group, help: "OWNER/NAME."), .init("user", .user, help: user)],
            readsDirectory: true
        ) { (input) throws(MQTTError) in
            let (group, user, directory) = (try input.existingGroup(0), input[1], input.directory)
            guard let request = directory.request(of: user, for: group) else {
                throw MQTTError(.refusedByState, "\(user) has not asked to join \(group).")
            }
            if decision == .removed && !directory.isMember(user, ofGroup: group) {
                throw MQTTError(.refusedByState, "\(user) is not a member of \(group).")
            }
            if decision != .removed && !directory.pendingRequests(of: group).contains(user) {
                throw MQTTError(.refusedByState, "\(user)'s request to join \(group) was already decided.")
            }
            let state = ChatState.groupDecision(decision, request: request)
            return ChatOperation.Outcome(
                publishes: [.state(input.layout.groupDecision(group, for: user), state)],
                output: "\(decision.rawValue) \(user) for \(group)\n"
            )
        }
    }

    static let groupLeave = ChatOperation(
        ["group", "leave"],
        abstract: "Leave a group (or withdraw your request).",
        arguments: [.init("group", .group, help: "OWNER/NAME.")],
        readsDirectory: true
    ) { (input) throws(MQTTError) in
        let group = try input.existingGroup(0)
        guard group.owner != input.me else {
            throw MQTTError(.refusedByState, "\(input.me) owns \(group) and cannot leave it.")
        }
        guard input.directory.request(of: input.me, for: group) != nil else {
            throw MQTTError(.refusedByState, "\(input.me) is not in \(group) and has not asked to join it.")
        }
        let state = ChatState.groupRequest(.left, id: input.requestID)
        var outcome = ChatOperation.Outcome(publishes: [.state(input.layout.groupRequest(group, by: input.me), state)])
        if input.place == .group(group) { outcome.talk(in: ChatLayout.defaultRoom, input) }
        return outcome
    }

    static let groupTalk = ChatOperation(
        ["group", "talk"],
        abstract: "Talk in a group you are a member of.",
        arguments: [.init("group", .group, help: "OWNER/NAME.")],
        readsDirectory: true,
        promptOnly: true
    ) { (input) throws(MQTTError) in
        let group = try input.existingGroup(0)
        guard input.directory.isMember(input.me, ofGroup: group) else {
            throw MQTTError(.refusedByState, "\(input.me) is not a member of \(group) (yet).")
        }
        return ChatOperation.Outcome(place: .group(group))
    }

    public static let groups = ChatOperation(
        ["groups"],
        abstract: "Show every group with its members (and the requests to the groups you own).",
        readsDirectory: true
    ) { (input) throws(MQTTError) in
        ChatOperation.Outcome(
            output: String(decoding: DirectoryReport.groups(input.directory, format: .text), as: UTF8.self)
        )
    }
}

extension ChatOperations {
    public static let keys = ChatOperation(
        ["keys"],
        abstract: "Show your key's fingerprint; with a user, the one pinned for them and your safety number.",
        arguments: [.init("user", .user, optional: true, help: "Whose key.")],
        readsDirectory: true
    ) { (input) throws(MQTTError) in
        ChatOperation.Outcome(keys: .show(user: input.values[0]))
    }

    static let trust = ChatOperation(
        ["trust"],
        abstract: "Accept someone's new identity key (check it with them first: keys USER).",
        arguments: [.init("user", .user, help: "Whose key.")],
        readsDirectory: true
    ) { (input) throws(MQTTError) in
        ChatOperation.Outcome(keys: .trust(user: input[0]))
    }
}

extension ChatOperation.Input {
    /// The group at `index`, refused unless it exists.
    func existingGroup(_ index: Int) throws(MQTTError) -> GroupID {
        let group = self.group(index)
        guard directory.groups.contains(group) else {
            throw MQTTError(.refusedByState, "There is no group \(group) (publisher groups lists them).")
        }
        return group
    }
}

extension ChatOperation.Outcome {
    /// The prompt talks in `room` from now on, and tells the user's listeners (their focus).
    mutating func talk(in room: String, _ input: ChatOperation.Input) {
        place = .room(room)
        publishes.append(input.layout.focusPublish(of: input.me, room: room))
    }
}

extension ChatOperations {
    /// The command a prompt line (without its `/`) names, and its arguments: the longest run of first words that
    /// names a command, then one argument a word, except that a last argument of text takes the rest of the
    /// line (`/msg bob see you at 5`). Nil when the words name no command.
    public static func promptCommand(_ line: Substring) -> (ChatOperation, [String])? {
        let words = line.split(separator: " ")
        for count in [2, 1] where words.count >= count {
            guard let operation = named(words.prefix(count).map(String.init)) else { continue }
            var splits = Int.max
            let typed = operation.promptArguments
            if typed.last?.kind == .text { splits = count + typed.count - 1 }
            let given = line.split(separator: " ", maxSplits: splits).dropFirst(count).map {
                String($0.drop { $0 == " " })
            }
            return (operation, given)
        }
        return nil
    }
}
