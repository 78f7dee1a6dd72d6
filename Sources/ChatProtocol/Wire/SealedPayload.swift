/// An end-to-end encrypted chat payload as it travels: a chat message whose text is a placeholder that any
/// reader shows (`{"type":"message","from":U,"message":"[encrypted ...]","sealed":B64}`), and the sealed
/// envelope (ChatCrypto's `Envelope`) in `sealed`. A listener of an older version, a raw client or
/// mosquitto_sub shows the placeholder, never ciphertext; a listener with keys opens `sealed` instead.
public struct SealedPayload: Sendable, Hashable {
    /// What a reader without the keys shows.
    public static let placeholder = "[encrypted message: this client cannot read it]"

    /// The sender as the outer payload claims it (the topic proves it; the envelope's signature binds it).
    public var from: String
    /// The envelope, binary.
    public var sealed: [UInt8]

    public init(from: String, sealed: [UInt8]) {
        self.from = from
        self.sealed = sealed
    }

    /// The wire form: the placeholder message, then the envelope in base64.
    public func encoded() -> [UInt8] {
        var writer = JSONWriter(capacity: sealed.count * 4 / 3 + from.utf8.count + 120)
        writer.add("type", ChatMessage.Kind.message.rawValue)
        writer.add("from", from)
        writer.add("message", Self.placeholder)
        writer.add("sealed", Base64.encode(sealed))
        return writer.finish()
    }

    /// The sealed payload `payload` carries; nil for any other payload (plaintext chat, raw bytes).
    public init?(decoding payload: [UInt8]) {
        // Cheap test first: a plaintext message on the hot path never goes through base64.
        guard payload.count > 40,
            let members = payload.withUnsafeBufferPointer({ JSONScanner.topLevelObject($0) }),
            case .string(let from) = members["from"], case .string(let sealed) = members["sealed"],
            let bytes = Base64.decode(sealed)
        else { return nil }
        self.init(from: from, sealed: bytes)
    }
}

extension Base64 {
    /// Standard base64 with padding; nil for anything else (so a tampered envelope is refused, not misread).
    static func decode(_ text: String) -> [UInt8]? {
        var values: [UInt8] = []
        values.reserveCapacity(text.utf8.count)
        var padding = 0
        for byte in text.utf8 {
            let value: UInt8
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"): value = byte - UInt8(ascii: "A")
            case UInt8(ascii: "a")...UInt8(ascii: "z"): value = byte - UInt8(ascii: "a") + 26
            case UInt8(ascii: "0")...UInt8(ascii: "9"): value = byte - UInt8(ascii: "0") + 52
            case UInt8(ascii: "+"): value = 62
            case UInt8(ascii: "/"): value = 63
            case UInt8(ascii: "="):
                padding += 1
                continue
            default: return nil
            }
            guard padding == 0 else { return nil }
            values.append(value)
        }
        guard (values.count + padding) % 4 == 0, padding <= 2 else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(values.count * 3 / 4)
        var index = 0
        while index < values.count {
            let chunk = values[index..<min(index + 4, values.count)]
            var value = UInt32(0)
            for (offset, sextet) in chunk.enumerated() { value |= UInt32(sextet) << (18 - 6 * offset) }
            for position in 0..<(chunk.count - 1) {
                out.append(UInt8(truncatingIfNeeded: value >> (16 - 8 * position)))
            }
            index += 4
        }
        return out
    }
}
