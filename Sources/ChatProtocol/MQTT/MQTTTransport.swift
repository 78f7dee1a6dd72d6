/// What the chat layer needs from an MQTT connection: publish, subscribe, unsubscribe, disconnect, and the
/// connection's settings. The tools hand the chat layer (ChatActions, Presence, DirectoryWatcher, the
/// listener) a transport; the one they use is MQTTPaho's `MQTTClient` over Eclipse Paho C, which also owns
/// connecting, reconnecting, the message stream and connection events. Another MQTT library plugs in here;
/// unit tests use an in-memory one.
public protocol MQTTTransport: AnyObject, Sendable {
    var configuration: MQTTConfiguration { get }

    /// Returns when the broker acknowledged it (QoS 1 and 2) or it was written (QoS 0). `expiry`: seconds
    /// after which the broker drops the message, a retained one included (MQTT 5; ignored under 3.1.1).
    func publish(topic: String, payload: [UInt8], qos: MQTTQoS, retain: Bool, expiry: UInt32?) async throws(MQTTError)

    /// Starts a publish without waiting; `completion` runs once, on a thread of the transport's, with the outcome.
    func startPublish(
        topic: String,
        payload: [UInt8],
        qos: MQTTQoS,
        retain: Bool,
        completion: @escaping @Sendable (Result<Void, MQTTError>) -> Void
    )

    /// Subscribes; returns the granted QoS of each, or throws the broker's refusal.
    @discardableResult
    func subscribe(_ subscriptions: [MQTTSubscription]) async throws(MQTTError) -> [MQTTQoS]

    func unsubscribe(_ filters: [String]) async throws(MQTTError)
}

extension MQTTTransport {
    public func publish(
        topic: String,
        payload: [UInt8],
        qos: MQTTQoS = .atLeastOnce,
        retain: Bool = false
    ) async throws(MQTTError) {
        try await publish(topic: topic, payload: payload, qos: qos, retain: retain, expiry: nil)
    }
}
