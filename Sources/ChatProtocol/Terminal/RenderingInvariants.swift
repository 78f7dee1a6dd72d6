/// The promises the decoder and the renderer make about any payload, checked in one place so the unit
/// tests, the property tests and the fuzzer (Sources/ChatFuzzer) hold them to exactly the same rules.
public enum RenderingInvariants {
    /// The first broken promise for `payload`, or nil when all hold:
    /// - a decoded chat message encodes and decodes back to itself;
    /// - every rendering is one line of valid UTF-8, of bounded length;
    /// - text carries no control character, DEL, C1, bidi control or line separator, and no ESC except
    ///   the colour codes the renderer itself adds;
    /// - JSON output is one valid JSON object with every such character escaped.
    public static func violation(for payload: [UInt8], topic: String = "chat/fuzz") -> String? {
        if case .chat(let message) = ChatPayload(decoding: payload),
            ChatPayload(decoding: message.encoded()) != .chat(message)
        {
            return "a decoded message does not survive encoding again"
        }
        let message = MQTTMessage(topic: topic, payload: payload, qos: .atLeastOnce)
        let received = ChatTimestamp(millisecondsSince1970: 1_795_000_000_000)
        for renderer in [
            ChatLineRenderer(format: .text), ChatLineRenderer(format: .text, showTopic: true, colors: true),
            ChatLineRenderer(format: .json),
        ] {
            let line = renderer.render(message, received: received)
            guard line.last == 0x0A, !line.dropLast().contains(0x0A) else {
                return "\(renderer.format) is not one line"
            }
            guard let text = String(validating: line.dropLast(), as: UTF8.self) else {
                return "\(renderer.format) output is not UTF-8"
            }
            switch renderer.format {
            case .text:
                // Longest possible: every shown character escaped as \u{xxxxx}, plus name, topic and markers.
                guard line.count <= TerminalText.defaultLimit * 10 + 1_024 else { return "text line too long" }
                let plain = renderer.colors ? withoutOwnColors(text) : text
                if let bad = plain.unicodeScalars.first(where: TerminalText.isUnsafe) {
                    return "text output carries U+\(String(bad.value, radix: 16))"
                }
            case .json:
                let valid = line.dropLast().withUnsafeBufferPointer { JSONScanner.topLevelObject($0) != nil }
                guard valid else { return "JSON output is not a JSON object" }
                if let bad = text.unicodeScalars.first(where: TerminalText.isUnsafe) {
                    return "JSON output carries U+\(String(bad.value, radix: 16)) unescaped"
                }
            }
        }
        return nil
    }

    /// Removes the renderer's own SGR colour codes (`ESC [ digits;digits m`), so any ESC left came from outside.
    private static func withoutOwnColors(_ text: String) -> String {
        var out = String.UnicodeScalarView()
        var scalars = Array(text.unicodeScalars)[...]
        while let first = scalars.first {
            if first == "\u{1B}", scalars.dropFirst().first == "[" {
                let rest = scalars.dropFirst(2)
                if let end = rest.firstIndex(where: { !($0.properties.numericType != nil || $0 == ";") }),
                    rest[end] == "m", rest[rest.startIndex..<end].allSatisfy({ $0.isASCII })
                {
                    scalars = rest[(end + 1)...]
                    continue
                }
            }
            out.append(first)
            scalars = scalars.dropFirst()
        }
        return String(out)
    }
}
