/// Drops a QoS 2 chat message seen moments ago. After a broker restart or a reconnect, a QoS 2 message can
/// arrive twice (a broker resending from its saved state, or Paho failing an in-flight publish that the
/// publisher then sends again). Messages from mqtt-chat carry their send time in milliseconds, so the same
/// bytes with a time are the same message; payloads without a time (other clients) are never dropped.
public struct RepeatFilter: Sendable {
    private var recent: Set<[UInt8]> = []
    private var order: [[UInt8]] = []
    private var next = 0
    public static let capacity = 4_096

    public init() {}

    /// True when `message` repeats one of the last `capacity` timed QoS 2 chat messages.
    public mutating func isRepeat(_ message: MQTTMessage) -> Bool {
        guard message.qos == .exactlyOnce, case .chat(let chat) = ChatPayload(decoding: message.payload),
            chat.time != nil
        else { return false }
        if recent.contains(message.payload) { return true }
        if order.count < Self.capacity {
            order.append(message.payload)
        } else {
            recent.remove(order[next])
            order[next] = message.payload
            next = (next + 1) % Self.capacity
        }
        recent.insert(message.payload)
        return false
    }
}
