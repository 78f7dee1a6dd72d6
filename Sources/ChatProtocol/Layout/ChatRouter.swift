/// Decides what the listener shows for each message of the layout, and which rooms it must follow.
///
/// State messages (memberships, presence, contacts, focus) go to the `ChatDirectory`; chat messages are
/// shown with the sender their topic proves. Until the snapshot of retained state is complete (the listener's
/// own sync marker comes back), chat messages are held: a persistent session delivers queued messages before
/// any SUBSCRIBE is answered, and whether they show depends on memberships and contacts not yet read.
/// Pure: no broker, no I/O, so every rule here is unit-tested.
public struct ChatRouter: Sendable {
    /// What the listener follows.
    public enum Follow: Sendable, Hashable {
        /// The default room (unless left), every room joined (live), the inbox, arrivals and departures.
        case joined
        /// Just these rooms (`--room`) and groups (`--group`), and the presence of the rooms' members.
        case selected(rooms: [String], groups: [GroupID])
        /// Every room (`--all`, the instructor's projector).
        case all
    }

    /// Something the listener must do for the router.
    public enum Action: Sendable, Hashable {
        case follow(room: String)
        case unfollow(room: String)
        case followGroup(GroupID)
        case unfollowGroup(GroupID)
        /// The snapshot is complete.
        case synced
    }

    public let layout: ChatLayout
    public let follow: Follow
    public private(set) var directory: ChatDirectory
    /// Whether the broker enforces the layout's ACL, so topics prove their senders; nil until known (the
    /// snapshot does not end before it is).
    public private(set) var verified: Bool?
    /// The client id whose sync marker ends the snapshot.
    public let client: String
    public private(set) var synced = false
    private var markerSeen = false
    private var held: [MQTTMessage] = []

    public init(layout: ChatLayout, me: String, client: String, follow: Follow, verified: Bool?) {
        self.layout = layout
        self.follow = follow
        self.client = client
        self.verified = verified
        directory = ChatDirectory(me: me)
    }

    public var me: String { directory.me }

    /// The rooms to follow now.
    public var followedRooms: [String] {
        switch follow {
        case .joined: directory.rooms(of: me)
        case .selected(let rooms, _): rooms
        case .all: []
        }
    }

    /// The groups to follow now: those this user is a member of (and, with `--group`, asked for).
    public var followedGroups: [GroupID] {
        switch follow {
        case .joined: directory.groups(of: me)
        case .selected(_, let groups): groups.filter { directory.isMember(me, ofGroup: $0) }
        case .all: []
        }
    }

    private func follows(_ room: String) -> Bool {
        switch follow {
        case .joined: directory.isMember(me, of: room)
        case .selected(let rooms, _): rooms.contains(room)
        case .all: true
        }
    }

    /// The room named on no line: the one the user talks in.
    private var currentRoom: String? {
        switch follow {
        case .joined: directory.focus ?? ChatLayout.defaultRoom
        case .selected(let rooms, let groups): rooms.count == 1 && groups.isEmpty ? rooms[0] : nil
        case .all: nil
        }
    }

    /// Routes one message: the lines to show and what to do.
    public mutating func route(_ message: MQTTMessage) -> (lines: [ChatLine], actions: [Action]) {
        guard let topic = layout.parse(message.topic) else { return ([], []) }
        switch topic {
        case .room, .inbox, .groupMessage:
            guard synced else {
                held.append(message)
                return ([], [])
            }
            return (line(for: message, topic).map { [$0] } ?? [], [])
        case .sync(let user, let client):
            guard user == me, client == self.client, !synced else { return ([], []) }
            markerSeen = true
            return verified == nil ? ([], []) : finishSnapshot()
        default:
            let (roomsBefore, groupsBefore) = (followedRooms, followedGroups)
            let changes = directory.apply(topic, payload: message.payload)
            var actions = followChanges(from: roomsBefore, groupsBefore)
            guard synced else {
                actions.removeAll()
                return ([], actions)
            }
            return (changes.compactMap { notice(for: $0, topic: message.topic) }, actions)
        }
    }

    /// Records whether the broker proves senders; ends the snapshot if the marker is already back.
    public mutating func setVerified(_ verified: Bool) -> (lines: [ChatLine], actions: [Action]) {
        self.verified = verified
        return markerSeen ? finishSnapshot() : ([], [])
    }

    /// Ends the snapshot (the marker came back, or the listener stopped waiting for it): shows what was held.
    public mutating func finishSnapshot() -> (lines: [ChatLine], actions: [Action]) {
        guard !synced else { return ([], []) }
        synced = true
        if verified == nil { verified = false }
        let messages = held
        held = []
        var lines: [ChatLine] = []
        for message in messages {
            if let topic = layout.parse(message.topic), let line = line(for: message, topic) { lines.append(line) }
        }
        return (lines, followedRooms.map { .follow(room: $0) } + followedGroups.map { .followGroup($0) } + [.synced])
    }

    private func followChanges(from rooms: [String], _ groups: [GroupID]) -> [Action] {
        let (roomsNow, groupsNow) = (followedRooms, followedGroups)
        return roomsNow.filter { !rooms.contains($0) }.map { .follow(room: $0) }
            + rooms.filter { !roomsNow.contains($0) }.map { .unfollow(room: $0) }
            + groupsNow.filter { !groups.contains($0) }.map { .followGroup($0) }
            + groups.filter { !groupsNow.contains($0) }.map { .unfollowGroup($0) }
    }

    private func notice(for change: ChatDirectory.Change, topic: String) -> ChatLine? {
        let event: ChatLine.Event
        let user: String
        switch change {
        case .joined(let who, let room) where follows(room) || who == me:
            (user, event) = (who, .joined(room: room))
        case .left(let who, let room) where follows(room) || who == me:
            (user, event) = (who, .left(room: room))
        case .online(let who) where who != me && sharesFollowedRoom(who):
            (user, event) = (who, .online)
        case .offline(let who) where who != me && sharesFollowedRoom(who):
            (user, event) = (who, .offline)
        case .groupRequested(let group, let who) where group.owner == me:
            (user, event) = (who, .groupRequest(group))
        case .groupDecided(let group, let who, let decision) where who == me && group.owner != me:
            (user, event) = (group.owner, .groupDecision(group, decision, about: who))
        case .groupMember(let group, let who, let joined) where followedGroups.contains(group) || who == me:
            (user, event) = (who, joined ? .groupJoined(group) : .groupLeft(group))
        default:
            return nil
        }
        guard directory.contacts[user] != .blocked else { return nil }
        var room: String?
        if case .joined(let name) = event { room = name }
        if case .left(let name) = event { room = name }
        return ChatLine(
            topic: topic,
            body: .event(user: user, event),
            from: user,
            room: room,
            verified: verified ?? false
        )
    }

    private func sharesFollowedRoom(_ user: String) -> Bool {
        switch follow {
        case .joined: directory.sharesRoom(with: user)
        case .selected(let rooms, _): rooms.contains { directory.isMember(user, of: $0) }
        case .all: true
        }
    }

    private func line(for message: MQTTMessage, _ topic: ChatTopic) -> ChatLine? {
        // An empty payload is never chat (the verification probe sends one).
        guard !message.payload.isEmpty else { return nil }
        var line = ChatLine(message)
        line.verified = verified ?? false
        switch topic {
        case .room(let room, let sender):
            guard follows(room), directory.contacts[sender] != .blocked else { return nil }
            line.from = sender
            line.room = room
            line.showRoom = room != currentRoom
        case .groupMessage(let group, let sender):
            // Only an approved member's own words are a group message; anything else is never shown as one.
            guard followedGroups.contains(group), directory.isMember(sender, ofGroup: group),
                directory.contacts[sender] != .blocked
            else { return nil }
            if case .chat(let chat) = line.body, chat.from != sender { return nil }
            line.from = sender
            line.group = group
        case .inbox(let user, let sender):
            let mine = user == me && follow == .joined
            guard mine || follow == .all, directory.contacts[sender] != .blocked else { return nil }
            line.from = sender
            line.to = user
            if case .chat(let chat) = line.body, chat.kind != .invite {
                line.request = user == me && directory.contacts[sender] != .accepted
            }
        default:
            return nil
        }
        if case .chat(let chat) = line.body, chat.from != line.from { line.claimedFrom = chat.from }
        return line
    }
}
