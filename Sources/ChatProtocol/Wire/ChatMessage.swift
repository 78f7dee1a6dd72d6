/// One chat line as it travels between clients: `{"type":"message","from":U,"message":T}` or
/// `{"type":"notice","from":U,"notice":T}`, with an optional `"time"` (RFC 3339 UTC) that older clients ignore.
public struct ChatMessage: Sendable, Hashable {
    public enum Kind: String, Sendable, Hashable {
        /// Something a person typed.
        case message
        /// Something about a person: joined, left, timed out.
        case notice
        /// An invitation to a room (private; `text` is the room): `{"type":"invite","from":U,"room":R}`.
        case invite
    }

    public var kind: Kind
    public var from: String
    public var text: String
    /// When the sender sent it, if the sender said so.
    public var time: ChatTimestamp?

    public init(kind: Kind, from: String, text: String, time: ChatTimestamp? = nil) {
        self.kind = kind
        self.from = from
        self.text = text
        self.time = time
    }

    public static func message(from: String, _ text: String, time: ChatTimestamp? = nil) -> ChatMessage {
        ChatMessage(kind: .message, from: from, text: text, time: time)
    }

    public static func notice(from: String, _ text: String, time: ChatTimestamp? = nil) -> ChatMessage {
        ChatMessage(kind: .notice, from: from, text: text, time: time)
    }

    /// `/me TEXT`: a notice that is the whole sentence, `alice TEXT`, shown as `* alice TEXT` (a notice is a
    /// sentence about its sender, as "alice joined" is).
    public static func me(_ from: String, _ text: String, time: ChatTimestamp? = nil) -> ChatMessage {
        notice(from: from, from + " " + text, time: time)
    }

    /// The wire form: UTF-8 JSON with keys in a fixed order (type, from, message|notice|room, time).
    public func encoded() -> [UInt8] {
        var writer = JSONWriter(capacity: text.utf8.count + from.utf8.count + 80)
        writer.add("type", kind.rawValue)
        writer.add("from", from)
        switch kind {
        case .message: writer.add("message", text)
        case .notice: writer.add("notice", text)
        case .invite: writer.add("room", text)
        }
        if let time { writer.add("time", time) }
        return writer.finish()
    }
}
