/// One chat command, declared once: its words (`group approve`), its arguments, its help, and what it does as
/// a pure function of the broker's state (`ChatDirectory`): the publishes it results in, or a refusal. The
/// publisher's one-shot commands, the prompt's `/commands`, `/help`, the completions and the man page are all
/// generated from `ChatOperations.all`; nothing here connects, prints or reads a clock.
public struct ChatOperation: Sendable {
    /// One argument: what it is (so its name is checked as that), its help, and how it may be left out.
    public struct Argument: Sendable {
        public enum Kind: Sendable {
            case room, user, groupName, text
            /// `OWNER/NAME`.
            case group
        }

        public let name: String
        public let help: String
        public let kind: Kind
        /// May be left out everywhere (`who [room]`).
        public let optional: Bool
        /// At the prompt, may be left out for the room the prompt talks in (`/leave`, `/invite bob`).
        public let defaultsToPromptRoom: Bool
        /// At the prompt, always the room the prompt talks in, never typed there (`/topic [TEXT]`; the one-shot
        /// command takes it: `topic ROOM [TEXT]`).
        public let isPromptRoom: Bool

        public init(
            _ name: String,
            _ kind: Kind,
            optional: Bool = false,
            defaultsToPromptRoom: Bool = false,
            isPromptRoom: Bool = false,
            help: String
        ) {
            self.name = name
            self.help = help
            self.kind = kind
            self.optional = optional
            self.defaultsToPromptRoom = defaultsToPromptRoom
            self.isPromptRoom = isPromptRoom
        }

        /// What a name of this kind is called in a refusal (`Invalid room "a/b": ...`).
        var what: String? {
            switch self.kind {
            case .room: "room"
            case .user: "user name"
            case .groupName: "group name"
            case .group, .text: nil
            }
        }
    }

    /// The words that name it: `["join"]`, `["group", "approve"]`.
    public let words: [String]
    /// One sentence: the one-shot command's help, and its line in the prompt's `/help`.
    public let abstract: String
    public let arguments: [Argument]
    /// Whether its checks read the broker's state (a one-shot command then waits for the snapshot first).
    public let readsDirectory: Bool
    /// Only at the prompt (`/group talk`): it changes where the prompt talks, which a one-shot has no use for.
    public let promptOnly: Bool
    private let decide: @Sendable (Input) throws(MQTTError) -> Outcome

    public init(
        _ words: [String],
        abstract: String,
        arguments: [Argument] = [],
        readsDirectory: Bool = false,
        promptOnly: Bool = false,
        perform: @escaping @Sendable (Input) throws(MQTTError) -> Outcome
    ) {
        self.words = words
        self.abstract = abstract
        self.arguments = arguments
        self.readsDirectory = readsDirectory
        self.promptOnly = promptOnly
        self.decide = perform
    }

    /// What the prompt calls it: `/group approve`.
    public var promptName: String { "/" + words.joined(separator: " ") }

    /// The command's values in declared order, checked: names are valid names of their kind, a group is
    /// OWNER/NAME. At the prompt (`place` given) an argument that defaults to the prompt's room may be left out.
    /// Throws a usage error (`invalidArgument`).
    public func values(_ given: [String], place: ChatPlace?) throws(MQTTError) -> [String?] {
        var values: [String?] = []
        var index = 0
        for argument in arguments {
            if argument.isPromptRoom, let place {
                guard case .room(let room) = place else {
                    throw MQTTError(.refusedByState, "\(promptName) works in a room; this prompt talks to \(place).")
                }
                values.append(room)
                continue
            }
            var value = index < given.count ? given[index] : nil
            index += 1
            if value == nil, argument.defaultsToPromptRoom, case .room(let room) = place { value = room }
            guard let value else {
                guard argument.optional else { throw usage() }
                values.append(nil)
                continue
            }
            if let what = argument.what { try ChatName.validate(value, as: what) }
            if argument.kind == .group { _ = try GroupID(parsing: value) }
            values.append(value)
        }
        if given.count > index { throw usage() }
        return values
    }

    /// `usage: /invite <user> [<room>]`, the prompt's answer to a wrong number of arguments.
    func usage() -> MQTTError {
        MQTTError(.invalidArgument, "usage: \(promptUsage)")
    }

    /// `/invite <user> [<room>]`.
    public var promptUsage: String {
        ([promptName]
            + promptArguments.map { $0.optional || $0.defaultsToPromptRoom ? "[<\($0.name)>]" : "<\($0.name)>" })
            .joined(separator: " ")
    }

    /// The arguments typed at the prompt.
    public var promptArguments: [Argument] { arguments.filter { !$0.isPromptRoom } }

    /// Checks and decides: the publishes, or a refusal (`refusedByState`, or `invalidArgument` for a usage
    /// error). `values` come from `values(_:place:)`.
    public func perform(_ input: Input) throws(MQTTError) -> Outcome {
        try decide(input)
    }
}

extension ChatOperation {
    /// Where the prompt's plain lines go.
    public enum Place: Sendable, Hashable, CustomStringConvertible {
        case room(String)
        case user(String)
        case group(GroupID)

        /// How the prompt shows it: `#rust`, `@bob`, `[alice/robots]`.
        public var description: String {
            switch self {
            case .room(let room): "#" + room
            case .user(let user): "@" + user
            case .group(let group): "[\(group)]"
            }
        }
    }

    /// What a command works with.
    public struct Input: Sendable {
        public var layout: ChatLayout
        public var me: String
        /// The arguments, checked, in declared order (nil: an optional one not given).
        public var values: [String?]
        /// The broker's state, for a command that `readsDirectory` (else empty).
        public var directory: ChatDirectory
        /// Where the prompt talks; nil for a one-shot command.
        public var place: ChatPlace?
        /// The time put on messages, and the id of a new group request (the caller's clock and randomness).
        public var time: ChatTimestamp
        public var requestID: String

        public init(
            layout: ChatLayout = ChatLayout(),
            me: String,
            values: [String?],
            directory: ChatDirectory? = nil,
            place: ChatPlace? = nil,
            time: ChatTimestamp,
            requestID: String
        ) {
            self.layout = layout
            self.me = me
            self.values = values
            self.directory = directory ?? ChatDirectory(me: me)
            self.place = place
            self.time = time
            self.requestID = requestID
        }

        /// The argument at `index`, which is given (required, or defaulted).
        subscript(_ index: Int) -> String { values[index] ?? "" }

        /// The group at `index`, already checked to be OWNER/NAME.
        func group(_ index: Int) -> GroupID {
            (try? GroupID(parsing: self[index])) ?? GroupID(owner: "", name: "")
        }
    }

    /// What a command results in.
    public struct Outcome: Sendable, Equatable {
        /// In order, each acknowledged before the next goes.
        public var publishes: [ChatPublish] = []
        /// Where the prompt talks from now on; nil: where it did.
        public var place: ChatPlace?
        /// What the prompt says once the publishes are acknowledged (`invited bob to #rust`), or a report it shows.
        public var output: String?
        /// Said on stderr instead of doing anything, which is not a failure (`bob is already a member of ...`).
        public var note: String?
        /// Work on the user's keys that the tool does with its key files (`keys`, `trust`; ChatCrypto).
        public var keys: KeyRequest?

        public init(
            publishes: [ChatPublish] = [],
            place: ChatPlace? = nil,
            output: String? = nil,
            note: String? = nil,
            keys: KeyRequest? = nil
        ) {
            self.publishes = publishes
            self.place = place
            self.output = output
            self.note = note
            self.keys = keys
        }
    }

    /// What `keys` and `trust` ask of the user's key files.
    public enum KeyRequest: Sendable, Hashable {
        /// Your fingerprint; with a user, their pinned one and your safety number.
        case show(user: String?)
        /// Pin `user`'s published identity key.
        case trust(user: String)
    }
}

public typealias ChatPlace = ChatOperation.Place

/// One publish of a command: retained state (QoS 1) or a message (QoS 2: exactly once, also to a listener
/// that was away).
public struct ChatPublish: Sendable, Hashable {
    public enum Kind: Sendable, Hashable {
        case state
        case message
    }

    public var topic: String
    public var payload: [UInt8]
    public var kind: Kind

    public static func state(_ topic: String, _ payload: [UInt8]) -> ChatPublish {
        ChatPublish(topic: topic, payload: payload, kind: .state)
    }

    public static func message(_ topic: String, _ message: ChatMessage) -> ChatPublish {
        ChatPublish(topic: topic, payload: message.encoded(), kind: .message)
    }
}

extension ChatLayout {
    /// Accepting or blocking `user`, as `me`.
    public func contactPublish(of me: String, for user: String, _ status: ChatState.Contact) -> ChatPublish {
        .state(contact(of: me, for: user), ChatState.contact(status))
    }

    /// The room `me` talks in, so their listeners in other terminals leave its name off their lines.
    public func focusPublish(of me: String, room: String) -> ChatPublish {
        .state(focus(of: me), ChatState.focus(room: room))
    }

    /// A private message; writing to someone accepts them, so their answers are not shown as requests.
    public func privateMessage(from me: String, to user: String, _ text: String, time: ChatTimestamp) -> [ChatPublish] {
        publishes(.message(from: me, text, time: time), to: .user(user))
    }

    /// `message` (by `message.from`) where the prompt talks: a room, a person (which accepts them), a group.
    public func publishes(_ message: ChatMessage, to place: ChatPlace) -> [ChatPublish] {
        switch place {
        case .room(let room): [.message(self.room(room, sender: message.from), message)]
        case .user(let user):
            [
                contactPublish(of: message.from, for: user, .accepted),
                .message(inbox(of: user, from: message.from), message),
            ]
        case .group(let group): [.message(groupMessage(group, sender: message.from), message)]
        }
    }
}
