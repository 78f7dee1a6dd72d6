import CPahoMQTT
import ChatProtocol
import Synchronization

/// The state Paho's callbacks reach, through the context pointers they are given.
///
/// Ownership: each Paho handle holds a retain on the core, released only after `MQTTAsync_destroy` of that
/// handle (a handle set aside is never destroyed and keeps its retain). Each request's context is a
/// `RequestContext` owned by `pending`: its entry goes when Paho answers, and an entry Paho has not answered
/// goes only with the core itself, when no handle that could answer it is left. `PahoConnection` writes down
/// the order of destruction.
final class ClientCore: Sendable {
    /// What a request asks of Paho; it decides how the success data is read.
    enum RequestKind: Sendable {
        case connect
        case publish(MQTTQoS)
        case subscribe(count: Int)
        case unsubscribe
        case disconnect
    }

    enum Response: Sendable {
        case connected(MQTTConnectResult)
        case published
        case subscribed([Int32])
        case done
    }

    typealias Completion = @Sendable (Result<Response, MQTTError>) -> Void

    private struct Entry {
        let context: RequestContext
        /// nil once settled early (lost connection, cancellation); a late callback then finds nothing to do.
        var completion: Completion?
        /// The connection it was made on (see `State.connections`).
        let connection: Int
    }

    private struct State {
        var pending: [UInt64: Entry] = [:]
        var nextID: UInt64 = 1
        /// Publishes not yet completed or settled, for flushing and for "n messages not delivered".
        var unsettledPublishes = 0
        var flushWaiters: [CheckedContinuation<Void, Never>] = []
        var lastDisconnectReason: Int32?
        /// OpenSSL's own words for the last TLS failure; Paho's failure text says only "TLS connect failure".
        var lastTLSError: String?
        var connected = false
        var closing = false
        /// Successful connects so far; requests remember the one they were made on.
        var connections = 0
        /// The version the broker accepted; until the first connect, the configured one.
        var version: MQTTVersion
        /// Paho failed a QoS 1 or 2 publish on a broken write: its handle resends freed memory from now on
        /// (see `PahoConnection.replaceHandle`).
        var handleDamaged = false
    }

    private let state: Mutex<State>
    let messages: AsyncThrowingStream<MQTTMessage, any Error>.Continuation
    /// When set, messages go here instead of into `messages`.
    let onMessage: MQTTMessageHandler?
    let events: AsyncStream<MQTTConnectionEvent>.Continuation
    /// One element per lost connection, for the reconnect loop.
    let losses: AsyncStream<Void>.Continuation

    init(
        version: MQTTVersion,
        messages: AsyncThrowingStream<MQTTMessage, any Error>.Continuation,
        onMessage: MQTTMessageHandler?,
        events: AsyncStream<MQTTConnectionEvent>.Continuation,
        losses: AsyncStream<Void>.Continuation
    ) {
        state = Mutex(State(version: version))
        self.messages = messages
        self.onMessage = onMessage
        self.events = events
        self.losses = losses
    }

    // MARK: Pending requests

    /// Registers a request and returns the context pointer to hand to Paho.
    func register(_ kind: RequestKind, completion: @escaping Completion) -> (id: UInt64, context: RequestContext) {
        state.withLock { state in
            let id = state.nextID
            state.nextID += 1
            let context = RequestContext(core: self, id: id, kind: kind)
            state.pending[id] = Entry(context: context, completion: completion, connection: state.connections)
            if case .publish = kind { state.unsettledPublishes += 1 }
            return (id, context)
        }
    }

    /// Paho answered: the entry goes, and its completion runs (unless it was settled early).
    func complete(_ id: UInt64, with result: Result<Response, MQTTError>) {
        finish(id, with: result, fromPaho: true)
    }

    /// Removes the entry and runs its completion. Only an answer from Paho can tell of a broken write; a call
    /// that failed before Paho took the request (`abandon`) cannot have damaged the handle.
    private func finish(_ id: UInt64, with result: Result<Response, MQTTError>, fromPaho: Bool) {
        let entry = state.withLock { state -> Entry? in
            let entry = state.pending.removeValue(forKey: id)
            if fromPaho, let entry, Self.damagesHandle(entry.context.kind, result) { state.handleDamaged = true }
            return entry
        }
        guard let entry, let completion = entry.completion else { return }
        run(completion, with: result, kind: entry.context.kind)
    }

    /// A QoS 1 or 2 publish that Paho failed with SOCKET_ERROR (-1): the write broke under it, and Paho kept
    /// the message for resending while freeing its topic and payload (see `PahoConnection.replaceHandle`).
    private static func damagesHandle(_ kind: RequestKind, _ result: Result<Response, MQTTError>) -> Bool {
        guard case .publish(let qos) = kind, qos != .atMostOnce, case .failure(let error) = result else { return false }
        return error.code == .failure
    }

    /// Whether the handle must be replaced before the next connect; asking clears it.
    func takeHandleDamage() -> Bool {
        state.withLock { state in
            defer { state.handleDamaged = false }
            return state.handleDamaged
        }
    }

    /// Paho will never answer (the call failed synchronously): forget the entry and report the error.
    func abandon(_ id: UInt64, with error: MQTTError) {
        finish(id, with: .failure(error), fromPaho: false)
    }

    /// Settles requests early while keeping their contexts for a callback that may still come.
    func settle(where predicate: (RequestKind) -> Bool, with error: MQTTError) {
        let settled = state.withLock { state -> [(Completion, RequestKind)] in
            var settled: [(Completion, RequestKind)] = []
            for (id, entry) in state.pending where predicate(entry.context.kind) {
                guard let completion = entry.completion else { continue }
                settled.append((completion, entry.context.kind))
                state.pending[id]?.completion = nil
            }
            return settled
        }
        for (completion, kind) in settled { run(completion, with: .failure(error), kind: kind) }
    }

    /// Publishes made on a connection before `connection` that Paho still has not answered: after a
    /// reconnect it sometimes never will. They are failed with `.connectionLost` so the sender re-drives them.
    /// QoS 2 ones only when `exactlyOnce` is set (a later pass): sending one again can deliver it twice to
    /// other clients, though never to an mqtt-chat listener, which drops the exact repeat (RepeatFilter).
    func settleStalePublishes(before connection: Int, exactlyOnce: Bool) {
        let stale = state.withLock { state in
            state.pending.filter { id, entry in
                guard case .publish(let qos) = entry.context.kind, (qos == .exactlyOnce) == exactlyOnce else {
                    return false
                }
                return entry.connection < connection && entry.completion != nil
            }.keys
        }
        for id in stale {
            settle(
                id: id,
                with: MQTTError(.connectionLost, "The connection was lost before the broker acknowledged it.")
            )
        }
    }

    func settle(id: UInt64, with error: MQTTError) {
        let settled = state.withLock { state -> (Completion, RequestKind)? in
            guard let entry = state.pending[id], let completion = entry.completion else { return nil }
            state.pending[id]?.completion = nil
            return (completion, entry.context.kind)
        }
        if let (completion, kind) = settled { run(completion, with: .failure(error), kind: kind) }
    }

    /// The client is gone: every request still waiting fails. The contexts stay: a handle set aside (or left
    /// damaged) may still answer them, and they go with the core once no such handle is left.
    func destroyed() {
        settle(
            where: { _ in true },
            with: MQTTError(.cancelled, "The client was shut down before the broker answered.")
        )
        messages.finish()
        events.finish()
        losses.finish()
    }

    /// Runs a completion, then counts its publish as settled. In that order: a completion that sends the
    /// message again registers the new attempt first, so the count never touches zero in between and a
    /// flush cannot end early.
    private func run(_ completion: Completion, with result: Result<Response, MQTTError>, kind: RequestKind) {
        completion(result)
        guard case .publish = kind else { return }
        releasePublish()
    }

    /// Counts a publish as unsettled that is not registered yet: one handed to another thread to be sent
    /// again (`releasePublish()` once it is registered), so a flush cannot end in between.
    func holdPublish() {
        state.withLock { $0.unsettledPublishes += 1 }
    }

    /// One unsettled publish fewer; wakes the flush waiters when none is left.
    func releasePublish() {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.unsettledPublishes -= 1
            guard state.unsettledPublishes == 0 else { return [] }
            defer { state.flushWaiters.removeAll() }
            return state.flushWaiters
        }
        waiters.forEach { $0.resume() }
    }

    var unsettledPublishes: Int { state.withLock { $0.unsettledPublishes } }

    /// Requests whose context Paho may still call: not answered yet, settled early or not.
    var pendingContexts: Int { state.withLock { $0.pending.count } }

    /// Returns once every publish made so far has completed or been settled.
    func waitForPublishes() async {
        await withCheckedContinuation { continuation in
            let ready = state.withLock { state in
                if state.unsettledPublishes == 0 { return true }
                state.flushWaiters.append(continuation)
                return false
            }
            if ready { continuation.resume() }
        }
    }

    // MARK: Connection state

    var isConnected: Bool { state.withLock { $0.connected } }

    /// Paho needs v5 and 3.1.1 requests built differently (mixing them fails with -15).
    var version: MQTTVersion { state.withLock { $0.version } }

    /// Returns the number of this connection.
    @discardableResult
    func markConnected(_ result: MQTTConnectResult) -> Int {
        state.withLock {
            $0.connections += 1
            $0.version = result.version
            $0.connected = true
            $0.lastDisconnectReason = nil
            return $0.connections
        }
    }

    /// After `PahoConnection.replaceHandle`: requests from now on count as made on a later connection than
    /// those the old handle took. Returns the number that separates them (see `settleStalePublishes`).
    func beginNewHandle() -> Int {
        state.withLock {
            $0.connections += 1
            return $0.connections
        }
    }

    /// Marks a deliberate shutdown so the loss that follows is not treated as a failure.
    func markClosing() {
        state.withLock {
            $0.closing = true
            $0.connected = false
        }
    }

    var lastDisconnectReason: Int32? { state.withLock { $0.lastDisconnectReason } }

    var isClosing: Bool { state.withLock { $0.closing } }

    // MARK: Paho callbacks (on Paho's threads; none of them may call back into Paho, and only the user's
    // message handler may block: that is its flow control)

    /// `announce` false: the loss is not reported as one to be reconnected from (the session was taken over;
    /// the reconnect task closes the client instead).
    func connectionLost(cause: String?, announce: Bool = true) {
        let wasConnected = state.withLock { state in
            defer { state.connected = false }
            return state.connected && !state.closing
        }
        guard wasConnected else { return }
        // Subscriptions in flight will not be answered; publishes stay pending, Paho resends them on reconnect.
        settle(
            where: {
                switch $0 {
                case .subscribe, .unsubscribe: return true
                default: return false
                }
            },
            with: MQTTError(.connectionLost, "The connection to the broker was lost.")
        )
        if announce { events.yield(.connectionLost(cause: cause)) }
        losses.yield()
    }

    /// The broker's DISCONNECT (MQTT 5). Paho 1.3.12 marks the client disconnected before it closes the
    /// socket, so no `connectionLost` follows (MQTTAsync_receiveThread, then nextOrClose with was_connected
    /// 0): without this the client would sit disconnected, never reconnecting.
    func disconnectedByBroker(reason: Int32) {
        state.withLock { $0.lastDisconnectReason = reason }
        connectionLost(
            cause: "the broker disconnected: " + MQTTError.reasonText(reason).lowercased(),
            announce: reason != MQTTError.Code.sessionTakenOver.rawValue
        )
    }

    func noteTLSError(_ text: String) {
        state.withLock { $0.lastTLSError = text }
    }

    /// The last TLS error, cleared as it is read.
    func takeTLSError() -> String? {
        state.withLock { state in
            defer { state.lastTLSError = nil }
            return state.lastTLSError
        }
    }

    func messageArrived(_ message: MQTTMessage) {
        if let onMessage {
            onMessage(message)
        } else {
            messages.yield(message)
        }
    }
}

/// The context pointer of one Paho request. Owned by `ClientCore`'s table for as long as Paho may call it; Paho
/// holds it unretained.
final class RequestContext: Sendable {
    unowned let core: ClientCore
    let id: UInt64
    let kind: ClientCore.RequestKind

    init(core: ClientCore, id: UInt64, kind: ClientCore.RequestKind) {
        self.core = core
        self.id = id
        self.kind = kind
    }

    var pointer: UnsafeMutableRawPointer { Unmanaged.passUnretained(self).toOpaque() }

    static func from(_ pointer: UnsafeMutableRawPointer?) -> RequestContext? {
        pointer.map { Unmanaged<RequestContext>.fromOpaque($0).takeUnretainedValue() }
    }
}
