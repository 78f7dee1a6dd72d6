import ChatProtocol
import Dispatch
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// An MQTT client over Eclipse Paho's asynchronous C library, with async/await on top.
///
/// Every request completes exactly once: when the broker answers, when the call fails before reaching it,
/// on cancellation, or when the client shuts down. After a lost connection the client reconnects with
/// backoff, resumes its session, re-subscribes where the broker forgot, and sends what was published
/// meanwhile (Paho buffers it). All of it is `Sendable`; Paho's callbacks reach user code only through an
/// `onMessage` handler the user chose to give.
public final class MQTTClient: MQTTTransport {
    public let configuration: MQTTConfiguration
    /// Messages from every subscription, in arrival order. Ends with an `MQTTError` if the client gives up.
    public let messages: MQTTMessageStream
    /// Connection changes: lost, back, closed for good.
    public let events: AsyncStream<MQTTConnectionEvent>

    private let connection: PahoConnection
    private let losses: AsyncStream<Void>
    /// Publishes Paho dropped are sent again from here, never from inside a Paho callback.
    private let resendQueue = DispatchQueue(label: "mqtt-chat.resend")

    private struct State {
        var result: MQTTConnectResult?
        /// What the client should be subscribed to, in the order asked; renewed after reconnects.
        var subscriptions: [MQTTSubscription] = []
        /// Filters whose last subscribe or unsubscribe the broker has not confirmed (the connection dropped
        /// first): a resumed session may not have them, so the reconnect applies them again.
        var unconfirmed: Set<String> = []
        var reconnectTask: Task<Void, Never>?
        /// When the current connection was made, and whether by a reconnect whose first attempt succeeded.
        var connectedAt: ContinuousClock.Instant?
        var connectedByPromptReconnect = false
        /// Reconnects in a row whose connection was closed again at once.
        var quickLosses = 0
    }

    /// A reconnect whose connection closes sooner than this "did not hold".
    private static let quickLoss: Duration = .seconds(2)
    /// This many reconnects in a row that did not hold mean another client with our id keeps taking the
    /// session back. mosquitto sends DISCONNECT 0x8E, but Paho 1.3.12 usually sees the closed socket first
    /// and reports a plain lost connection, so the reason code alone cannot be relied on. Only reconnects
    /// whose first attempt succeeded count: the other client keeps the broker up, while a reconnect that was
    /// refused first went through a broker restart, which explains a loss soon after (a CI run lost a
    /// publisher this way: two restarts 1.5 s apart, then two unexplained losses, read as a takeover).
    private static let quickLossLimit = 3
    private let state = Mutex(State())

    /// With `onMessage`, each message is handed to it on Paho's receive thread, in arrival order, before the
    /// next one is read; `messages` then carries no messages, only the end (nil after a disconnect, or the
    /// error). A handler that takes its time (a slow terminal) holds the broker back through TCP instead of
    /// piling messages up in memory, and no task switch is paid per message. It must not wait for this
    /// client's own requests (their answers are read by the same thread).
    public init(_ configuration: MQTTConfiguration, onMessage: MQTTMessageHandler? = nil) throws(MQTTError) {
        self.configuration = configuration
        let (messages, messagesContinuation) = AsyncThrowingStream<MQTTMessage, any Error>.makeStream()
        let (events, eventsContinuation) = AsyncStream<MQTTConnectionEvent>.makeStream()
        let (losses, lossesContinuation) = AsyncStream<Void>.makeStream()
        self.messages = MQTTMessageStream(base: messages)
        self.events = events
        self.losses = losses
        let core = ClientCore(
            version: configuration.version,
            messages: messagesContinuation,
            onMessage: onMessage,
            events: eventsContinuation,
            losses: lossesContinuation
        )
        connection = try PahoConnection(configuration: configuration, core: core)
    }

    deinit {
        state.withLock { $0.reconnectTask?.cancel() }
    }

    /// Connects, trying MQTT 3.1.1 if the broker refuses version 5 and the configuration allows it: a CONNACK
    /// refusing it, the connection closed before any CONNACK, or no answer within `versionFallbackTimeout`
    /// (the 3.1.1 attempt gets what is left of `connectTimeout`).
    @discardableResult
    public func connect() async throws(MQTTError) -> MQTTConnectResult {
        let fallback = configuration.version == .v5 && configuration.allowVersionFallback
        let firstTimeout =
            fallback
            ? min(configuration.versionFallbackTimeout, configuration.connectTimeout) : configuration.connectTimeout
        let begun = ContinuousClock.now
        var result: MQTTConnectResult
        do {
            result = try await attemptConnect(
                version: configuration.version,
                cleanStart: configuration.cleanStart,
                timeout: firstTimeout
            )
        } catch let error where fallback && Self.refusesVersion5(error) {
            let left = configuration.connectTimeout - (ContinuousClock.now - begun)
            do {
                result = try await attemptConnect(
                    version: .v3_1_1,
                    cleanStart: configuration.cleanStart,
                    timeout: max(left, .seconds(1))
                )
            } catch let second where second.code == .timedOut {
                throw MQTTError(
                    .timedOut,
                    "No answer from \(target) within \(configuration.connectTimeout) (MQTT 5, then 3.1.1)."
                )
            }
            result.versionFallbackReason = Self.fallbackReason(error, target: target)
        }
        connection.core.markConnected(result)
        let started = state.withLock { state -> Bool in
            state.result = result
            state.connectedAt = .now
            guard state.reconnectTask == nil, configuration.reconnect != nil else { return false }
            return true
        }
        if started, let policy = configuration.reconnect {
            let task = Task { [connection, losses, weak self] in
                for await _ in losses {
                    guard let self else { return }
                    await self.reconnect(policy: policy, connection: connection)
                }
            }
            state.withLock { $0.reconnectTask = task }
        }
        return result
    }

    /// What the broker said on the latest successful connect.
    public var connectResult: MQTTConnectResult? { state.withLock { $0.result } }

    public var isConnected: Bool { connection.core.isConnected }

    /// A v5 CONNECT a 3.1.1-only broker cannot read: it answers "unsupported protocol version", hangs up,
    /// or waits for bytes that never come.
    private static func refusesVersion5(_ error: MQTTError) -> Bool {
        error.code == .unsupportedProtocolVersion || error.code == .protocolError || error.code == .malformedPacket
            || error.code == Code(rawValue: 1) || error.code == .connectionClosed || error.code == .timedOut
    }
    private typealias Code = MQTTError.Code

    /// What to tell the user about a fallback to 3.1.1.
    private static func fallbackReason(_ error: MQTTError, target: String) -> String {
        switch error.code {
        case .connectionClosed: return "\(target) closed the connection after an MQTT 5 CONNECT"
        case .timedOut: return "\(target) did not answer an MQTT 5 CONNECT"
        default: return "\(target) refused MQTT 5"
        }
    }

    /// host:port, as errors name the broker.
    private var target: String { "\(configuration.host):\(configuration.port)" }

    /// The user named in errors.
    private var userPhrase: String { configuration.username.map { "user \($0)" } ?? "a client without a user name" }

    private func attemptConnect(
        version: MQTTVersion,
        cleanStart: Bool,
        timeout: Duration
    ) async throws(MQTTError)
        -> MQTTConnectResult
    {
        // Paho applies the timeout itself (checking every 3 s, so it fires up to 3 s late), but a connect can
        // also go unanswered after a lost connection; this bound settles it so a reconnect loop never waits
        // for ever. It comes after Paho's, so the next attempt never starts while Paho still runs this one.
        let response = try await request(timeout: timeout + .seconds(4)) { completion in
            connection.connect(version: version, cleanStart: cleanStart, timeout: timeout, completion: completion)
        }
        switch response {
        case .success(.connected(let result)):
            if configuration.tcpNoDelay { connection.setNoDelay() }
            return result
        case .success:
            throw MQTTError(.failure, "\(target) answered the connect with something else.")
        case .failure(let error):
            throw await classifyConnectFailure(error, timeout: timeout, version: version)
        }
    }

    /// Paho reports every transport failure as -1 "TCP/TLS connect failure" (its timeout and a connection
    /// closed before CONNACK arrive here as their own codes); tell the user which one it was, naming the
    /// broker (host:port) and, for a refused login, the user.
    private func classifyConnectFailure(
        _ error: MQTTError,
        timeout: Duration,
        version: MQTTVersion
    ) async -> MQTTError {
        if let tlsError = connection.core.takeTLSError(), error.code.rawValue < 0 {
            return MQTTError(
                .tlsFailure,
                "TLS handshake with \(target) failed: \(Self.openSSLReason(tlsError)) (check --cafile, and that the "
                    + "broker's certificate has not expired)."
            )
        }
        switch error.code {
        case .badUserNameOrPassword:
            return MQTTError(error.code, "\(target) refused \(userPhrase): bad user name or password.")
        case .notAuthorized:
            return MQTTError(error.code, "\(target) refused \(userPhrase): not authorized.")
        case let code where code.rawValue > 0:
            return MQTTError(
                code,
                "\(target) refused the connection: \(MQTTError.reasonText(code.rawValue).lowercased())."
            )
        case .connectionClosed:
            let name = version == .v5 ? "MQTT 5" : "MQTT 3.1.1"
            return MQTTError(.connectionClosed, "\(target) closed the connection before answering the \(name) CONNECT.")
        case .timedOut:
            return MQTTError(.timedOut, "No answer from \(target) within \(timeout).")
        case .failure, .disconnected:
            break
        default:
            return error
        }
        // getaddrinfo blocks for as long as the resolver takes (its timeout, offline): on a thread of its own.
        if let problem = await BlockingCall.run({ [host = configuration.host] in Self.resolve(host) }) {
            return MQTTError(.hostNotFound, "Cannot resolve host \(configuration.host): \(problem).")
        }
        if configuration.tls != nil {
            // Paho checks the host name after the handshake, without OpenSSL's error text.
            return MQTTError(
                .tlsFailure,
                "TLS handshake with \(target) failed: the certificate is not for \(configuration.host), or this is not "
                    + "a TLS port."
            )
        }
        return MQTTError(.connectionRefused, "Cannot connect to \(target): connection refused.")
    }

    /// The readable part of an OpenSSL error line ("…:SSL routines:func:certificate verify failed:file:line:").
    private static func openSSLReason(_ line: String) -> String {
        let fields = line.split(separator: ":", omittingEmptySubsequences: false)
        if fields.count > 5, !fields[5].isEmpty { return String(fields[5]) }
        return line.trimmingTrailingNewlines
    }

    /// nil when the host resolves; otherwise getaddrinfo's explanation.
    private static func resolve(_ host: String) -> String? {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var result: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(host, nil, &hints, &result)
        if let result { freeaddrinfo(result) }
        return rc == 0 ? nil : String(cString: gai_strerror(rc))
    }

    // MARK: Reconnect

    private func reconnect(policy: MQTTReconnectPolicy, connection: PahoConnection) async {
        var delay = policy.initialDelay
        let core = connection.core
        let version = core.version
        let quickLosses = state.withLock { state -> Int in
            let held = state.connectedAt.map { ContinuousClock.now - $0 >= Self.quickLoss } ?? true
            // A broker that said why it disconnected (MQTT 5 DISCONNECT; mosquitto closes a taken-over
            // connection without one) did not hand the session to another client.
            let explained = core.lastDisconnectReason.map { $0 != Code.sessionTakenOver.rawValue } ?? false
            state.quickLosses = state.connectedByPromptReconnect && !held && !explained ? state.quickLosses + 1 : 0
            return state.quickLosses
        }
        if quickLosses >= Self.quickLossLimit || core.lastDisconnectReason == Code.sessionTakenOver.rawValue {
            close(sessionTakenOver)
            return
        }
        // Set once the handle was replaced: requests made before this number went to the old one.
        var oldHandleRequests: Int?
        var attempts = 0
        while !Task.isCancelled {
            do {
                try await Task.sleep(for: delay)
            } catch {
                return
            }
            // Checked after the pause: Paho may report the broker's DISCONNECT just after the lost connection.
            if core.lastDisconnectReason == MQTTError.Code.sessionTakenOver.rawValue {
                close(sessionTakenOver)
                return
            }
            // A handle Paho damaged would resend freed memory on every connection: connect with a fresh one.
            if core.takeHandleDamage() {
                do {
                    try connection.replaceHandle()
                } catch {
                    close(error)
                    return
                }
                oldHandleRequests = core.beginNewHandle()
            }
            attempts += 1
            do {
                // Resume the session so queued messages and in-flight publishes survive the outage.
                let result = try await attemptConnect(
                    version: version,
                    cleanStart: false,
                    timeout: configuration.connectTimeout
                )
                let number = core.markConnected(result)
                if let oldHandleRequests {
                    // What the old handle held will never be answered: send it all again now.
                    core.settleStalePublishes(before: oldHandleRequests, exactlyOnce: false)
                    core.settleStalePublishes(before: oldHandleRequests, exactlyOnce: true)
                }
                Task {
                    try await Task.sleep(for: Self.redriveGrace)
                    core.settleStalePublishes(before: number, exactlyOnce: false)
                    // QoS 2 gets longer: Paho's own resend of the session completes them when it can.
                    try await Task.sleep(for: Self.redriveGrace * 4)
                    core.settleStalePublishes(before: number, exactlyOnce: true)
                }
                let (subscriptions, unconfirmed) = state.withLock { state in
                    state.result = result
                    state.connectedAt = .now
                    state.connectedByPromptReconnect = attempts == 1
                    return (state.subscriptions, state.unconfirmed)
                }
                try await renew(subscriptions, unconfirmed: unconfirmed, sessionPresent: result.sessionPresent)
                core.events.yield(.reconnected(result))
                return
            } catch let error where error.code.isAuthorizationFailure || error.code == .sessionTakenOver {
                close(error)
                return
            } catch {
                delay = min(delay * 2, policy.maximumDelay)
            }
        }
    }

    /// Gives up for good: tells the user through `events` and ends `messages` with the error.
    private func close(_ error: MQTTError) {
        connection.core.events.yield(.closed(error))
        connection.core.messages.finish(throwing: error)
    }

    // MARK: Publish

    /// Publishes and returns when the broker acknowledged it (QoS 1 and 2) or it was written (QoS 0).
    /// While the connection is down the message waits in Paho's buffer and goes out after reconnecting.
    /// `expiry`: seconds after which the broker drops the message, a retained one included (MQTT 5's
    /// message expiry interval; ignored under 3.1.1, which has none).
    public func publish(
        topic: String,
        payload: [UInt8],
        qos: MQTTQoS = .atLeastOnce,
        retain: Bool = false,
        expiry: UInt32? = nil
    )
        async throws(MQTTError)
    {
        try MQTTTopic.validateName(topic)
        let bytes = payload
        let response = try await request { completion in
            send(topic: topic, payload: bytes, qos: qos, retain: retain, expiry: expiry, completion: completion)
        }
        if case .failure(let error) = response { throw error }
    }

    /// Starts a publish without waiting; `completion` runs once, on a Paho thread, with the outcome.
    /// This is the streaming path: no task or continuation per message. Pair it with `waitForPublishes()`.
    public func startPublish(
        topic: String,
        payload: [UInt8],
        qos: MQTTQoS,
        retain: Bool = false,
        completion: @escaping @Sendable (Result<Void, MQTTError>) -> Void
    ) {
        startPublish(
            topic: topic,
            payload: payload,
            qos: qos,
            retain: retain,
            fromCallback: false,
            completion: completion
        )
    }

    /// `startPublish`, also from such a completion (`fromCallback`): it never waits for a lock there, and a
    /// publish that would have to is sent from a thread of the client's own instead.
    public func startPublish(
        topic: String,
        payload: [UInt8],
        qos: MQTTQoS,
        retain: Bool,
        fromCallback: Bool,
        completion: @escaping @Sendable (Result<Void, MQTTError>) -> Void
    ) {
        send(topic: topic, payload: payload, qos: qos, retain: retain, fromCallback: fromCallback) { result in
            completion(result.map { _ in () })
        }
    }

    /// Counts a publish the caller has queued and not started yet among `unacknowledgedPublishes`, so
    /// `waitForPublishes()` waits for it too. `endReservation()` once it is started or given up.
    public func reservePublish() {
        connection.core.holdPublish()
    }

    /// Ends one `reservePublish()`.
    public func endReservation() {
        connection.core.releasePublish()
    }

    /// Runs `body` while the Paho handle is taken, so a publish from a callback meanwhile finds it busy.
    /// For tests (`@testable import`); blocks, so call it on a thread of your own.
    func holdingHandle(_ body: () -> Void) {
        connection.holdingHandle(body)
    }

    /// What a client whose session another one took over is closed with.
    private var sessionTakenOver: MQTTError {
        MQTTError(
            .sessionTakenOver,
            "Another client connected with the same client id (\(configuration.clientID)) and took over this session."
        )
    }

    /// How often a publish Paho dropped is sent again before the failure is reported.
    private static let resendLimit = 100
    private static let resendable: Set<MQTTError.Code> = [
        .failure, .disconnected, .operationIncomplete, .connectionLost,
    ]
    /// After a reconnect Paho resends its in-flight publishes; what it has not settled by then it has lost.
    private static let redriveGrace: Duration = .seconds(2)

    /// Sends through Paho and re-drives what Paho drops because of the connection: when a connection is lost
    /// or a reconnect attempt fails, Paho fails the publishes it had queued (MQTTASYNC_FAILURE,
    /// MQTTASYNC_DISCONNECTED, MQTTASYNC_OPERATION_INCOMPLETE). They go out again on the next connection.
    /// So does a publish from a callback that found the handle busy (`PahoConnection.handleBusy`), at once.
    /// Refusals by the broker (reason codes) are final.
    @discardableResult
    private func send(
        topic: String,
        payload: [UInt8],
        qos: MQTTQoS,
        retain: Bool,
        expiry: UInt32? = nil,
        attempt: Int = 1,
        fromCallback: Bool = false,
        completion: @escaping ClientCore.Completion
    ) -> UInt64 {
        let core = connection.core
        return payload.withUnsafeBytes { buffer in
            connection.publish(
                topic: topic,
                payload: buffer,
                qos: qos,
                retain: retain,
                expiry: expiry,
                fromCallback: fromCallback
            ) {
                [weak self] result in
                if case .failure(let error) = result, Self.resendable.contains(error.code), attempt < Self.resendLimit,
                    !core.isClosing, let self
                {
                    // Not from here: this runs on a Paho thread, possibly under Paho's lock, and calling
                    // MQTTAsync_send now would deadlock. Held meanwhile, so a flush cannot see "all settled"
                    // (and the publisher exit 0) before the new attempt is registered.
                    core.holdPublish()
                    self.resendQueue.async {
                        self.send(
                            topic: topic,
                            payload: payload,
                            qos: qos,
                            retain: retain,
                            expiry: expiry,
                            attempt: attempt + 1,
                            completion: completion
                        )
                        core.releasePublish()
                    }
                } else {
                    completion(result)
                }
            }
        }
    }

    /// Publishes started and not yet acknowledged, failed or abandoned.
    public var unacknowledgedPublishes: Int { connection.core.unsettledPublishes }

    /// Returns once every publish started so far has an outcome.
    public func waitForPublishes() async {
        await connection.core.waitForPublishes()
    }

    /// Fails every publish still waiting, e.g. when giving up after a timeout. Returns how many there were.
    @discardableResult
    public func abandonPublishes(_ error: MQTTError) -> Int {
        let count = connection.core.unsettledPublishes
        connection.core.settle(
            where: {
                if case .publish = $0 { return true }
                return false
            },
            with: error
        )
        return count
    }

    // MARK: Subscribe

    /// Subscribes to each filter and returns the granted QoS, in order. Throws if the broker refuses any
    /// of them (MQTT 5 SUBACK reason code, or 0x80 under 3.1.1). Subscriptions are renewed after reconnects.
    @discardableResult
    public func subscribe(_ filters: [(String, MQTTQoS)]) async throws(MQTTError) -> [MQTTQoS] {
        try await subscribe(filters.map { MQTTSubscription($0.0, qos: $0.1) })
    }

    /// Subscribes with MQTT 5 options. A subscription whose request is cut off by a lost connection is kept
    /// and sent again after the reconnect (the call still throws); one the broker refuses is forgotten.
    @discardableResult
    public func subscribe(_ subscriptions: [MQTTSubscription]) async throws(MQTTError) -> [MQTTQoS] {
        for subscription in subscriptions { try MQTTTopic.validateFilter(subscription.filter) }
        let filters = Set(subscriptions.map(\.filter))
        state.withLock { state in
            state.subscriptions.removeAll { filters.contains($0.filter) }
            state.subscriptions += subscriptions
            state.unconfirmed.formUnion(filters)
        }
        do {
            let granted = try await sendSubscribe(subscriptions)
            state.withLock { $0.unconfirmed.subtract(filters) }
            return granted
        } catch  where !error.code.isConnectionLoss {
            state.withLock { state in
                state.subscriptions.removeAll { filters.contains($0.filter) }
                state.unconfirmed.subtract(filters)
            }
            throw error
        }
    }

    /// Ends subscriptions. Cut off by a lost connection, it is applied again after the reconnect.
    public func unsubscribe(_ filters: [String]) async throws(MQTTError) {
        guard !filters.isEmpty else { return }
        let removed = Set(filters)
        state.withLock { state in
            state.subscriptions.removeAll { removed.contains($0.filter) }
            state.unconfirmed.formUnion(removed)
        }
        let response = try await request { completion in
            connection.unsubscribe(filters, completion: completion)
        }
        if case .failure(let error) = response {
            if !error.code.isConnectionLoss { state.withLock { $0.unconfirmed.subtract(removed) } }
            throw error
        }
        state.withLock { $0.unconfirmed.subtract(removed) }
    }

    /// The subscriptions the client keeps (and renews after reconnects).
    public var subscriptions: [MQTTSubscription] { state.withLock { $0.subscriptions } }

    /// After a reconnect: everything again if the broker forgot the session, else what was never confirmed.
    /// Renewals of existing subscriptions ask for no retained messages the session already delivered.
    private func renew(
        _ subscriptions: [MQTTSubscription],
        unconfirmed: Set<String>,
        sessionPresent: Bool
    )
        async throws(MQTTError)
    {
        let again = sessionPresent ? subscriptions.filter { unconfirmed.contains($0.filter) } : subscriptions
        let kept = Set(subscriptions.map(\.filter))
        let gone = sessionPresent ? unconfirmed.subtracting(kept).sorted() : []
        if !again.isEmpty {
            _ = try await sendSubscribe(again)
        }
        if !gone.isEmpty {
            if case .failure(let error) = try await request({ connection.unsubscribe(gone, completion: $0) }) {
                throw error
            }
        }
        state.withLock { $0.unconfirmed.subtract(Set(again.map(\.filter)).union(gone)) }
    }

    private func sendSubscribe(_ subscriptions: [MQTTSubscription]) async throws(MQTTError) -> [MQTTQoS] {
        let version = connection.core.version
        let response = try await request { completion in
            connection.subscribe(subscriptions, completion: completion)
        }
        let codes: [Int32]
        switch response {
        case .success(.subscribed(let granted)):
            codes = granted
        case .success:
            throw MQTTError(.failure, "\(target) answered the subscribe with something else.")
        case .failure(let error) where error.code.rawValue >= 0x80:
            // Paho reports a SUBACK whose only (or first) code refuses as a failure with that reason code.
            codes = Array(repeating: error.code.rawValue, count: subscriptions.count)
        case .failure(let error):
            throw error
        }
        var granted: [MQTTQoS] = []
        for (index, subscription) in subscriptions.enumerated() {
            let code = index < codes.count ? codes[index] : 0x80
            guard let qos = MQTTQoS(rawValue: code) else {
                // A refused subscription is the broker's access rules (ACL), not the login: that succeeded.
                let what = "\(target) refused the subscription to \(subscription.filter) for \(userPhrase)"
                let message: String
                if code == 0x87 {
                    message = "\(what): not authorized by the broker's ACL (an access rule, not the password)."
                } else if code == 0x80 && version == .v3_1_1 {
                    message = "\(what) (MQTT 3.1.1 gives no reason; usually the broker's ACL, not the password)."
                } else {
                    message = "\(what): \(MQTTError.reasonText(code).lowercased())."
                }
                throw MQTTError(
                    MQTTError.Code(rawValue: code == 0x80 ? MQTTError.Code.notAuthorized.rawValue : code),
                    message,
                    topic: subscription.filter
                )
            }
            granted.append(qos)
        }
        return granted
    }

    // MARK: Disconnect

    /// Disconnects cleanly, giving in-flight messages up to `timeout`. With `endSession`, a persistent MQTT 5
    /// session is ended too (session expiry set to zero). Idempotent; stops reconnecting.
    public func disconnect(timeout: Duration = .seconds(2), endSession: Bool = false) async {
        let task = state.withLock { state -> Task<Void, Never>? in
            defer { state.reconnectTask = nil }
            return state.reconnectTask
        }
        task?.cancel()
        let core = connection.core
        core.markClosing()
        if connection.isConnected {
            // Bounded: after a lost connection Paho may never answer a disconnect.
            _ = try? await request(timeout: timeout + .seconds(1)) { completion in
                connection.disconnect(timeout: timeout, endSession: endSession, completion: completion)
            }
        }
        core.messages.finish()
        core.events.finish()
    }

    /// Connects, runs `body`, and disconnects whether it returns or throws.
    public static func withConnection<Result: Sendable>(
        _ configuration: MQTTConfiguration,
        _ body: (MQTTClient) async throws -> Result
    ) async throws -> Result {
        let client = try MQTTClient(configuration)
        try await client.connect()
        do {
            let result = try await body(client)
            await client.disconnect()
            return result
        } catch {
            await client.disconnect()
            throw error
        }
    }

    // MARK: Plumbing

    /// Runs one Paho request as an async call: a continuation completed by the request's callback, by a
    /// synchronous failure, or by cancellation, whichever comes first (`ClientCore` makes it exactly once).
    private func request(
        timeout: Duration? = nil,
        _ start: (@escaping ClientCore.Completion) -> UInt64?
    ) async throws(MQTTError) -> Result<ClientCore.Response, MQTTError> {
        let id = Mutex<UInt64?>(nil)
        let core = connection.core
        let watchdog = Mutex<Task<Void, Never>?>(nil)
        defer { watchdog.withLock { $0?.cancel() } }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let started = start { continuation.resume(returning: $0) }
                id.withLock { $0 = started }
                if let timeout, let started {
                    let task = Task {
                        guard (try? await Task.sleep(for: timeout)) != nil else { return }
                        core.settle(
                            id: started,
                            with: MQTTError(.timedOut, "No answer from the broker within \(timeout).")
                        )
                    }
                    watchdog.withLock { $0 = task }
                }
            }
        } onCancel: {
            if let started = id.withLock({ $0 }) {
                core.settle(id: started, with: MQTTError(.cancelled, "The request was cancelled."))
            }
        }
    }
}

/// Receives each message on Paho's receive thread (see `MQTTClient.init(_:onMessage:)`).
public typealias MQTTMessageHandler = @Sendable (MQTTMessage) -> Void

/// The messages of a client's subscriptions, as an `AsyncSequence` (mqtt-nio's `MQTTSubscription`).
public struct MQTTMessageStream: AsyncSequence, Sendable {
    public typealias Element = MQTTMessage
    let base: AsyncThrowingStream<MQTTMessage, any Error>

    public struct AsyncIterator: AsyncIteratorProtocol {
        var base: AsyncThrowingStream<MQTTMessage, any Error>.AsyncIterator
        /// The next message, nil after a clean disconnect; throws `MQTTError` if the client gave up.
        public mutating func next() async throws -> MQTTMessage? {
            try await base.next()
        }
    }

    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(base: base.makeAsyncIterator())
    }
}

extension String {
    fileprivate var trimmingTrailingNewlines: String {
        var text = self
        while let last = text.last, last.isNewline || last == "." { text.removeLast() }
        return text
    }
}
