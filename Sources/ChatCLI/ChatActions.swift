import ChatProtocol
import Synchronization

/// What a user does to the chat's shared state, one publish each (awaited: the broker acknowledged it or
/// refused it). The same actions serve the publisher's one-shot commands and its prompt.
public struct ChatActions: Sendable {
    public let client: MQTTClient
    public let layout: ChatLayout
    public let me: String

    let journal: StateJournalFile

    public init(client: MQTTClient, layout: ChatLayout, me: String) {
        self.client = client
        self.layout = layout
        self.me = me
        journal = StateJournalFile(client.configuration, user: me)
    }

    public func join(_ room: String) async throws(MQTTError) {
        try await put(layout.membership(of: me, in: room), ChatState.membership(joined: true))
    }

    /// Leaving the default room is remembered ("left"); any other membership is simply removed.
    public func leave(_ room: String) async throws(MQTTError) {
        let leftDefault = room == ChatLayout.defaultRoom
        try await put(layout.membership(of: me, in: room), leftDefault ? ChatState.membership(joined: false) : [])
    }

    public func invite(_ user: String, to room: String) async throws(MQTTError) {
        try await send(layout.inbox(of: user, from: me), ChatMessage(kind: .invite, from: me, text: room, time: .now()))
    }

    /// A private message. Writing to someone accepts them: their answers are not shown as requests.
    public func message(_ user: String, _ text: String) async throws(MQTTError) {
        try await setContact(user, .accepted)
        try await send(layout.inbox(of: user, from: me), .message(from: me, text, time: .now()))
    }

    public func setContact(_ user: String, _ status: ChatState.Contact) async throws(MQTTError) {
        try await put(layout.contact(of: me, for: user), ChatState.contact(status))
    }

    public func createGroup(_ name: String) async throws(MQTTError) {
        try await put(layout.groupInfo(GroupID(owner: me, name: name)), ChatState.groupCreated)
    }

    /// Asks to join (a new request each time); the owner sees it live and decides.
    public func requestGroup(_ group: GroupID) async throws(MQTTError) {
        try await put(
            layout.groupRequest(group, by: me),
            ChatState.groupRequest(.requested, id: ChatState.newRequestID())
        )
    }

    public func leaveGroup(_ group: GroupID) async throws(MQTTError) {
        try await put(layout.groupRequest(group, by: me), ChatState.groupRequest(.left, id: ChatState.newRequestID()))
    }

    /// The owner's decision on `user`'s current request (`request`, read from the broker's state).
    public func decide(
        _ group: GroupID,
        _ user: String,
        _ decision: ChatState.GroupDecision,
        request: String
    )
        async throws(MQTTError)
    {
        try await put(layout.groupDecision(group, for: user), ChatState.groupDecision(decision, request: request))
    }

    /// A group message: QoS 2, so members who are away get it exactly once.
    public func sendToGroup(_ group: GroupID, _ text: String) async throws(MQTTError) {
        try await send(layout.groupMessage(group, sender: me), .message(from: me, text, time: .now()))
    }

    /// The room the user talks in, so listeners in other terminals leave its name off their lines.
    public func focus(_ room: String) async throws(MQTTError) {
        try await put(layout.focus(of: me), ChatState.focus(room: room))
    }

    /// Private messages and invitations go at QoS 2: exactly once, also to a listener that was away.
    private func send(_ topic: String, _ message: ChatMessage) async throws(MQTTError) {
        try await refusalNamed(topic) { () throws(MQTTError) in
            try await client.publish(topic: topic, payload: message.encoded(), qos: .exactlyOnce)
        }
    }

    /// Writes retained state, stamped with its time, and notes it in the journal once the broker has it, so
    /// that a broker which crashes before saving it gets it back (`StateJournal`).
    private func put(_ topic: String, _ state: [UInt8]) async throws(MQTTError) {
        let now = ChatTimestamp.now()
        let payload = state.isEmpty ? state : ChatState.stamped(state, at: now)
        try await refusalNamed(topic) { () throws(MQTTError) in
            try await client.publish(topic: topic, payload: payload, qos: .atLeastOnce, retain: true)
        }
        journal.record(topic, state, at: now)
    }

    private func refusalNamed(_ topic: String, _ body: () async throws(MQTTError) -> Void) async throws(MQTTError) {
        do {
            try await body()
        } catch  where error.code == .notAuthorized {
            throw MQTTError(error.code, "The broker refused \(me)'s publish to \(topic): not authorized by its ACL.")
        }
    }
}

/// Reads the broker's retained state (memberships, presence, contacts) into a `ChatDirectory`, and keeps it
/// current while connected. Its `handle` is the client's message handler (Paho's thread; it never waits).
public final class DirectoryWatcher: Sendable {
    private struct State {
        var router: ChatRouter
        var waiters: [CheckedContinuation<Void, Never>] = []
    }
    private let state: Mutex<State>
    public let layout: ChatLayout

    public init(layout: ChatLayout, me: String, client: String) {
        self.layout = layout
        state = Mutex(
            State(router: ChatRouter(layout: layout, me: me, client: client, follow: .joined, verified: false))
        )
    }

    public func handle(_ message: MQTTMessage) {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            _ = state.router.route(message)
            guard state.router.synced else { return [] }
            defer { state.waiters.removeAll() }
            return state.waiters
        }
        waiters.forEach { $0.resume() }
    }

    /// Subscribes to the state and asks for the end-of-snapshot marker.
    public func start(_ client: MQTTClient, me: String) async throws(MQTTError) {
        let clientID = client.configuration.clientID
        let filters =
            [layout.membershipsFilter, layout.presenceFilter, layout.privateFilter(of: me)] + layout.groupStateFilters
        try await client.subscribe(filters.map { MQTTSubscription($0) })
        try await client.publish(topic: layout.sync(of: me, client: clientID), payload: [], qos: .atLeastOnce)
    }

    /// The directory once the snapshot is complete, or after `limit` with what arrived by then.
    public func snapshot(within limit: Duration = .seconds(3)) async -> ChatDirectory {
        let timeout = Task {
            try? await Task.sleep(for: limit)
            self.state.withLock { _ = $0.router.finishSnapshot() }
            self.handleTimeout()
        }
        await withCheckedContinuation { continuation in
            let ready = state.withLock { state in
                if state.router.synced { return true }
                state.waiters.append(continuation)
                return false
            }
            if ready { continuation.resume() }
        }
        timeout.cancel()
        return directory
    }

    private func handleTimeout() {
        let waiters = state.withLock { state in
            defer { state.waiters.removeAll() }
            return state.waiters
        }
        waiters.forEach { $0.resume() }
    }

    public var directory: ChatDirectory { state.withLock { $0.router.directory } }
}

/// This connection's presence: one retained message under the user's name and the client id, which the
/// connection's will (`will`) clears if it dies, and which `withdraw()` clears on a clean exit.
public struct Presence: Sendable {
    public let client: MQTTClient
    public let topic: String
    let tool: String

    public init(client: MQTTClient, layout: ChatLayout, me: String, tool: String) {
        self.client = client
        self.tool = tool
        topic = layout.presence(of: me, client: client.configuration.clientID)
    }

    /// The will that takes this presence away: an empty retained message.
    public static func will(layout: ChatLayout, me: String, clientID: String) -> MQTTWill {
        MQTTWill(topic: layout.presence(of: me, client: clientID), payload: [], qos: .atLeastOnce, retain: true)
    }

    /// Says "online" (again after a reconnect: the lost connection fired the will).
    public func announce() async throws(MQTTError) {
        try await client.publish(topic: topic, payload: ChatState.presence(tool: tool, since: .now()), retain: true)
    }

    /// Clears the presence without waiting: the disconnect that follows gives it time to go out.
    public func withdraw() {
        client.startPublish(topic: topic, payload: [], qos: .atLeastOnce, retain: true) { _ in }
    }
}
