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

    mutating func add(_ key: StaticString, _ value: String) {
        startMember(key)
        Self.appendQuoted(value, to: &bytes)
    }

    mutating func add(_ key: StaticString, _ value: Bool) {
        startMember(key)
        bytes.append(contentsOf: (value ? "true" : "false").utf8)
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
        bytes.append(contentsOf: UnsafeBufferPointer(start: key.utf8Start, count: key.utf8CodeUnitCount))
        bytes.append(contentsOf: "\":".utf8)
    }

    private static let hexDigits = Array("0123456789abcdef".utf8)

    /// Appends `"text"`, escaping quotes, backslashes and every control character below U+0020, plus DEL,
    /// C1 controls, line separators and bidi controls as `\uXXXX`: still exact JSON, and inert if a
    /// person `cat`s it to a terminal.
    static func appendQuoted(_ text: String, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        // Printable ASCII other than `"` and `\\` goes out as it is, in runs; the rest scalar by scalar.
        let utf8 = text.utf8
        var index = utf8.startIndex
        while index != utf8.endIndex {
            let byte = utf8[index]
            guard byte >= 0x20, byte < 0x7F, byte != 0x22, byte != 0x5C else { break }
            index = utf8.index(after: index)
        }
        out.append(contentsOf: utf8[..<index])
        for scalar in text[index...].unicodeScalars {
            switch scalar.value {
            case 0x22: out += [UInt8(ascii: "\\"), UInt8(ascii: "\"")]
            case 0x5C: out += [UInt8(ascii: "\\"), UInt8(ascii: "\\")]
            case 0x0A: out += [UInt8(ascii: "\\"), UInt8(ascii: "n")]
            case 0x0D: out += [UInt8(ascii: "\\"), UInt8(ascii: "r")]
            case 0x09: out += [UInt8(ascii: "\\"), UInt8(ascii: "t")]
            case 0x20..<0x7F: out.append(UInt8(scalar.value))
            default:
                if TerminalText.isUnsafe(scalar) {
                    appendUnicodeEscape(UInt16(scalar.value), to: &out)
                } else {
                    UTF8.encode(scalar) { out.append($0) }
                }
            }
        }
        out.append(UInt8(ascii: "\""))
    }

    private static func appendUnicodeEscape(_ unit: UInt16, to out: inout [UInt8]) {
        out += [UInt8(ascii: "\\"), UInt8(ascii: "u")]
        for shift in stride(from: 12, through: 0, by: -4) {
            out.append(hexDigits[Int((unit >> UInt16(shift)) & 0xF)])
        }
    }
}
