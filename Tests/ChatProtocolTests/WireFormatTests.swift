import Testing

@testable import ChatProtocol

#if canImport(Glibc)
    import Glibc
#endif

@Suite("Wire format")
struct WireFormatTests {
    private func decode(_ text: String) -> ChatPayload {
        ChatPayload(decoding: Array(text.utf8))
    }

    private func encodedText(_ message: ChatMessage) -> String {
        String(decoding: message.encoded(), as: UTF8.self)
    }

    @Test("encodes a message with keys in a fixed order")
    func encodesMessage() {
        #expect(
            encodedText(.message(from: "alice", "hello")) == #"{"type":"message","from":"alice","message":"hello"}"#
        )
    }

    @Test("encodes a notice with its time in RFC 3339 UTC with milliseconds")
    func encodesNotice() {
        let time = ChatTimestamp(millisecondsSince1970: 1_795_314_113_045)
        #expect(
            encodedText(.notice(from: "bob", "joined", time: time))
                == #"{"type":"notice","from":"bob","notice":"joined","time":"2026-11-22T02:21:53.045Z"}"#
        )
    }

    @Test("escapes quotes, backslashes and control characters, and leaves / and unicode alone")
    func escapes() {
        let text = "a\"b\\c\nd\re\tf\u{01}g\u{1F}/ü😀"
        #expect(
            encodedText(.message(from: "x", text))
                == #"{"type":"message","from":"x","message":"a\"b\\c\nd\re\tf\u0001g\u001f/ü😀"}"#
        )
    }

    @Test(
        "round-trips exactly",
        arguments: [
            "", " leading and trailing ", "quotes \" and \\ backslashes", "\u{0}\u{7}\u{1B}[2J\u{7F}",
            "emoji 👩‍👩‍👧 and RTL \u{202E}abc", String(repeating: "long ", count: 20_000),
        ]
    )
    func roundTrips(text: String) {
        let message = ChatMessage.message(from: "ålice \"q\"", text, time: ChatTimestamp(millisecondsSince1970: 1))
        #expect(ChatPayload(decoding: message.encoded()) == .chat(message))
    }

    @Test("reads what the Python clients send (json.dumps, ensure_ascii escapes, spaces after separators)")
    func pythonPayloads() {
        #expect(
            decode(#"{"type": "message", "from": "alice", "message": "hi there"}"#)
                == .chat(.message(from: "alice", "hi there"))
        )
        #expect(
            decode(#"{"type": "notice", "from": "bob", "notice": "bob joined"}"#)
                == .chat(.notice(from: "bob", "bob joined"))
        )
        #expect(
            decode(#"{"type": "message", "from": "j\u00fcrgen", "message": "\ud83d\ude00 caf\u00e9"}"#)
                == .chat(.message(from: "jürgen", "😀 café"))
        )
    }

    @Test("reads type info as a notice")
    func infoIsNotice() {
        #expect(decode(#"{"type":"info","from":"sys","notice":"up"}"#) == .chat(.notice(from: "sys", "up")))
        #expect(decode(#"{"type":"info","from":"sys","info":"up"}"#) == .chat(.notice(from: "sys", "up")))
    }

    @Test("ignores unknown fields of any shape")
    func ignoresExtras() {
        #expect(
            decode(#"{"extra":[1,{"a":null},true,-1.5e3],"type":"message","from":"a","message":"m","v":2}"#)
                == .chat(.message(from: "a", "m"))
        )
    }

    @Test("reads the time field, and keeps a message whose time is unreadable")
    func time() {
        #expect(
            decode(#"{"type":"message","from":"a","message":"m","time":"2026-11-22T12:01:02.5+01:00"}"#)
                == .chat(.message(from: "a", "m", time: ChatTimestamp(millisecondsSince1970: 1_795_345_262_500)))
        )
        #expect(
            decode(#"{"type":"message","from":"a","message":"m","time":"yesterday"}"#)
                == .chat(.message(from: "a", "m"))
        )
        #expect(decode(#"{"type":"message","from":"a","message":"m","time":5}"#) == .chat(.message(from: "a", "m")))
    }

    @Test(
        "keeps anything that is not a chat message as raw bytes",
        arguments: [
            "", "hello", "User alice timed out.\n", "[1,2]", "\"string\"", "null", "{}",
            #"{"type":"message","from":"a"}"#, #"{"type":"message","message":"m"}"#,
            #"{"type":"shout","from":"a","message":"m"}"#, #"{"type":"message","from":1,"message":"m"}"#,
            #"{"type":"message","from":"a","message":["m"]}"#, #"{"type":"message","from":"a","message":"m"} x"#,
            #"{"type":"message","from":"a","message":"m",}"#, #"{"type":"message","from":"a","message":"\ud800"}"#,
            "{\"type\":\"message\",\"from\":\"a\",\"message\":\"tab\u{9}inside\"}",
            #"{"type":"message","from":"a","message":"\x"}"#,
            #"{'type':'message'}"#, #"{"type":"message","from":"a","message":"m""#, #"{"a":01}"#, #"{"a":1.}"#,
        ]
    )
    func raw(text: String) {
        #expect(decode(text) == .raw(Array(text.utf8)))
    }

    @Test("keeps invalid UTF-8 as raw bytes")
    func invalidUTF8() {
        let bytes: [UInt8] =
            Array(#"{"type":"message","from":"a","message":""#.utf8) + [0xC3, 0x28] + Array(#""}"#.utf8)
        #expect(ChatPayload(decoding: bytes) == .raw(bytes))
        #expect(ChatPayload(decoding: [0xFF, 0xFE]) == .raw([0xFF, 0xFE]))
    }

    @Test("refuses nesting deeper than the limit without exhausting the stack")
    func deepNesting() {
        let deep =
            #"{"type":"message","from":"a","message":"m","x":"# + String(repeating: "[", count: 100_000)
            + String(repeating: "]", count: 100_000) + "}"
        #expect(decode(deep) == .raw(Array(deep.utf8)))
        let shallow =
            #"{"type":"message","from":"a","message":"m","x":"# + String(repeating: "[", count: 10)
            + String(repeating: "]", count: 10) + "}"
        #expect(decode(shallow) == .chat(.message(from: "a", "m")))
    }

    @Test("later duplicate keys win, as in Python")
    func duplicates() {
        #expect(decode(#"{"type":"message","from":"a","from":"b","message":"m"}"#) == .chat(.message(from: "b", "m")))
    }
}

@Suite("Timestamps")
struct ChatTimestampTests {
    @Test("formats and parses RFC 3339")
    func rfc3339() {
        let time = ChatTimestamp(millisecondsSince1970: 0)
        #expect(time.rfc3339 == "1970-01-01T00:00:00.000Z")
        #expect(ChatTimestamp(rfc3339: "1970-01-01T00:00:00Z") == time)
        #expect(ChatTimestamp(rfc3339: "1969-12-31T23:59:59.999Z")?.millisecondsSince1970 == -1)
        #expect(ChatTimestamp(millisecondsSince1970: -1).rfc3339 == "1969-12-31T23:59:59.999Z")
        for bad in ["", "2026-11-22", "2026-13-01T00:00:00Z", "2026-11-22T00:00:00", "2026-11-22T00:00:00.Z", "x"] {
            #expect(ChatTimestamp(rfc3339: bad) == nil, "\(bad)")
        }
        #expect(ChatTimestamp(rfc3339: "2026-12-02T21:30:00+01:00")?.rfc3339 == "2026-12-02T20:30:00.000Z")
        // Past a month's end counts on, as timegm(3) does.
        #expect(ChatTimestamp(rfc3339: "2026-02-31T00:00:00Z")?.rfc3339 == "2026-03-03T00:00:00.000Z")
    }

    @Test("the calendar arithmetic agrees with glibc's gmtime_r and timegm from year 0 to 9999")
    func calendarAgreesWithGlibc() {
        // Every day from 1915 to 2024 (leap rules for 100 and 400 in 2000), then every 97th day across
        // the whole range the wire format can carry.
        let days = Array(-20_000...20_000) + Array(stride(from: -719_528, through: 2_932_896, by: 97))
        var mismatches: [String] = []
        for day in days {
            let seconds = time_t(day) * 86400
            var expected = tm()
            var copy = seconds
            gmtime_r(&copy, &expected)
            let civil = ChatTimestamp.civilDate(daysSince1970: Int64(day))
            let time = ChatTimestamp(millisecondsSince1970: Int64(seconds) * 1000 + 86_399_999)
            if civil.year != Int64(expected.tm_year) + 1900 || civil.month != Int(expected.tm_mon) + 1
                || civil.day != Int(expected.tm_mday)
                || ChatTimestamp.daysSince1970(year: civil.year, month: civil.month, day: civil.day) != Int64(day)
                || ((0...9999).contains(civil.year) && ChatTimestamp(rfc3339: time.rfc3339) != time)
            {
                mismatches.append("day \(day): \(civil) \(time.rfc3339)")
            }
        }
        #expect(mismatches.isEmpty, "\(mismatches.prefix(5))")
    }

    @Test("extreme times format without trapping")
    func extremes() {
        for milliseconds in [Int64.min, Int64.min + 1, -1, Int64.max] {
            #expect(!ChatTimestamp(millisecondsSince1970: milliseconds).rfc3339.isEmpty)
        }
    }
}

@Suite("JSON writer")
struct JSONWriterTests {
    /// The escaping rule, scalar by scalar: what the run-copying writer must match byte for byte.
    private static func reference(_ text: String) -> [UInt8] {
        var out: [UInt8] = [UInt8(ascii: "\"")]
        for scalar in text.unicodeScalars {
            switch scalar.value {
            case 0x22: out += Array(#"\""#.utf8)
            case 0x5C: out += Array(#"\\"#.utf8)
            case 0x0A: out += Array(#"\n"#.utf8)
            case 0x0D: out += Array(#"\r"#.utf8)
            case 0x09: out += Array(#"\t"#.utf8)
            default:
                if TerminalText.isUnsafe(scalar) {
                    let hex = String(scalar.value, radix: 16)
                    out += Array(("\\u" + String(repeating: "0", count: 4 - hex.count) + hex).utf8)
                } else {
                    out += Array(String(scalar).utf8)
                }
            }
        }
        return out + [UInt8(ascii: "\"")]
    }

    @Test("escapes exactly as the scalar-by-scalar rule, for every kind of scalar in every position")
    func matchesReference() {
        let pieces = [
            "", "a", "plain text", "\"", "\\", "\n", "\r", "\t", "\u{0}", "\u{1B}", "\u{7F}", "\u{80}", "\u{9F}",
            "\u{A0}",
            "é", "\u{202E}", "\u{2028}", "\u{FFF9}", "€", "😀", "\u{10FFFF}", "/",
        ]
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<5000 {
            let text = (0..<Int.random(in: 0...6, using: &generator)).map { _ in
                pieces.randomElement(using: &generator)!
            }.joined()
            var out: [UInt8] = []
            JSONWriter.appendQuoted(text, to: &out)
            #expect(out == Self.reference(text), "\(text.debugDescription)")
        }
    }
}

@Suite("Repeat filter")
struct RepeatFilterTests {
    private func message(_ payload: [UInt8], qos: MQTTQoS = .exactlyOnce) -> MQTTMessage {
        MQTTMessage(topic: "chat", payload: payload, qos: qos)
    }

    @Test("drops a repeated timed QoS 2 chat message, and nothing else")
    func repeats() {
        var filter = RepeatFilter()
        let timed = ChatMessage.message(from: "a", "hi", time: ChatTimestamp(millisecondsSince1970: 5)).encoded()
        let other = ChatMessage.message(from: "a", "hi", time: ChatTimestamp(millisecondsSince1970: 6)).encoded()
        let untimed = ChatMessage.message(from: "a", "hi").encoded()
        let raw = Array("raw".utf8)
        // Same text at another send time is another message; without a send time (other clients) or
        // not chat at all, a repeat may be legitimate and is kept.
        let verdicts = [timed, timed, other, untimed, untimed, raw, raw].map { filter.isRepeat(message($0)) }
        #expect(verdicts == [false, true, false, false, false, false, false])
        var atLeastOnce = RepeatFilter()
        let qos1 = [timed, timed].map { atLeastOnce.isRepeat(message($0, qos: .atLeastOnce)) }
        #expect(qos1 == [false, false], "QoS 1 duplicates are the user's to see")
    }

    @Test("forgets the oldest beyond its capacity")
    func capacity() {
        var filter = RepeatFilter()
        let payloads = (0...RepeatFilter.capacity).map {
            ChatMessage.message(from: "a", "m", time: ChatTimestamp(millisecondsSince1970: Int64($0))).encoded()
        }
        let first = payloads.map { filter.isRepeat(message($0)) }
        #expect(!first.contains(true))
        let oldest = filter.isRepeat(message(payloads[0]))
        let newest = filter.isRepeat(message(payloads[RepeatFilter.capacity]))
        #expect(!oldest, "the first was pushed out")
        #expect(newest)
    }
}
