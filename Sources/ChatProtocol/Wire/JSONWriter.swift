/// Writes JSON text with a fixed key order and only the escapes JSON requires.
///
/// Why not `JSONEncoder`: its key order is not stable across runs on Linux, it escapes `/`, and setting one
/// up per message costs more than the message. The output is plain UTF-8 that Python's `json` reads back.
struct JSONWriter {
    private(set) var bytes: [UInt8] = []
    private var needsComma = false

    init(capacity: Int = 128) {
        bytes.reserveCapacity(capacity)
        bytes.append(UInt8(ascii: "{"))
    }

    /// The finished object.
    consuming func finish() -> [UInt8] {
        bytes.append(UInt8(ascii: "}"))
        return bytes
    }

    /// The finished object and a newline: one line of JSON Lines output.
    consuming func finishLine() -> [UInt8] {
        var line = finish()
        line.append(0x0A)
        return line
    }

    mutating func add(_ key: StaticString, _ value: String) {
        startMember(key)
        Self.appendQuoted(value, to: &bytes)
    }

    /// A member whose key is read from input (a state object written again), escaped as values are.
    mutating func add(member key: String, _ value: String) {
        if needsComma { bytes.append(UInt8(ascii: ",")) }
        needsComma = true
        Self.appendQuoted(key, to: &bytes)
        bytes.append(UInt8(ascii: ":"))
        Self.appendQuoted(value, to: &bytes)
    }

    mutating func add(_ key: StaticString, _ value: Bool) {
        startMember(key)
        append(value ? "true" : "false")
    }

    /// A time as an RFC 3339 string, written in place.
    mutating func add(_ key: StaticString, _ value: ChatTimestamp) {
        startMember(key)
        bytes.append(UInt8(ascii: "\""))
        value.appendRFC3339(to: &bytes)
        bytes.append(UInt8(ascii: "\""))
    }

    mutating func add(_ key: StaticString, _ value: Int) {
        startMember(key)
        bytes.append(contentsOf: String(value).utf8)
    }

    mutating func add(_ key: StaticString, _ values: [String]) {
        startMember(key)
        bytes.append(UInt8(ascii: "["))
        for (index, value) in values.enumerated() {
            if index > 0 { bytes.append(UInt8(ascii: ",")) }
            Self.appendQuoted(value, to: &bytes)
        }
        bytes.append(UInt8(ascii: "]"))
    }

    private mutating func startMember(_ key: StaticString) {
        if needsComma { bytes.append(UInt8(ascii: ",")) }
        needsComma = true
        bytes.append(UInt8(ascii: "\""))
        append(key)
        bytes.append(UInt8(ascii: "\""))
        bytes.append(UInt8(ascii: ":"))
    }

    private mutating func append(_ text: StaticString) {
        bytes.append(contentsOf: UnsafeBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }

    private static let hexDigits = Array("0123456789abcdef".utf8)

    /// Appends `"text"`, escaping quotes, backslashes and every control character below U+0020, plus DEL,
    /// C1 controls, line separators and bidi controls as `\uXXXX`: still exact JSON, and inert if a
    /// person `cat`s it to a terminal.
    static func appendQuoted(_ text: String, to out: inout [UInt8]) {
        var text = text
        text.withUTF8 { appendQuoted(utf8: $0, to: &out) }
    }

    /// `appendQuoted` over the bytes of a String (valid UTF-8): printable ASCII other than `"` and `\\` is
    /// copied in runs, so a plain chat line is one copy.
    private static func appendQuoted(utf8 bytes: UnsafeBufferPointer<UInt8>, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        var runStart = 0
        var index = 0
        while index < bytes.count {
            let byte = bytes[index]
            if byte >= 0x20, byte < 0x7F, byte != 0x22, byte != 0x5C {
                index += 1
                continue
            }
            out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart..<index]))
            // One scalar: its length from the lead byte (the bytes are valid UTF-8).
            let length: Int
            var value: UInt32
            switch byte {
            case ..<0x80: (length, value) = (1, UInt32(byte))
            case ..<0xE0: (length, value) = (2, UInt32(byte & 0x1F))
            case ..<0xF0: (length, value) = (3, UInt32(byte & 0x0F))
            default: (length, value) = (4, UInt32(byte & 0x07))
            }
            for offset in 1..<length { value = value << 6 | UInt32(bytes[index + offset] & 0x3F) }
            switch value {
            case 0x22: appendEscape(UInt8(ascii: "\""), to: &out)
            case 0x5C: appendEscape(UInt8(ascii: "\\"), to: &out)
            case 0x0A: appendEscape(UInt8(ascii: "n"), to: &out)
            case 0x0D: appendEscape(UInt8(ascii: "r"), to: &out)
            case 0x09: appendEscape(UInt8(ascii: "t"), to: &out)
            default:
                if let scalar = Unicode.Scalar(value), TerminalText.isUnsafe(scalar) {
                    // Every unsafe scalar is in the Basic Multilingual Plane: one \uXXXX.
                    appendUnicodeEscape(UInt16(value), to: &out)
                } else {
                    out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[index..<index + length]))
                }
            }
            index += length
            runStart = index
        }
        out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart..<index]))
        out.append(UInt8(ascii: "\""))
    }

    private static func appendEscape(_ letter: UInt8, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\\"))
        out.append(letter)
    }

    private static func appendUnicodeEscape(_ unit: UInt16, to out: inout [UInt8]) {
        appendEscape(UInt8(ascii: "u"), to: &out)
        for shift in stride(from: 12, through: 0, by: -4) {
            out.append(hexDigits[Int((unit >> UInt16(shift)) & 0xF)])
        }
    }
}
