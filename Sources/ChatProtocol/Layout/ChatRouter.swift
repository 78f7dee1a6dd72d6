/// Decides what the listener shows for each message of the layout. Pure: no broker, no I/O, so every rule
/// here is unit-tested.
///
/// The rules for state against live events:
/// - **Subscriptions never depend on state.** A listener subscribes once, at start, to everything it may ever
///   show (every room and every group for a participant) and filters here. A subscription made when a
///   `join` arrives would miss what is posted before its SUBACK: the broker delivers the membership and a
///   message posted right after it in that order on one connection, so filtering never misses one.
/// - **Retained copies are the snapshot, live copies are events.** A state message delivered with the
///   retained flag answers a SUBSCRIBE: it updates the directory silently. One without it was published
///   while the listener was subscribed: it is announced, also during the snapshot (then shown once the
///   snapshot is complete, in order with the chat lines held until then).
/// - **The snapshot ends with the listener's own sync marker** (and the verification result): a persistent
///   session delivers queued messages before any SUBACK, and whether they show depends on state not yet read,
///   so chat lines are held until then.
/// - **After a reconnect the directory is read again** (`beginResync`): retained copies go to a fresh
///   directory that replaces the old one when the marker comes back, so state the broker lost or changed
///   while the listener was away is not remembered; live changes go to both.
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
        /// The snapshot is complete: the listener is listening.
        case synced
        /// The state was read again after a reconnect.
        case resynced
        /// Someone stopped being a member of a group this user owns (left, or was removed), live: the group's
        /// key must change (ChatCrypto's `GroupRekey`, run by the tool).
        case membersLeft(GroupID)
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
    /// What waits for the end of the snapshot, in arrival order.
    private enum Held {
        case message(MQTTMessage)
        case notices([ChatLine])
    }
    private var held: [Held] = []
    /// The directory being read again after a reconnect.
    private var rereading: ChatDirectory?
    /// The retained state this user owns, as the broker holds it now (topic -> payload): what a journal of
    /// the user's own changes is compared with after each snapshot (`StateJournal`).
    public private(set) var ownState: [String: [UInt8]] = [:]
    private var ownStateRereading: [String: [UInt8]]?
    /// Opens sealed private and group messages (ChatCrypto, given the user's keys); nil: they show their
    /// placeholder, as in a listener of an older version.
    public var opener: (any ChatOpener)?

    public init(layout: ChatLayout, me: String, client: String, follow: Follow, verified: Bool?) {
        self.layout = layout
        self.follow = follow
        self.client = client
        self.verified = verified
        directory = ChatDirectory(me: me)
    }

    public var me: String { directory.me }

    /// Everything the listener subscribes to, once, at start: the state, and whatever it may ever show.
    public func subscriptions(roomQoS: MQTTQoS) -> [MQTTSubscription] {
        var subscriptions = layout.stateFilters(of: me).map { MQTTSubscription($0, qos: .atLeastOnce) }
        // QoS 2, in the session: private and group messages reach a listener that was away, exactly once.
        switch follow {
        case .joined:
            subscriptions += [
                MQTTSubscription(layout.inboxFilter(of: me), qos: .exactlyOnce),
                MQTTSubscription(layout.allRoomsFilter, qos: roomQoS),
                MQTTSubscription(layout.allGroupMessagesFilter, qos: .exactlyOnce),
            ]
        case .selected(let rooms, let groups):
            subscriptions += rooms.map { MQTTSubscription(layout.roomFilter($0), qos: roomQoS) }
            subscriptions += groups.map { MQTTSubscription(layout.groupMessagesFilter($0), qos: .exactlyOnce) }
        case .all:
            subscriptions.append(MQTTSubscription(layout.allRoomsFilter, qos: roomQoS))
        }
        return subscriptions
    }

    /// What a persistent session drops while the listener is away: all but private and group messages, so
    /// the broker keeps those, not the rooms' traffic.
    public var filtersDroppedWhileAway: [String] {
        let kept: Set = [layout.inboxFilter(of: me), layout.allGroupMessagesFilter]
        return subscriptions(roomQoS: .atMostOnce).map(\.filter).filter { !kept.contains($0) }
    }

    /// The rooms shown now.
    public var followedRooms: [String] {
        switch follow {
        case .joined: directory.rooms(of: me)
        case .selected(let rooms, _): rooms
        case .all: []
        }
    }

    /// The groups shown now: those this user is a member of (and, with `--group`, asked for).
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

    /// Routes one message, received at `now`: the lines to show and what to do.
    public mutating func route(
        _ message: MQTTMessage,
        now: ChatTimestamp = .now()
    ) -> (lines: [ChatLine], actions: [Action]) {
        guard let topic = layout.parse(message.topic) else { return ([], []) }
        switch topic {
        case .room, .inbox, .groupMessage:
            guard synced else {
                held.append(.message(message))
                return ([], [])
            }
            return (line(for: message, topic, now: now).map { [$0] } ?? [], [])
        case .sync(let user, let client):
            guard user == me, client == self.client else { return ([], []) }
            if rereading != nil { return finishRereading(now: now) }
            guard !synced else { return ([], []) }
            markerSeen = true
            return verified == nil ? ([], []) : finishSnapshot()
        default:
            if owns(topic) {
                if message.retained, ownStateRereading != nil {
                    ownStateRereading![message.topic] = message.payload.isEmpty ? nil : message.payload
                } else {
                    ownState[message.topic] = message.payload.isEmpty ? nil : message.payload
                    ownStateRereading?[message.topic] = message.payload.isEmpty ? nil : message.payload
                }
            }
            let expiresAt = message.expiry.map {
                ChatTimestamp(millisecondsSince1970: now.millisecondsSince1970 + Int64($0) * 1000)
            }
            if message.retained, rereading != nil {
                _ = rereading!.apply(topic, payload: message.payload, expiresAt: expiresAt)
                return ([], [])
            }
            _ = rereading?.apply(topic, payload: message.payload, expiresAt: expiresAt)
            let changes = directory.apply(topic, payload: message.payload, expiresAt: expiresAt)
            // A changed identity key is announced whether the bundle came retained or live.
            var notices = keyNotices(changes, topic: message.topic)
            // A retained copy is the snapshot: known already, or state read at start; never announced.
            guard !message.retained || !notices.isEmpty else { return ([], []) }
            var actions: [Action] = []
            if !message.retained {
                notices += changes.flatMap { change in
                    [notice(for: change, topic: message.topic)].compactMap { $0 } + topicOnArrival(after: change)
                }
                for case .groupMember(let group, _, false) in changes where group.owner == me {
                    actions.append(.membersLeft(group))
                }
            }
            guard synced else {
                if !notices.isEmpty { held.append(.notices(notices)) }
                return ([], actions)
            }
            return (notices, actions)
        }
    }

    /// Whether `topic` is state this user writes (and so may have to restore after a broker lost it).
    private func owns(_ topic: ChatTopic) -> Bool {
        switch topic {
        case .membership(let user, _), .focus(let user), .groupRequest(_, let user), .away(let user),
            .roomTopic(_, let user):
            user == me
        case .contact(let owner, _): owner == me
        case .groupInfo(let group), .groupDecision(let group, _): group.owner == me
        // Else the journal's copy of this machine's key bundle went back over a newer one another device
        // of the user published (dropping that device).
        case .keys(let user): user == me
        default: false
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
        let entries = held
        held = []
        // The topics of the rooms it starts following, before anything said in them.
        var lines = topicRooms.compactMap { topicLine($0, retained: true) }
        for entry in entries {
            switch entry {
            case .message(let message):
                if let topic = layout.parse(message.topic), let line = line(for: message, topic) { lines.append(line) }
            case .notices(let notices):
                lines += notices
            }
        }
        return (lines, [.synced])
    }

    /// After a reconnect: reads the state again, from the retained copies the listener asks for next, up to
    /// its next sync marker. Until then the old directory serves.
    public mutating func beginResync() {
        rereading = ChatDirectory(me: me)
        ownStateRereading = [:]
    }

    private mutating func finishRereading(now: ChatTimestamp) -> (lines: [ChatLine], actions: [Action]) {
        guard var fresh = rereading else { return ([], []) }
        // Who came or went while the listener was away (a broker that lost a presence, or let it expire).
        _ = fresh.expirePresence(now: now)
        let (before, after) = (Set(directory.onlineUsers), Set(fresh.onlineUsers))
        let changes =
            before.subtracting(after).sorted().map { ChatDirectory.Change.offline(user: $0) }
            + after.subtracting(before).sorted().map { ChatDirectory.Change.online(user: $0) }
        directory = fresh
        ownState = ownStateRereading ?? ownState
        rereading = nil
        ownStateRereading = nil
        guard synced else { return ([], []) }
        return (presenceNotices(changes), [.resynced])
    }

    /// Takes away the presences that expired by `now` (`ChatDirectory.expirePresence`): the notices to show.
    public mutating func expirePresence(now: ChatTimestamp) -> [ChatLine] {
        _ = rereading?.expirePresence(now: now)
        let changes = directory.expirePresence(now: now)
        guard synced else { return [] }
        return presenceNotices(changes)
    }

    /// Notices for presence that changed without a message of its own (expired, or found changed after a
    /// reconnect), each on the user's presence topic without a client id.
    private func presenceNotices(_ changes: [ChatDirectory.Change]) -> [ChatLine] {
        changes.compactMap { change in
            switch change {
            case .online(let user), .offline(let user):
                notice(for: change, topic: "\(layout.root)/users/\(user)/online")
            default:
                nil
            }
        }
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
        case .away(let who, let text) where who != me && directory.isOnline(who) && sharesFollowedRoom(who):
            (user, event) = (who, text.map { .away($0) } ?? .back)
        case .roomTopic(let room, let newest) where follows(room):
            // No topic left at all (its messages removed): the one who removed the last is named.
            var setter = newest?.setter ?? ""
            if newest == nil, case .roomTopic(_, let remover)? = layout.parse(topic) { setter = remover }
            (user, event) = (setter, .topic(room: room, newest?.text ?? "", at: newest?.at))
        default:
            return nil
        }
        guard directory.contacts[user] != .blocked else { return nil }
        var room: String?
        if case .joined(let name) = event { room = name }
        if case .left(let name) = event { room = name }
        if case .topic(let name, _, _) = event { room = name }
        return ChatLine(
            topic: topic,
            body: .event(user: user, event),
            from: user,
            room: room,
            verified: verified ?? false
        )
    }

    /// The opener's notices for key bundles that changed.
    private mutating func keyNotices(_ changes: [ChatDirectory.Change], topic: String) -> [ChatLine] {
        guard opener != nil else { return [] }
        var lines: [ChatLine] = []
        for case .keys(let user) in changes where user == me || directory.contacts[user] != .blocked {
            for event in opener!.keysChanged(of: user, directory: directory) {
                lines.append(
                    ChatLine(topic: topic, body: .event(user: user, event), from: user, verified: verified ?? false)
                )
            }
        }
        return lines
    }

    /// The rooms whose topic the listener shows when it starts.
    private var topicRooms: [String] {
        switch follow {
        case .joined, .selected: followedRooms
        case .all: directory.knownRooms
        }
    }

    /// The line that shows `room`'s topic, if it has one (and its setter is not blocked).
    private func topicLine(_ room: String, retained: Bool) -> ChatLine? {
        guard let topic = directory.topic(of: room), directory.contacts[topic.setter] != .blocked else { return nil }
        return ChatLine(
            topic: layout.roomTopic(room, setter: topic.setter),
            body: .event(user: topic.setter, .topic(room: room, topic.text, at: topic.at)),
            from: topic.setter,
            room: room,
            verified: verified ?? false,
            retained: retained
        )
    }

    /// Joining a room (live) shows its topic, as it does at start.
    private func topicOnArrival(after change: ChatDirectory.Change) -> [ChatLine] {
        guard case .joined(let who, let room) = change, who == me, follows(room) else { return [] }
        return topicLine(room, retained: false).map { [$0] } ?? []
    }

    private func sharesFollowedRoom(_ user: String) -> Bool {
        switch follow {
        case .joined: directory.sharesRoom(with: user)
        case .selected(let rooms, _): rooms.contains { directory.isMember(user, of: $0) }
        case .all: true
        }
    }

    private mutating func line(
        for message: MQTTMessage,
        _ topic: ChatTopic,
        now: ChatTimestamp = .now()
    ) -> ChatLine? {
        // An empty payload is never chat (the verification probe sends one).
        guard !message.payload.isEmpty else { return nil }
        var line = ChatLine(message)
        switch topic {
        case .inbox, .groupMessage: line = open(line, message, topic, now: now)
        default: break
        }
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

    /// A private or group message through the opener: sealed ones opened (or refused, as a marker line from
    /// the topic's sender), plaintext ones marked when the sender is known to have keys. Shown only where the
    /// rules below would show the message itself (followed, not blocked).
    private mutating func open(
        _ line: ChatLine,
        _ message: MQTTMessage,
        _ topic: ChatTopic,
        now: ChatTimestamp
    ) -> ChatLine {
        guard opener != nil else { return line }
        var line = line
        let sender: String
        switch topic {
        case .inbox(_, let from), .groupMessage(_, let from): sender = from
        default: return line
        }
        guard let sealed = SealedPayload(decoding: message.payload) else {
            line.unexpectedPlaintext = opener!.expectsSealed(from: sender, topic: topic, directory: directory)
            return line
        }
        switch opener!.open(sealed, topic: topic, directory: directory, now: now) {
        case .message(let chat):
            line.body = .chat(chat)
            line.encrypted = true
        case .refused(let reason):
            line.body = .event(user: sender, .refused(reason))
        }
        return line
    }
}
