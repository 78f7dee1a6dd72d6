/// What the broker's retained state says about everyone: who joined which room, who is online, whom this
/// user accepted or blocked, which room they talk in. A pure reducer over layout messages, so every terminal
/// that reads the same broker agrees, and so it is testable without one.
public struct ChatDirectory: Sendable {
    /// A change worth telling the user about.
    public enum Change: Sendable, Hashable {
        case joined(user: String, room: String)
        case left(user: String, room: String)
        case online(user: String)
        case offline(user: String)
        case contact(user: String, ChatState.Contact?)
        case focus(room: String?)
        case groupCreated(GroupID)
        /// `user` asks to join (a new request, not yet decided).
        case groupRequested(GroupID, user: String)
        /// The owner decided on `user`'s current request.
        case groupDecided(GroupID, user: String, ChatState.GroupDecision)
        /// `user` became a member, or stopped being one (left, removed).
        case groupMember(GroupID, user: String, joined: Bool)
        /// `user`'s key bundle changed (or went away); what it says is ChatCrypto's to check.
        case keys(user: String)
        /// `user` went away saying `text` (possibly nothing), or came back (nil).
        case away(user: String, String?)
        /// The room's topic is now the newest one set (an empty text, or nil when none is left: no topic).
        case roomTopic(room: String, RoomTopic?)
    }

    /// A room's topic as one user set it.
    public struct RoomTopic: Sendable, Hashable {
        public var text: String
        /// Who set it, as the topic level proves.
        public var setter: String
        /// When they set it, by their clock (the state's time stamp); nil when the payload has none.
        public var at: ChatTimestamp?

        public init(text: String, setter: String, at: ChatTimestamp?) {
            (self.text, self.setter, self.at) = (text, setter, at)
        }

        /// The newest of two: by time stamp (none counts as oldest), then by setter, so every terminal agrees.
        func isNewer(than other: RoomTopic) -> Bool {
            let (mine, theirs) = (at?.millisecondsSince1970 ?? .min, other.at?.millisecondsSince1970 ?? .min)
            return (mine, setter) > (theirs, other.setter)
        }
    }

    /// One group's retained state.
    struct Group: Sendable, Hashable {
        struct Claim: Sendable, Hashable {
            var status: String
            var request: String
        }
        var exists = false
        var requests: [String: Claim] = [:]
        var decisions: [String: Claim] = [:]

        func isMember(_ user: String, owner: String) -> Bool {
            if user == owner { return exists }
            return exists && decision(of: user) == .approved
        }

        /// The owner's decision on `user`'s current request (nil: none yet, or the request was withdrawn).
        func decision(of user: String) -> ChatState.GroupDecision? {
            guard let request = requests[user], request.status == ChatState.GroupRequest.requested.rawValue,
                let decision = decisions[user], decision.request == request.request
            else { return nil }
            return ChatState.GroupDecision(rawValue: decision.status)
        }

        func isPending(_ user: String) -> Bool {
            requests[user]?.status == ChatState.GroupRequest.requested.rawValue && decision(of: user) == nil
        }
    }

    public let me: String
    /// user -> room -> joined (true) or explicitly left (false; only meaningful for the default room).
    private var memberships: [String: [String: Bool]] = [:]
    /// user -> their connections that are online -> when that presence expires (MQTT 5 message expiry,
    /// in milliseconds since 1970; nil: never, until its will or its owner clears it).
    private var connections: [String: [String: Int64?]] = [:]
    public private(set) var contacts: [String: ChatState.Contact] = [:]
    /// The room this user talks in (set by the publisher's prompt); nil: the default room.
    public private(set) var focus: String?
    private var groupStates: [GroupID: Group] = [:]
    /// Every user's key bundle as published (retained), unchecked: ChatCrypto verifies its signature.
    public private(set) var keyBundles: [String: [UInt8]] = [:]
    /// The keys each group's owner handed this user (retained), unchecked: ChatCrypto opens and verifies them.
    public private(set) var groupKeys: [GroupID: [UInt8]] = [:]
    /// user -> what they said when they went away ("" for nothing); absent: not away.
    private var awayTexts: [String: String] = [:]
    /// room -> setter -> the topic they set: the newest counts.
    private var topicClaims: [String: [String: RoomTopic]] = [:]

    public init(me: String) {
        self.me = me
    }

    /// Applies one state message; returns what changed. Anything malformed is ignored. `expiresAt`: when a
    /// presence lapses unless renewed (from the message's expiry).
    public mutating func apply(_ topic: ChatTopic, payload: [UInt8], expiresAt: ChatTimestamp? = nil) -> [Change] {
        switch topic {
        case .membership(let user, let room):
            let before = isMember(user, of: room)
            switch payload.isEmpty ? nil : ChatState.members(payload)?["state"] {
            case "joined": memberships[user, default: [:]][room] = true
            case "left": memberships[user, default: [:]][room] = false
            case nil where payload.isEmpty: memberships[user]?[room] = nil
            default: return []
            }
            let after = isMember(user, of: room)
            guard before != after else { return [] }
            return [after ? .joined(user: user, room: room) : .left(user: user, room: room)]
        case .presence(let user, let client):
            let before = isOnline(user)
            if payload.isEmpty {
                connections[user]?[client] = nil
                if connections[user]?.isEmpty == true { connections[user] = nil }
            } else if ChatState.members(payload)?["status"] == "online" {
                connections[user, default: [:]][client] = .some(expiresAt?.millisecondsSince1970)
            } else {
                return []
            }
            let after = isOnline(user)
            guard before != after else { return [] }
            return [after ? .online(user: user) : .offline(user: user)]
        case .contact(let owner, let user) where owner == me:
            let status = payload.isEmpty ? nil : ChatState.members(payload)?["status"].flatMap(ChatState.Contact.init)
            guard payload.isEmpty || status != nil, contacts[user] != status else { return [] }
            contacts[user] = status
            return [.contact(user: user, status)]
        case .groupInfo(let group):
            let created = !payload.isEmpty && ChatState.members(payload)?["state"] == "created"
            guard payload.isEmpty || created else { return [] }
            return changingGroup(group) { $0.exists = created }
        case .groupRequest(let group, let user), .groupDecision(let group, let user):
            let claim: Group.Claim?
            if payload.isEmpty {
                claim = nil
            } else {
                guard let members = ChatState.members(payload), let status = members["status"],
                    let request = members["request"]
                else { return [] }
                claim = Group.Claim(status: status, request: request)
            }
            if case .groupRequest = topic {
                return changingGroup(group) { $0.requests[user] = claim }
            }
            return changingGroup(group) { $0.decisions[user] = claim }
        case .away(let user):
            var text: String?
            if !payload.isEmpty {
                guard let members = ChatState.members(payload), members["status"] == "away" else { return [] }
                text = members["away"] ?? ""
            }
            guard awayTexts[user] != text else { return [] }
            awayTexts[user] = text
            return [.away(user: user, text)]
        case .roomTopic(let room, let setter):
            let before = newestTopic(of: room)
            if payload.isEmpty {
                topicClaims[room]?[setter] = nil
            } else {
                guard let members = ChatState.members(payload), let text = members["topic"] else { return [] }
                let at = members["at"].flatMap { ChatTimestamp(rfc3339: $0) }
                topicClaims[room, default: [:]][setter] = RoomTopic(text: text, setter: setter, at: at)
            }
            let after = newestTopic(of: room)
            guard before != after else { return [] }
            return [.roomTopic(room: room, after)]
        case .focus(let user) where user == me:
            let room = payload.isEmpty ? nil : ChatState.members(payload)?["room"]
            guard room != focus, room.map({ ChatName.problem(with: $0) == nil }) ?? true else { return [] }
            focus = room
            return [.focus(room: room)]
        case .keys(let user):
            let bundle = payload.isEmpty ? nil : payload
            guard keyBundles[user] != bundle else { return [] }
            keyBundles[user] = bundle
            return [.keys(user: user)]
        case .groupKeys(let group, let member) where member == me:
            // Nothing to announce: the opener takes them when a message needs them.
            groupKeys[group] = payload.isEmpty ? nil : payload
            return []
        default:
            return []
        }
    }

    /// The newest topic set for `room`, an empty (cleared) one included.
    private func newestTopic(of room: String) -> RoomTopic? {
        topicClaims[room]?.values.reduce(nil) { newest, claim in
            guard let newest, !claim.isNewer(than: newest) else { return claim }
            return newest
        }
    }

    /// The room's topic; nil when it has none (never set, or cleared).
    public func topic(of room: String) -> RoomTopic? {
        newestTopic(of: room).flatMap { $0.text.isEmpty ? nil : $0 }
    }

    /// What `user` said going away ("" for nothing), while they are away and online: offline wins.
    public func awayText(of user: String) -> String? { isOnline(user) ? awayTexts[user] : nil }

    /// Everyone the directory knows of (in a room, online, away, a contact), sorted.
    public var knownUsers: [String] {
        Set(memberships.keys).union(connections.keys).union(awayTexts.keys).union(contacts.keys).union([me]).sorted()
    }

    /// Every room someone joined or that has a topic, sorted, the default room first.
    public var knownRooms: [String] {
        var rooms = Set(memberships.values.flatMap { $0.filter(\.value).keys }).union(topicClaims.keys)
        rooms.insert(ChatLayout.defaultRoom)
        return Self.ordered(rooms)
    }

    /// Removes the presences whose expiry passed by `now` (their connection died with a broker that could
    /// not send its will, and nobody renewed them); returns who went offline.
    public mutating func expirePresence(now: ChatTimestamp) -> [Change] {
        var changes: [Change] = []
        for (user, clients) in connections.sorted(by: { $0.key < $1.key }) {
            let live = clients.filter { $0.value.map { $0 > now.millisecondsSince1970 } ?? true }
            guard live.count != clients.count else { continue }
            connections[user] = live.isEmpty ? nil : live
            if live.isEmpty { changes.append(.offline(user: user)) }
        }
        return changes
    }

    /// Applies a change to one group and says what it changed for whom.
    private mutating func changingGroup(_ id: GroupID, _ change: (inout Group) -> Void) -> [Change] {
        let before = groupStates[id] ?? Group()
        var after = before
        change(&after)
        groupStates[id] = after
        var changes: [Change] = []
        if after.exists && !before.exists { changes.append(.groupCreated(id)) }
        let users = Set(before.requests.keys).union(after.requests.keys).union(after.decisions.keys).union([id.owner])
        for user in users.sorted() {
            if after.isPending(user) && !before.isPending(user) { changes.append(.groupRequested(id, user: user)) }
            if let decision = after.decision(of: user), decision != before.decision(of: user) {
                changes.append(.groupDecided(id, user: user, decision))
            }
            let (was, isNow) = (before.isMember(user, owner: id.owner), after.isMember(user, owner: id.owner))
            if was != isNow { changes.append(.groupMember(id, user: user, joined: isNow)) }
        }
        return changes
    }

    /// Every group that exists, sorted.
    public var groups: [GroupID] { groupStates.filter(\.value.exists).keys.sorted() }

    /// The owner and every approved member who has not left, the owner first.
    public func members(of group: GroupID) -> [String] {
        guard let state = groupStates[group], state.exists else { return [] }
        let approved = Set(state.requests.keys).filter { state.isMember($0, owner: group.owner) && $0 != group.owner }
        return [group.owner] + approved.sorted()
    }

    /// Requests the owner has not decided yet.
    public func pendingRequests(of group: GroupID) -> [String] {
        guard let state = groupStates[group], state.exists else { return [] }
        return state.requests.keys.filter { state.isPending($0) }.sorted()
    }

    public func isMember(_ user: String, ofGroup group: GroupID) -> Bool {
        groupStates[group]?.isMember(user, owner: group.owner) ?? false
    }

    /// The current request id of `user` for `group`, if they asked to join and have not left.
    public func request(of user: String, for group: GroupID) -> String? {
        guard let request = groupStates[group]?.requests[user],
            request.status == ChatState.GroupRequest.requested.rawValue
        else { return nil }
        return request.request
    }

    /// The groups `user` is a member of (owned ones included), sorted.
    public func groups(of user: String) -> [GroupID] { groups.filter { isMember(user, ofGroup: $0) } }

    /// Whether `user` is in `room`: joined, or the default room unless they left it.
    public func isMember(_ user: String, of room: String) -> Bool {
        memberships[user]?[room] ?? (room == ChatLayout.defaultRoom)
    }

    /// The rooms `user` is in, sorted, the default room first unless they left it.
    public func rooms(of user: String) -> [String] {
        var rooms = Set((memberships[user] ?? [:]).filter(\.value).keys)
        if isMember(user, of: ChatLayout.defaultRoom) { rooms.insert(ChatLayout.defaultRoom) }
        return Self.ordered(rooms)
    }

    public func isOnline(_ user: String) -> Bool { !(connections[user]?.isEmpty ?? true) }

    /// How many connections `user` has online.
    public func connectionCount(of user: String) -> Int { connections[user]?.count ?? 0 }

    /// Everyone online, sorted.
    public var onlineUsers: [String] { connections.keys.sorted() }

    /// Everyone known to have joined `room` (the default room: everyone known who has not left it).
    public func members(of room: String) -> [String] {
        let known = Set(memberships.keys).union(connections.keys).union([me])
        return known.filter { isMember($0, of: room) }.sorted()
    }

    /// Every room someone is in, with its members, the default room first.
    public var roomsWithPeople: [(room: String, members: [String])] {
        var rooms = Set(memberships.values.flatMap { $0.filter(\.value).keys })
        rooms.insert(ChatLayout.defaultRoom)
        return Self.ordered(rooms).map { ($0, members(of: $0)) }.filter {
            !$0.members.isEmpty || $0.room == ChatLayout.defaultRoom
        }
    }

    /// Whether `user` is in a room this user is in.
    public func sharesRoom(with user: String) -> Bool {
        let mine = Set(rooms(of: me))
        return rooms(of: user).contains { mine.contains($0) }
    }

    private static func ordered(_ rooms: Set<String>) -> [String] {
        rooms.sorted { ($0 == ChatLayout.defaultRoom ? 0 : 1, $0) < ($1 == ChatLayout.defaultRoom ? 0 : 1, $1) }
    }
}
