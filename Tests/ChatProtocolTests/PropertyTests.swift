import Testing

@testable import ChatProtocol

/// Random payloads, from a fixed seed so a failure is reproducible, against the same promises the
/// fuzzer checks (RenderingInvariants): the decoder is total and the renderer always safe.
@Suite("Properties over random payloads")
struct PropertyTests {
    /// SplitMix64: small, fast, and the same sequence on every machine.
    struct SeededGenerator: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    /// Pieces that make random input look like chat JSON often enough to reach deep into the decoder.
    static let fragments: [[UInt8]] =
        [
            #"{"type":"message","from":""#, #"","message":""#, #"{"type":"notice","from":"x","notice":""#, #""}"#,
            #","time":"2026-11-22T12:01:02.345Z""#, #"\u001b[2J"#, #"\ud83d\ude00"#, #"\u202e"#, "\u{1B}]0;x\u{07}",
            "\u{85}", "\u{9B}", "\u{2028}", "\\", "\"", "{", "}", "[", "]", ",", ":", "null", "1e5", " ",
        ].map { Array($0.utf8) } + [[0xFF], [0xC3], [0xE2, 0x80], [0xF4, 0x90, 0x80, 0x80], [0xC0, 0xAF], [0x00]]

    static func randomPayload(_ generator: inout SeededGenerator) -> [UInt8] {
        var bytes: [UInt8] = []
        for _ in 0..<Int.random(in: 0...12, using: &generator) {
            if Bool.random(using: &generator) {
                bytes += fragments.randomElement(using: &generator)!
            } else {
                bytes += (0..<Int.random(in: 1...8, using: &generator)).map { _ in
                    UInt8.random(in: 0...255, using: &generator)
                }
            }
        }
        return bytes
    }

    @Test("20,000 random payloads: decoding never fails, rendering is always one safe line")
    func randomPayloads() {
        var generator = SeededGenerator(state: 20_261_122)
        for _ in 0..<20_000 {
            let payload = Self.randomPayload(&generator)
            let violation = RenderingInvariants.violation(for: payload)
            #expect(violation == nil, "\(payload)")
            if violation != nil { return }
        }
    }

    @Test("random chat messages round-trip exactly, whatever their text")
    func randomMessagesRoundTrip() {
        var generator = SeededGenerator(state: 7)
        for _ in 0..<5_000 {
            let scalars = (0..<Int.random(in: 0...40, using: &generator)).compactMap { _ in
                Unicode.Scalar(UInt32.random(in: 0...0x10FFFF, using: &generator))
            }
            let text = String(String.UnicodeScalarView(scalars))
            let message = ChatMessage(
                kind: Bool.random(using: &generator) ? .message : .notice,
                from: String(text.prefix(5)),
                text: text,
                time: ChatTimestamp(millisecondsSince1970: Int64.random(in: 0...4_102_444_800_000, using: &generator))
            )
            #expect(ChatPayload(decoding: message.encoded()) == .chat(message))
        }
    }

    @Test("a million characters are shown cut, with a marker, not dumped")
    func hugePayload() {
        let huge = ChatMessage.message(from: "eve", String(repeating: "A", count: 1_000_000)).encoded()
        let line = ChatLineRenderer().render(
            MQTTMessage(topic: "chat", payload: huge, qos: .atMostOnce),
            received: ChatTimestamp(millisecondsSince1970: 0)
        )
        let text = String(decoding: line, as: UTF8.self)
        #expect(text.hasSuffix("A… [995904 more bytes]\n"))
        #expect(line.count < 4_200)
        #expect(RenderingInvariants.violation(for: huge) == nil)
    }

    @Test("names that are not plausible are shown safely")
    func implausibleNames() {
        #expect(TerminalText.displayName("") == "?")
        #expect(TerminalText.displayName("a\u{1B}[2Jb\n") == "a\\e[2Jb\\n")
        #expect(TerminalText.displayName(String(repeating: "n", count: 100)) == String(repeating: "n", count: 32) + "…")
        #expect(TerminalText.displayName("ok\u{202E}") == "ok\\u{202e}")
    }
}
