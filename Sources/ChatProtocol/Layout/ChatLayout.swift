/// The topics of the chat, under one root (default `chat`). Every topic carries the sender, or the owner of
/// a piece of state, in a level the shipped acl.conf ties to the login (`%u`), so a topic proves who wrote it
/// wherever the broker enforces those rules.
///
/// | what | topic |
/// |---|---|
/// | room message | `chat/rooms/<room>/<sender>` |
/// | private message, invitation | `chat/users/<to>/inbox/<sender>` |
/// | rooms a user joined (public, retained) | `chat/users/<user>/rooms/<room>` |
/// | presence, one per connection (public, retained, cleared by the will) | `chat/users/<user>/online/<client id>` |
/// | a user's away message, until they are back (public, retained) | `chat/users/<user>/away` |
/// | whom a user accepted or blocked (private, retained) | `chat/users/<user>/private/contacts/<other>` |
/// | the room a user is talking in (private, retained) | `chat/users/<user>/private/focus` |
/// | end-of-snapshot marker (private) | `chat/users/<user>/private/sync/<client id>` |
/// | a group (retained, by its owner) | `chat/groups/<owner>/<name>/info` |
/// | the owner's decision on a member (retained) | `chat/groups/<owner>/<name>/members/<user>` |
/// | a user's request to join, or leaving (retained) | `chat/groups/<owner>/<name>/requests/<user>` |
/// | a group message (QoS 2) | `chat/groups/<owner>/<name>/messages/<sender>` |
/// | a member's group keys, sealed and signed by the owner (retained; only the owner writes, the member reads) | `chat/groups/<owner>/<name>/keys/<member>` |
/// | a user's public keys, signed by their identity key (public, retained) | `chat/users/<user>/keys` |
/// | a room's topic as one user set it (retained; the newest setter's counts) | `chat/topics/<room>/<setter>` |
public struct ChatLayout: Sendable, Hashable {
    public var root: String

    public init(root: String = "chat") {
        self.root = root
    }

    /// The room everyone is in unless they left it, and where both tools talk by default.
    public static let defaultRoom = "general"

    public func room(_ room: String, sender: String) -> String { "\(root)/rooms/\(room)/\(sender)" }
    public func roomFilter(_ room: String) -> String { "\(root)/rooms/\(room)/+" }
    public var allRoomsFilter: String { "\(root)/rooms/+/+" }

    public func inbox(of user: String, from sender: String) -> String { "\(root)/users/\(user)/inbox/\(sender)" }
    public func inboxFilter(of user: String) -> String { "\(root)/users/\(user)/inbox/+" }

    public func membership(of user: String, in room: String) -> String { "\(root)/users/\(user)/rooms/\(room)" }
    public var membershipsFilter: String { "\(root)/users/+/rooms/+" }

    public func presence(of user: String, client: String) -> String { "\(root)/users/\(user)/online/\(client)" }
    public var presenceFilter: String { "\(root)/users/+/online/+" }

    public func away(of user: String) -> String { "\(root)/users/\(user)/away" }
    public var awayFilter: String { "\(root)/users/+/away" }

    public func roomTopic(_ room: String, setter: String) -> String { "\(root)/topics/\(room)/\(setter)" }
    public var roomTopicsFilter: String { "\(root)/topics/+/+" }

    public func privateFilter(of user: String) -> String { "\(root)/users/\(user)/private/#" }
    public func contact(of owner: String, for user: String) -> String {
        "\(root)/users/\(owner)/private/contacts/\(user)"
    }
    public func focus(of user: String) -> String { "\(root)/users/\(user)/private/focus" }
    public func sync(of user: String, client: String) -> String { "\(root)/users/\(user)/private/sync/\(client)" }

    public func groupInfo(_ group: GroupID) -> String { "\(root)/groups/\(group)/info" }
    public func groupDecision(_ group: GroupID, for user: String) -> String {
        "\(root)/groups/\(group)/members/\(user)"
    }
    public func groupRequest(_ group: GroupID, by user: String) -> String { "\(root)/groups/\(group)/requests/\(user)" }
    public func groupMessage(_ group: GroupID, sender: String) -> String {
        "\(root)/groups/\(group)/messages/\(sender)"
    }
    public func groupMessagesFilter(_ group: GroupID) -> String { "\(root)/groups/\(group)/messages/+" }
    public var allGroupMessagesFilter: String { "\(root)/groups/+/+/messages/+" }
    /// The keys the owner of `group` hands `member` (ChatCrypto's `GroupKeys`).
    public func groupKeys(_ group: GroupID, for member: String) -> String { "\(root)/groups/\(group)/keys/\(member)" }
    public func groupKeysFilter(of member: String) -> String { "\(root)/groups/+/+/keys/\(member)" }
    public func groupKeysFilter(_ group: GroupID) -> String { "\(root)/groups/\(group)/keys/+" }
    /// Every group's retained state: creation, decisions, requests.
    public var groupStateFilters: [String] {
        ["\(root)/groups/+/+/info", "\(root)/groups/+/+/members/+", "\(root)/groups/+/+/requests/+"]
    }

    /// A user's key bundle (ChatCrypto's `KeyBundle`): their identity key and the device keys it signs.
    public func keys(of user: String) -> String { "\(root)/users/\(user)/keys" }
    public var keysFilter: String { "\(root)/users/+/keys" }

    /// The retained state a listener of `user` reads: everyone's memberships, presence and groups, and the
    /// user's own private state and group keys; then everyone's away messages, the rooms' topics and
    /// everyone's keys.
    public func stateFilters(of user: String) -> [String] {
        [membershipsFilter, presenceFilter, privateFilter(of: user)] + groupStateFilters + [
            groupKeysFilter(of: user), awayFilter, roomTopicsFilter, keysFilter,
        ]
    }

    /// What a topic of this layout is; nil for any other topic (a raw `-t` topic, a malformed level).
    /// On every message's path: the levels stay substrings, and only the names returned become strings.
    public func parse(_ topic: String) -> ChatTopic? {
        // One pass over the bytes, no closures (one parse per message).
        var levels: [Substring] = []
        levels.reserveCapacity(7)
        let utf8 = topic.utf8
        var start = utf8.startIndex
        var index = start
        while index != utf8.endIndex {
            if utf8[index] == UInt8(ascii: "/") {
                guard index != start, levels.count < 6 else { return nil }
                levels.append(topic[start..<index])
                start = utf8.index(after: index)
            }
            index = utf8.index(after: index)
        }
        guard start != utf8.endIndex else { return nil }
        levels.append(topic[start...])
        guard levels.count >= 4, levels.count <= 6, levels[0] == root else { return nil }
        let name = { (index: Int) in String(levels[index]) }
        switch (levels[1], levels.count) {
        case ("users", 4) where levels[3] == "keys":
            return .keys(user: name(2))
        case ("rooms", 4):
            return .room(room: name(2), sender: name(3))
        case ("topics", 4):
            return .roomTopic(room: name(2), setter: name(3))
        case ("users", 4) where levels[3] == "away":
            return .away(user: name(2))
        case ("users", 5):
            switch levels[3] {
            case "inbox": return .inbox(user: name(2), sender: name(4))
            case "rooms": return .membership(user: name(2), room: name(4))
            case "online": return .presence(user: name(2), client: name(4))
            case "private" where levels[4] == "focus": return .focus(user: name(2))
            default: return nil
            }
        case ("groups", 5) where levels[4] == "info":
            return .groupInfo(GroupID(owner: name(2), name: name(3)))
        case ("groups", 6):
            let group = GroupID(owner: name(2), name: name(3))
            switch levels[4] {
            case "members": return .groupDecision(group, user: name(5))
            case "requests": return .groupRequest(group, user: name(5))
            case "messages": return .groupMessage(group, sender: name(5))
            case "keys": return .groupKeys(group, member: name(5))
            default: return nil
            }
        case ("users", 6) where levels[3] == "private":
            switch levels[4] {
            case "contacts": return .contact(owner: name(2), user: name(5))
            case "sync": return .sync(user: name(2), client: name(5))
            default: return nil
            }
        default:
            return nil
        }
    }
}

/// One topic of the layout, with the names its levels carry.
public enum ChatTopic: Sendable, Hashable {
    case room(room: String, sender: String)
    case inbox(user: String, sender: String)
    case membership(user: String, room: String)
    case presence(user: String, client: String)
    case contact(owner: String, user: String)
    case focus(user: String)
    case sync(user: String, client: String)
    case groupInfo(GroupID)
    case groupDecision(GroupID, user: String)
    case groupRequest(GroupID, user: String)
    case groupMessage(GroupID, sender: String)
    case groupKeys(GroupID, member: String)
    case keys(user: String)
    case away(user: String)
    case roomTopic(room: String, setter: String)
}

/// A group is named by its owner and its name (`alice/robots`), so two people can each have a `robots` and
/// nobody can take over another's: only the owner may write the group's state (acl.conf, `%u`).
public struct GroupID: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var owner: String
    public var name: String

    public init(owner: String, name: String) {
        self.owner = owner
        self.name = name
    }

    /// `OWNER/NAME`, both valid names; throws a usage error otherwise.
    public init(parsing text: String) throws(MQTTError) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 2 else {
            throw MQTTError(
                .invalidArgument,
                "Invalid group \"\(TerminalText.sanitize(text, limit: 80))\": write it OWNER/NAME."
            )
        }
        try ChatName.validate(parts[0], as: "group owner")
        try ChatName.validate(parts[1], as: "group name")
        self.init(owner: parts[0], name: parts[1])
    }

    public var description: String { "\(owner)/\(name)" }

    public static func < (lhs: GroupID, rhs: GroupID) -> Bool { (lhs.owner, lhs.name) < (rhs.owner, rhs.name) }
}
