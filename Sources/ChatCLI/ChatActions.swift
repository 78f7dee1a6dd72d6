import ChatCrypto
import ChatProtocol
import MQTTPaho
import Synchronization

/// Publishes what a user does to the chat's shared state, one publish at a time, each awaited (the broker
/// acknowledged it or refused it). What to publish is decided by the chat commands (`ChatOperations`) and the
/// layout; this only sends it.
public struct ChatActions: Sendable {
    public let client: any MQTTTransport
    public let layout: ChatLayout
    public let me: String

    let journal: StateJournalFile
    /// Seals private messages, invitations and group messages end to end, and hands out a group's keys
    /// after its owner's changes (nil: plaintext, as before keys).
    public var endToEnd: EndToEndSending?

    public init(client: any MQTTTransport, layout: ChatLayout, me: String, endToEnd: EndToEndSending? = nil) {
        self.client = client
        self.layout = layout
        self.me = me
        self.endToEnd = endToEnd
        journal = StateJournalFile(client.configuration, user: me)
    }

    /// Sends `publishes` in order: state retained at QoS 1, messages at QoS 2 (exactly once, also to a listener
    /// that was away).
    public func perform(_ publishes: [ChatPublish]) async throws(MQTTError) {
        for publish in publishes {
            // Sealed (or refused: a changed key) before it goes, outside the broker's refusals below.
            let sealed =
                publish.kind == .message ? try await endToEnd?.sealed(publish, client: client, layout: layout) : nil
            do {
                switch publish.kind {
                case .state:
                    // Stamped with its time, and noted in the journal once the broker has it, so that a broker
                    // which crashes before saving it gets it back (`StateJournal`).
                    let now = ChatTimestamp.now()
                    let payload = publish.payload.isEmpty ? [] : ChatState.stamped(publish.payload, at: now)
                    try await client.publish(topic: publish.topic, payload: payload, qos: .atLeastOnce, retain: true)
                    journal.record(publish.topic, publish.payload, at: now)
                case .message:
                    try await client.publish(
                        topic: publish.topic,
                        payload: sealed ?? publish.payload,
                        qos: .exactlyOnce
                    )
                }
            } catch  where error.code == .notAuthorized {
                throw MQTTError(
                    error.code,
                    "The broker refused \(me)'s publish to \(publish.topic): not authorized by its ACL."
                )
            }
        }
        // A group's owner created it or decided on a member: its members' keys follow (a new epoch). Only
        // an approval made here adds someone to the owner's signed list, never the broker's state alone.
        guard let endToEnd else { return }
        var owned: [GroupID: [String]] = [:]
        for publish in publishes {
            switch layout.parse(publish.topic) {
            case .groupInfo(let group) where group.owner == me:
                owned[group, default: []] += []
            case .groupDecision(let group, let user) where group.owner == me:
                let approved =
                    ChatState.members(publish.payload)?["status"] == ChatState.GroupDecision.approved.rawValue
                owned[group, default: []] += approved ? [user] : []
            default:
                break
            }
        }
        for (group, approved) in owned.sorted(by: { $0.key < $1.key }) {
            try await endToEnd.updateGroupKeys(group, approving: approved, client: client, layout: layout)
        }
    }

    public func setContact(_ user: String, _ status: ChatState.Contact) async throws(MQTTError) {
        try await perform([layout.contactPublish(of: me, for: user, status)])
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
    public func start(_ client: any MQTTTransport, me: String) async throws(MQTTError) {
        let clientID = client.configuration.clientID
        try await client.subscribe(layout.stateFilters(of: me).map { MQTTSubscription($0) })
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
///
/// A connection that dies with its broker never sends its will (the broker that would send it died), so a
/// presence also lapses by itself: it is published with an MQTT 5 message expiry of two keepalives and
/// renewed every keepalive (`renewing()`); the broker drops a lapsed one, and listeners take it away at the
/// expiry they were told (`ChatDirectory.expirePresence`).
public struct Presence: Sendable {
    public let client: any MQTTTransport
    public let topic: String
    let tool: String
    let since = ChatTimestamp.now()

    public init(client: any MQTTTransport, layout: ChatLayout, me: String, tool: String) {
        self.client = client
        self.tool = tool
        topic = layout.presence(of: me, client: client.configuration.clientID)
    }

    /// Seconds a presence lasts unless renewed: two keepalives; nil without keepalive (then only the will and
    /// a clean exit clear it).
    public var lifetime: UInt32? {
        let keepAlive = client.configuration.keepAlive
        return keepAlive > 0 ? UInt32(clamping: 2 * keepAlive) : nil
    }

    /// The will that takes this presence away: an empty retained message.
    public static func will(layout: ChatLayout, me: String, clientID: String) -> MQTTWill {
        MQTTWill(topic: layout.presence(of: me, client: clientID), payload: [], qos: .atLeastOnce, retain: true)
    }

    /// Says "online" (again after a reconnect: the lost connection fired the will).
    public func announce() async throws(MQTTError) {
        try await client.publish(
            topic: topic,
            payload: ChatState.presence(tool: tool, since: since),
            qos: .atLeastOnce,
            retain: true,
            expiry: lifetime
        )
    }

    /// Renews the presence every keepalive until the task is cancelled (cancel it before `withdraw()`).
    public func renewing() -> Task<Void, Never> {
        Task {
            let keepAlive = client.configuration.keepAlive
            guard keepAlive > 0 else { return }
            while true {
                try? await Task.sleep(for: .seconds(keepAlive))
                if Task.isCancelled { return }
                try? await announce()
            }
        }
    }

    /// Clears the presence without waiting: the disconnect that follows gives it time to go out.
    public func withdraw() {
        client.startPublish(topic: topic, payload: [], qos: .atLeastOnce, retain: true) { _ in }
    }
}
