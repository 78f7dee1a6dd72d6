/// What one MQTT payload on a chat topic turned out to be.
///
/// Decoding is total: any byte sequence gives a value, never an error or a trap. What is not a chat message
/// (not JSON, not an object, unknown type, missing or mistyped fields, invalid UTF-8, empty) is kept as `raw`
/// with its bytes, so the listener can still show it, escaped.
public enum ChatPayload: Sendable, Hashable {
    case chat(ChatMessage)
    case raw([UInt8])

    public init(decoding payload: some Collection<UInt8>) {
        let decoded: ChatMessage?? = payload.withContiguousStorageIfAvailable { Self.decodeChat($0) }
        if let decoded {
            self = decoded.map(ChatPayload.chat) ?? .raw(Array(payload))
        } else {
            let bytes = Array(payload)
            self = bytes.withUnsafeBufferPointer { Self.decodeChat($0) }.map(ChatPayload.chat) ?? .raw(bytes)
        }
    }

    private static func decodeChat(_ bytes: UnsafeBufferPointer<UInt8>) -> ChatMessage? {
        guard let members = JSONScanner.topLevelObject(bytes),
            case .string(let type) = members["type"],
            case .string(let from) = members["from"]
        else { return nil }
        let kind: ChatMessage.Kind
        let textMember: JSONScanner.Member?
        switch type {
        case "message":
            kind = .message
            textMember = members["message"]
        case "notice", "info":
            // The original project documented notices under both names.
            kind = .notice
            textMember = members["notice"] ?? members["info"]
        case "invite":
            kind = .invite
            textMember = members["room"]
        default:
            return nil
        }
        guard case .string(let text) = textMember else { return nil }
        // An unreadable time is dropped, not fatal: the message itself is still good.
        var time: ChatTimestamp?
        if case .string(let stamp) = members["time"] { time = ChatTimestamp(rfc3339: stamp) }
        return ChatMessage(kind: kind, from: from, text: text, time: time)
    }
}
