/// Turns one received MQTT message into one line of output, as text for people or JSON for scripts.
///
/// Text: `12:01:02 <alice> hello`, `12:01:05 * alice joined`, `12:01:06 [raw] plain payload`, with
/// `[topic] ` after the time when more than one topic is shown. Everything from the network goes through
/// `TerminalText`, so a line is always exactly one line and carries no terminal controls.
public struct ChatLineRenderer: Sendable {
    public enum Format: String, Sendable, CaseIterable {
        case text
        case json
    }

    public var format: Format
    /// Show the topic (the listener does when it listens to more than one, or to a wildcard).
    public var showTopic: Bool
    /// ANSI colours (the listener uses them only on a terminal, and never with NO_COLOR).
    public var colors: Bool

    public init(format: Format = .text, showTopic: Bool = false, colors: Bool = false) {
        self.format = format
        self.showTopic = showTopic
        self.colors = colors
    }

    /// The line for `message`, newline included. `received` is when it arrived here.
    public func render(_ message: MQTTMessage, received: ChatTimestamp) -> [UInt8] {
        let payload = ChatPayload(decoding: message.payload)
        switch format {
        case .text: return Array(text(payload, topic: message.topic, received: received).utf8)
        case .json: return json(payload, message: message, received: received)
        }
    }

    // MARK: Text

    private func text(_ payload: ChatPayload, topic: String, received: ChatTimestamp) -> String {
        var line = ""
        switch payload {
        case .chat(let chat):
            line += paint((chat.time ?? received).localTimeOfDay, .dim)
            if showTopic { line += " " + paint("[" + TerminalText.sanitize(topic, limit: 128) + "]", .dim) }
            let name = TerminalText.displayName(chat.from)
            let text = TerminalText.sanitize(chat.text)
            switch chat.kind {
            case .message:
                line += " " + paint("<" + name + ">", .name(chat.from)) + " " + text
            case .notice:
                // Notices are sentences about their sender ("alice joined"); don't say the name twice.
                let sentence = chat.text.hasPrefix(chat.from) && !chat.from.isEmpty ? text : name + " " + text
                line += " " + paint("* " + sentence, .notice)
            }
        case .raw(let bytes):
            line += paint(received.localTimeOfDay, .dim)
            if showTopic { line += " " + paint("[" + TerminalText.sanitize(topic, limit: 128) + "]", .dim) }
            line += " " + paint("[raw]", .raw) + " " + TerminalText.sanitize(bytes)
        }
        return line + "\n"
    }

    private enum Style {
        case dim, notice, raw
        case name(String)
    }

    private static let namePalette = ["31", "32", "33", "34", "35", "36"]

    private func paint(_ text: String, _ style: Style) -> String {
        guard colors else { return text }
        let code: String
        switch style {
        case .dim: code = "2"
        case .notice: code = "3"
        case .raw: code = "35"
        case .name(let name):
            // A stable colour per name, so a conversation is easy to follow.
            let hash = name.utf8.reduce(UInt32(2_166_136_261)) { ($0 ^ UInt32($1)) &* 16_777_619 }
            code = "1;" + Self.namePalette[Int(hash % UInt32(Self.namePalette.count))]
        }
        return "\u{1B}[" + code + "m" + text + "\u{1B}[0m"
    }

    // MARK: JSON

    private func json(_ payload: ChatPayload, message: MQTTMessage, received: ChatTimestamp) -> [UInt8] {
        var writer = JSONWriter(capacity: message.payload.count + message.topic.utf8.count + 128)
        writer.add("topic", message.topic)
        switch payload {
        case .chat(let chat):
            writer.add("type", chat.kind.rawValue)
            writer.add("from", chat.from)
            writer.add(chat.kind == .message ? "message" : "notice", chat.text)
            if let time = chat.time { writer.add("time", time.rfc3339) }
        case .raw(let bytes):
            writer.add("type", "raw")
            if let text = String(validating: bytes, as: UTF8.self) {
                writer.add("payload", text)
            } else {
                // Not UTF-8, so not a JSON string: carried losslessly instead.
                writer.add("payload_base64", Base64.encode(bytes))
            }
        }
        writer.add("received", received.rfc3339)
        writer.add("retained", message.retained)
        return writer.finish() + [0x0A]
    }
}

/// Standard base64 (RFC 4648, with padding), without Foundation.
enum Base64 {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    static func encode(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        out.reserveCapacity((bytes.count + 2) / 3 * 4)
        var index = 0
        while index < bytes.count {
            let chunk = bytes[index..<min(index + 3, bytes.count)]
            var value = UInt32(0)
            for (offset, byte) in chunk.enumerated() { value |= UInt32(byte) << (16 - 8 * offset) }
            for position in 0..<4 {
                if position <= chunk.count {
                    out.append(alphabet[Int((value >> (18 - 6 * position)) & 0x3F)])
                } else {
                    out.append(UInt8(ascii: "="))
                }
            }
            index += 3
        }
        return String(decoding: out, as: UTF8.self)
    }
}
