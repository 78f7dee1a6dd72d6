import CPahoMQTT
import ChatProtocol
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// The Paho `MQTTAsync` handle. A raw pointer, so it sits alone in this small wrapper; Paho's API is
/// thread-safe (it takes its own lock), which is what makes sharing the pointer across threads sound.
struct PahoHandle: @unchecked Sendable {
    let raw: MQTTAsync
}

/// Owns the Paho client handle and makes every C call on it.
///
/// Every context Paho is given lives for as long as Paho can call it. `core`, the context of a handle's own
/// callbacks (connection lost, message, DISCONNECT, TLS error), is retained once by each handle until that
/// handle is destroyed. A request's context lives in `core`'s table until Paho answers it, else as long as
/// `core` (see `ClientCore`).
///
/// Order of destruction (`deinit`):
/// 1. A handle Paho damaged (`ClientCore.takeHandleDamage`) is left like a replaced one (below): not destroyed,
///    it keeps its retain on `core`.
/// 2. Otherwise `MQTTAsync_destroy`: under Paho's lock, Paho fails the requests this handle holds, calling into
///    their contexts (alive: `core`'s table holds them); once it returns, this handle calls nothing more.
/// 3. `core.destroyed()`: what still waits fails; the contexts stay, for any handle that was left.
/// 4. The destroyed handle's retain on `core` is released. With no handle left, `core` goes with the client,
///    and with it every context.
///
/// Whoever may still call into Paho (the client and its reconnect task) holds this object strongly, so the
/// handle cannot be destroyed under a call. `deinit` never runs on a Paho thread: no callback holds this object.
///
/// A handle whose state Paho damaged is replaced by a fresh one (`replaceHandle`) and left alone for good,
/// never destroyed (Paho keeps it in its own list; nothing here needs it again).
/// Every C call takes the handle under `handle`'s lock, so no request can reach a handle after it was set aside.
final class PahoConnection: Sendable {
    let core: ClientCore
    let configuration: MQTTConfiguration
    /// The handle requests go to; `replaceHandle` swaps it.
    private let handle: Mutex<PahoHandle>
    /// `core`, retained on behalf of the current handle; released in `deinit` after destroy.
    private let retainedCore: Unmanaged<ClientCore>
    private var coreContext: UnsafeMutableRawPointer { retainedCore.toOpaque() }

    init(configuration: MQTTConfiguration, core: ClientCore) throws(MQTTError) {
        self.configuration = configuration
        self.core = core
        try PahoLibrary.ready(forTLS: configuration.tls != nil)
        retainedCore = Unmanaged.passRetained(core)
        do {
            handle = Mutex(try Self.makeHandle(configuration, configuration.version, retainedCore))
        } catch {
            retainedCore.release()
            throw error
        }
    }

    /// A Paho client for `configuration`, calling back into `core`.
    private static func makeHandle(
        _ configuration: MQTTConfiguration,
        _ version: MQTTVersion,
        _ core: Unmanaged<ClientCore>
    ) throws(MQTTError) -> PahoHandle {
        var createOptions = version == .v5 ? cpaho_createOptions5() : cpaho_createOptions()
        createOptions.sendWhileDisconnected = 1
        createOptions.allowDisconnectedSendAtAnyTime = 1
        createOptions.maxBufferedMessages = Int32(clamping: max(configuration.maxBufferedMessages, 1))
        var raw: MQTTAsync?
        let rc = cpaho_createWithOptions(
            &raw,
            configuration.serverURI,
            configuration.clientID,
            MQTTCLIENT_PERSISTENCE_NONE,
            nil,
            &createOptions
        )
        guard rc == MQTTASYNC_SUCCESS, let raw else {
            throw MQTTError.paho(rc, doing: "create a client for \(configuration.serverURI)")
        }
        let context = core.toOpaque()
        let callbacksSet = cpaho_setCallbacks(raw, context, onConnectionLost, onMessageArrived, nil)
        let disconnectedSet = cpaho_setDisconnected(raw, context, onDisconnected)
        guard callbacksSet == MQTTASYNC_SUCCESS, disconnectedSet == MQTTASYNC_SUCCESS else {
            var destroyed: MQTTAsync? = raw
            cpaho_destroy(&destroyed)
            throw MQTTError.paho(callbacksSet != 0 ? callbacksSet : disconnectedSet, doing: "set callbacks")
        }
        return PahoHandle(raw: raw)
    }

    /// Sets the current handle aside for a fresh one, between connections (after a loss, before reconnecting).
    ///
    /// Why: Paho 1.3.12 keeps a QoS 1 or 2 message whose write failed (the connection broke under it) in the
    /// session for resending, but frees its topic and payload with the failed command (MQTTAsync_processCommand,
    /// SOCKET_ERROR branch; still so upstream). After the reconnect it resends freed memory: an empty topic and
    /// a payload overwritten by malloc, which the broker refuses as a protocol error, on every reconnect for
    /// good. The publishes Paho reported as failed are sent again by the client, on the new handle. The old
    /// handle is never destroyed: destroying it would free that memory a second time.
    func replaceHandle() throws(MQTTError) {
        let fresh = try Self.makeHandle(configuration, core.version, retainedCore)
        handle.withLock { $0 = fresh }
        // The handle set aside keeps `core` as its callback context for as long as the process lives.
        _ = retainedCore.retain()
    }

    deinit {
        // In the order the type's comment gives. A damaged handle (a broken write since the last connect) is left
        // like the replaced ones: destroying it would free a message's memory a second time.
        let damaged = core.takeHandleDamage()
        if !damaged {
            var raw: MQTTAsync? = handle.withLock { $0.raw }
            cpaho_destroy(&raw)
        }
        core.destroyed()
        if !damaged { retainedCore.release() }
    }

    /// Runs one C call on the current handle, under the lock that `replaceHandle` takes.
    private func call<Result>(_ body: (MQTTAsync) -> Result) -> Result {
        handle.withLock { body($0.raw) }
    }

    /// `call` for a Paho thread inside one of Paho's callbacks, which runs under Paho's client mutex: another
    /// thread may hold `handle` while it waits for that mutex in a C call, so waiting here could deadlock.
    /// Nil when `handle` is taken.
    private func callIfAvailable<Result>(_ body: (MQTTAsync) -> Result) -> Result? {
        handle.withLockIfAvailable { body($0.raw) }
    }

    /// Runs `body` holding `handle`, as a thread waiting inside a C call does: for the test of `handleBusy`.
    func holdingHandle(_ body: () -> Void) {
        handle.withLock { _ in body() }
    }

    /// What a publish from a Paho callback fails with when the handle was busy; `MQTTClient` sends it again
    /// from a thread of its own.
    static let handleBusy = MQTTError(.operationIncomplete, "The client was busy; sending again.")

    var isConnected: Bool { call { cpaho_isConnected($0) } != 0 }

    /// Sets TCP_NODELAY on this client's own socket (see `TCPNoDelay`); after a connect.
    func setNoDelay() {
        _ = call { TCPNoDelay.apply(to: $0, clientID: configuration.clientID, peerPort: configuration.port) }
    }

    // MARK: Requests. Each registers with the core first; if the C call fails, no callback will follow.

    @discardableResult
    func connect(
        version: MQTTVersion,
        cleanStart: Bool,
        timeout: Duration,
        completion: @escaping ClientCore.Completion
    ) -> UInt64 {
        let (id, context) = core.register(.connect, completion: PahoLibrary.countConnect(completion))
        let rc = CStrings.scope { strings -> Int32 in
            var options = version == .v5 ? cpaho_connectOptions5() : cpaho_connectOptions()
            options.keepAliveInterval = Int32(clamping: configuration.keepAlive)
            options.maxInflight = Int32(clamping: max(configuration.maxInflight, 1))
            options.connectTimeout = Int32(clamping: max(timeout.components.seconds, 1))
            options.automaticReconnect = 0
            options.username = strings.optional(configuration.username)
            options.password = strings.optional(configuration.password)
            options.context = context.pointer
            var properties = cpaho_properties()
            var willProperties = cpaho_properties()
            defer {
                cpaho_propertiesFree(&properties)
                cpaho_propertiesFree(&willProperties)
            }
            if version == .v5 {
                options.cleanstart = cleanStart ? 1 : 0
                options.onSuccess5 = onSuccess5
                options.onFailure5 = onFailure5
                if configuration.sessionExpiry > 0 {
                    _ = cpaho_addIntProperty(
                        &properties,
                        MQTTPROPERTY_CODE_SESSION_EXPIRY_INTERVAL,
                        Int32(bitPattern: configuration.sessionExpiry)
                    )
                }
            } else {
                // 3.1.1 has no session expiry, so a session kept "just for reconnects" would stay on the broker
                // for ever: only an explicitly persistent configuration (cleanStart false) gets one.
                options.cleansession = configuration.cleanStart ? 1 : 0
                options.onSuccess = onSuccess
                options.onFailure = onFailure
            }
            return withUnsafeMutablePointer(to: &properties) { propertiesPointer in
                withUnsafeMutablePointer(to: &willProperties) { willPropertiesPointer in
                    if version == .v5 {
                        options.connectProperties = propertiesPointer
                        options.willProperties = willPropertiesPointer
                    }
                    var will = cpaho_willOptions()
                    var ssl = cpaho_sslOptions()
                    return withUnsafeMutablePointer(to: &will) { willPointer in
                        withUnsafeMutablePointer(to: &ssl) { sslPointer in
                            if let configured = configuration.will {
                                willPointer.pointee.topicName = UnsafePointer(strings.make(configured.topic))
                                willPointer.pointee.message = nil
                                willPointer.pointee.payload.len = Int32(configured.payload.count)
                                willPointer.pointee.payload.data = UnsafeRawPointer(strings.bytes(configured.payload))
                                willPointer.pointee.qos = configured.qos.rawValue
                                willPointer.pointee.retained = configured.retain ? 1 : 0
                                options.will = willPointer
                            }
                            if let tls = configuration.tls {
                                sslPointer.pointee.trustStore = strings.optional(tls.caFile)
                                sslPointer.pointee.keyStore = strings.optional(tls.certificateFile)
                                sslPointer.pointee.privateKey = strings.optional(tls.privateKeyFile)
                                sslPointer.pointee.enableServerCertAuth = 1
                                sslPointer.pointee.verify = tls.skipHostnameVerification ? 0 : 1
                                sslPointer.pointee.ssl_error_cb = onTLSError
                                sslPointer.pointee.ssl_error_context = coreContext
                                options.ssl = sslPointer
                            }
                            return call { cpaho_connect($0, &options) }
                        }
                    }
                }
            }
        }
        if rc != MQTTASYNC_SUCCESS {
            core.abandon(id, with: MQTTError.paho(rc, doing: "connect to \(configuration.host):\(configuration.port)"))
        }
        return id
    }

    /// Starts a publish; `completion` runs on a Paho thread when the broker acknowledged it (QoS 1/2) or
    /// it was written (QoS 0). Returns the request id so the caller can settle it on cancellation.
    /// `fromCallback`: called on a Paho thread from a callback; a busy handle then fails it with `handleBusy`
    /// instead of waiting (see `callIfAvailable`).
    @discardableResult
    func publish(
        topic: String,
        payload: UnsafeRawBufferPointer,
        qos: MQTTQoS,
        retain: Bool,
        expiry: UInt32? = nil,
        fromCallback: Bool = false,
        completion: @escaping ClientCore.Completion
    ) -> UInt64 {
        let (id, context) = core.register(.publish(qos), completion: completion)
        var options = responseOptions(context, version: core.version)
        // Paho copies the properties into the PUBLISH before returning.
        var properties = cpaho_properties()
        defer { cpaho_propertiesFree(&properties) }
        if let expiry, core.version == .v5 {
            _ = cpaho_addIntProperty(&properties, MQTTPROPERTY_CODE_MESSAGE_EXPIRY_INTERVAL, Int32(bitPattern: expiry))
            options.properties = properties
        }
        // Paho copies topic and payload before returning.
        let send = { (raw: MQTTAsync) in
            cpaho_send(
                raw,
                topic,
                Int32(clamping: payload.count),
                payload.baseAddress,
                qos.rawValue,
                retain ? 1 : 0,
                &options
            )
        }
        guard let rc = fromCallback ? callIfAvailable(send) : call(send) else {
            core.abandon(id, with: Self.handleBusy)
            return id
        }
        if rc != MQTTASYNC_SUCCESS {
            core.abandon(id, with: MQTTError.paho(rc, doing: "publish to \(topic)"))
        }
        return id
    }

    func subscribe(_ subscriptions: [MQTTSubscription], completion: @escaping ClientCore.Completion) -> UInt64 {
        let (id, context) = core.register(.subscribe(count: subscriptions.count), completion: completion)
        let version = core.version
        let rc = CStrings.scope { strings -> Int32 in
            var topics: [UnsafeMutablePointer<CChar>?] = subscriptions.map { strings.make($0.filter) }
            var qos = subscriptions.map { $0.qos.rawValue }
            var subscribeOptions = subscriptions.map { subscription in
                var options = cpaho_subscribeOptions()
                options.noLocal = subscription.noLocal ? 1 : 0
                options.retainHandling = subscription.retainHandling.rawValue
                return options
            }
            var options = responseOptions(context, version: version)
            return subscribeOptions.withUnsafeMutableBufferPointer { list in
                if version == .v5 {
                    // Paho reads the list for several filters and the single `subscribeOptions` for one.
                    options.subscribeOptions = list[0]
                    options.subscribeOptionsCount = Int32(list.count)
                    options.subscribeOptionsList = list.baseAddress
                }
                return call { cpaho_subscribeMany($0, Int32(subscriptions.count), &topics, &qos, &options) }
            }
        }
        if rc != MQTTASYNC_SUCCESS {
            core.abandon(id, with: MQTTError.paho(rc, doing: "subscribe"))
        }
        return id
    }

    func unsubscribe(_ filters: [String], completion: @escaping ClientCore.Completion) -> UInt64 {
        let (id, context) = core.register(.unsubscribe, completion: completion)
        let rc = CStrings.scope { strings -> Int32 in
            var topics: [UnsafeMutablePointer<CChar>?] = filters.map { strings.make($0) }
            var options = responseOptions(context, version: core.version)
            return call { cpaho_unsubscribeMany($0, Int32(filters.count), &topics, &options) }
        }
        if rc != MQTTASYNC_SUCCESS {
            core.abandon(id, with: MQTTError.paho(rc, doing: "unsubscribe"))
        }
        return id
    }

    /// Response options calling back into `context` with the callbacks of the negotiated version.
    private func responseOptions(_ context: RequestContext, version: MQTTVersion) -> MQTTAsync_responseOptions {
        var options = cpaho_responseOptions()
        options.context = context.pointer
        if version == .v5 {
            options.onSuccess5 = onSuccess5
            options.onFailure5 = onFailure5
        } else {
            options.onSuccess = onSuccess
            options.onFailure = onFailure
        }
        return options
    }

    @discardableResult
    func disconnect(timeout: Duration, endSession: Bool, completion: @escaping ClientCore.Completion) -> UInt64 {
        let (id, context) = core.register(.disconnect, completion: completion)
        let version = core.version
        var options = version == .v5 ? cpaho_disconnectOptions5() : cpaho_disconnectOptions()
        options.timeout = Int32(
            clamping: timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000
        )
        options.context = context.pointer
        var properties = cpaho_properties()
        defer { cpaho_propertiesFree(&properties) }
        if version == .v5 {
            options.onSuccess5 = onSuccess5
            options.onFailure5 = onFailure5
            if endSession && configuration.sessionExpiry > 0 {
                // Ends the session with this DISCONNECT instead of leaving it on the broker.
                _ = cpaho_addIntProperty(&properties, MQTTPROPERTY_CODE_SESSION_EXPIRY_INTERVAL, 0)
                options.properties = properties
            }
        } else {
            options.onSuccess = onSuccess
            options.onFailure = onFailure
        }
        let rc = call { cpaho_disconnect($0, &options) }
        if rc != MQTTASYNC_SUCCESS {
            core.abandon(id, with: MQTTError.paho(rc, doing: "disconnect"))
        }
        return id
    }
}

// MARK: - Callbacks: file-scope, captureless; they reach state only through their context pointer.

private func onSuccess5(_ context: UnsafeMutableRawPointer?, _ data: UnsafeMutablePointer<MQTTAsync_successData5>?) {
    guard let request = RequestContext.from(context) else { return }
    let response: ClientCore.Response
    switch request.kind {
    case .connect:
        var receiveMaximum = 65_535
        var sessionPresent = false
        if let data {
            sessionPresent = data.pointee.alt.connect.sessionPresent != 0
            if cpaho_propertiesHas(&data.pointee.properties, MQTTPROPERTY_CODE_RECEIVE_MAXIMUM) != 0 {
                receiveMaximum = Int(
                    cpaho_propertiesNumber(&data.pointee.properties, MQTTPROPERTY_CODE_RECEIVE_MAXIMUM)
                )
            }
        }
        response = .connected(
            MQTTConnectResult(version: .v5, sessionPresent: sessionPresent, receiveMaximum: receiveMaximum)
        )
    case .subscribe(let count):
        var codes: [Int32] = []
        if let data {
            let sub = data.pointee.alt.sub
            // Paho fills the array only for more than one filter; for one, the code is in `reasonCode`.
            if sub.reasonCodeCount > 1, let list = sub.reasonCodes {
                codes = (0..<Int(sub.reasonCodeCount)).map { Int32(list[$0].rawValue) }
            } else {
                codes = Array(repeating: Int32(data.pointee.reasonCode.rawValue), count: count)
            }
        }
        response = .subscribed(codes)
    case .publish:
        response = .published
    case .disconnect, .unsubscribe:
        response = .done
    }
    request.core.complete(request.id, with: .success(response))
}

private func onFailure5(_ context: UnsafeMutableRawPointer?, _ data: UnsafeMutablePointer<MQTTAsync_failureData5>?) {
    guard let request = RequestContext.from(context) else { return }
    var code: Int32 = MQTTASYNC_FAILURE
    var reason: Int32 = 0
    var text: String?
    if let data {
        code = data.pointee.code
        reason = Int32(data.pointee.reasonCode.rawValue)
        text = data.pointee.message.map { String(cString: $0) }
    }
    request.core.complete(
        request.id,
        with: .failure(MQTTError.failure(code: code, reason: reason, text: text, for: request.kind))
    )
}

private func onSuccess(_ context: UnsafeMutableRawPointer?, _ data: UnsafeMutablePointer<MQTTAsync_successData>?) {
    guard let request = RequestContext.from(context) else { return }
    let response: ClientCore.Response
    switch request.kind {
    case .connect:
        let sessionPresent = data.map { $0.pointee.alt.connect.sessionPresent != 0 } ?? false
        response = .connected(
            MQTTConnectResult(version: .v3_1_1, sessionPresent: sessionPresent, receiveMaximum: 65_535)
        )
    case .subscribe(let count):
        var codes: [Int32] = []
        if let data {
            if count == 1 {
                codes = [data.pointee.alt.qos]
            } else if let list = data.pointee.alt.qosList {
                codes = (0..<count).map { list[$0] }
            }
        }
        response = .subscribed(codes)
    case .publish:
        response = .published
    case .disconnect, .unsubscribe:
        response = .done
    }
    request.core.complete(request.id, with: .success(response))
}

private func onFailure(_ context: UnsafeMutableRawPointer?, _ data: UnsafeMutablePointer<MQTTAsync_failureData>?) {
    guard let request = RequestContext.from(context) else { return }
    var code: Int32 = MQTTASYNC_FAILURE
    var text: String?
    if let data {
        code = data.pointee.code
        text = data.pointee.message.map { String(cString: $0) }
    }
    request.core.complete(
        request.id,
        with: .failure(MQTTError.failure(code: code, reason: 0, text: text, for: request.kind, v311: true))
    )
}

private func onConnectionLost(_ context: UnsafeMutableRawPointer?, _ cause: UnsafeMutablePointer<CChar>?) {
    guard let context else { return }
    let core = Unmanaged<ClientCore>.fromOpaque(context).takeUnretainedValue()
    let text = cause.map { String(cString: $0) }
    if let cause { cpaho_free(cause) }
    core.connectionLost(cause: text)
}

private func onDisconnected(
    _ context: UnsafeMutableRawPointer?,
    _ properties: UnsafeMutablePointer<MQTTProperties>?,
    _ reason: MQTTReasonCodes
) {
    guard let context else { return }
    Unmanaged<ClientCore>.fromOpaque(context).takeUnretainedValue().disconnectedByBroker(reason: Int32(reason.rawValue))
}

private func onTLSError(_ text: UnsafePointer<CChar>?, _ length: Int, _ context: UnsafeMutableRawPointer?) -> Int32 {
    guard let context, let text else { return 0 }
    let bytes = UnsafeRawBufferPointer(start: text, count: length)
    Unmanaged<ClientCore>.fromOpaque(context).takeUnretainedValue().noteTLSError(String(decoding: bytes, as: UTF8.self))
    return 0
}

private func onMessageArrived(
    _ context: UnsafeMutableRawPointer?,
    _ topicName: UnsafeMutablePointer<CChar>?,
    _ topicLength: Int32,
    _ message: UnsafeMutablePointer<MQTTAsync_message>?
) -> Int32 {
    // Copy what we need, then free Paho's message and topic. Returning 1 tells Paho the message is ours.
    defer {
        var message = message
        cpaho_freeMessage(&message)
        cpaho_free(topicName)
    }
    guard let context, let topicName, let message else { return 1 }
    let topic: String
    if topicLength > 0 {
        topic = String(decoding: UnsafeRawBufferPointer(start: topicName, count: Int(topicLength)), as: UTF8.self)
    } else {
        topic = String(cString: topicName)
    }
    let payload = [UInt8](
        UnsafeRawBufferPointer(start: message.pointee.payload, count: Int(max(message.pointee.payloadlen, 0)))
    )
    var received = MQTTMessage(
        topic: topic,
        payload: payload,
        qos: MQTTQoS(rawValue: message.pointee.qos) ?? .atMostOnce,
        retained: message.pointee.retained != 0,
        duplicate: message.pointee.dup != 0
    )
    if cpaho_propertiesHas(&message.pointee.properties, MQTTPROPERTY_CODE_MESSAGE_EXPIRY_INTERVAL) != 0 {
        received.expiry = UInt32(
            truncatingIfNeeded: cpaho_propertiesNumber(
                &message.pointee.properties,
                MQTTPROPERTY_CODE_MESSAGE_EXPIRY_INTERVAL
            )
        )
    }
    Unmanaged<ClientCore>.fromOpaque(context).takeUnretainedValue().messageArrived(received)
    return 1
}

// MARK: - C strings that live for one call

/// Duplicates Swift strings into C memory for the length of one Paho call (Paho copies what it keeps).
final class CStrings {
    private var allocations: [UnsafeMutableRawPointer] = []

    static func scope<R>(_ body: (CStrings) -> R) -> R {
        let strings = CStrings()
        defer { strings.allocations.forEach { free($0) } }
        return body(strings)
    }

    func make(_ string: String) -> UnsafeMutablePointer<CChar> {
        let pointer = strdup(string)!
        allocations.append(pointer)
        return pointer
    }

    func optional(_ string: String?) -> UnsafePointer<CChar>? {
        string.map { UnsafePointer(make($0)) }
    }

    func bytes(_ bytes: [UInt8]) -> UnsafeMutableRawPointer {
        let pointer = malloc(max(bytes.count, 1))!
        bytes.withUnsafeBytes { source in
            if let base = source.baseAddress, !source.isEmpty {
                pointer.copyMemory(from: base, byteCount: source.count)
            }
        }
        allocations.append(pointer)
        return pointer
    }
}
