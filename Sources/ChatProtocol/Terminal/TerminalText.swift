/// Makes text from strangers safe to print on a terminal.
///
/// Everything that could move the cursor, clear or retitle the screen, reorder text or smuggle in a fake
/// chat line is shown visibly escaped instead: C0 and C1 control characters (so no ESC, hence no CSI, OSC,
/// DCS or any other escape sequence), DEL, line and paragraph separators, bidi overrides and isolates, and
/// bytes that are not UTF-8. What remains is printable text; its length is capped with a visible marker.
public enum TerminalText {
    /// Longest text shown per message, in Unicode scalars, before it is cut with a marker.
    public static let defaultLimit = 4_096

    /// Escapes `bytes` (UTF-8, possibly invalid) for a terminal, at most `limit` characters of them.
    public static func sanitize(_ bytes: some Collection<UInt8>, limit: Int = defaultLimit) -> String {
        let shown = bytes.withContiguousStorageIfAvailable { sanitize(buffer: $0, limit: limit) }
        return shown ?? Array(bytes).withUnsafeBufferPointer { sanitize(buffer: $0, limit: limit) }
    }

    private static func sanitize(buffer bytes: UnsafeBufferPointer<UInt8>, limit: Int) -> String {
        var out = String()
        out.reserveCapacity(min(bytes.count, limit) + 16)
        var index = 0
        var shown = 0
        while index < bytes.count {
            if shown >= limit {
                out += "… [\(bytes.count - index) more bytes]"
                break
            }
            if let (scalar, length) = decodeScalar(bytes, at: index) {
                appendEscaped(scalar, to: &out)
                index += length
            } else {
                out += "\\x" + hex(bytes[index])
                index += 1
            }
            shown += 1
        }
        return out
    }

    /// One well-formed UTF-8 scalar at `index` and its length; nil for a byte that does not start one
    /// (stray continuation, overlong form, surrogate, beyond U+10FFFF, truncated sequence).
    static func decodeScalar(_ bytes: UnsafeBufferPointer<UInt8>, at index: Int) -> (Unicode.Scalar, Int)? {
        let lead = bytes[index]
        if lead < 0x80 { return (Unicode.Scalar(lead), 1) }
        let length: Int
        var value: UInt32
        var lowest: UInt32
        switch lead {
        case 0xC2...0xDF: (length, value, lowest) = (2, UInt32(lead & 0x1F), 0x80)
        case 0xE0...0xEF: (length, value, lowest) = (3, UInt32(lead & 0x0F), 0x800)
        case 0xF0...0xF4: (length, value, lowest) = (4, UInt32(lead & 0x07), 0x10000)
        default: return nil
        }
        guard bytes.count - index >= length else { return nil }
        for offset in 1..<length {
            let byte = bytes[index + offset]
            guard byte & 0xC0 == 0x80 else { return nil }
            value = value << 6 | UInt32(byte & 0x3F)
        }
        guard value >= lowest, let scalar = Unicode.Scalar(value) else { return nil }
        return (scalar, length)
    }

    /// Escapes a string (already valid Unicode) for a terminal.
    public static func sanitize(_ text: String, limit: Int = defaultLimit) -> String {
        // Most chat text is short printable ASCII, safe as it is: shown without a copy.
        let utf8 = text.utf8
        if utf8.count <= limit, !utf8.contains(where: { $0 < 0x20 || $0 >= 0x7F }) { return text }
        return sanitize(Array(utf8), limit: limit)
    }

    /// A sender name fit for display: escaped, at most 32 scalars, and never empty.
    public static func displayName(_ name: String) -> String {
        if name.isEmpty { return "?" }
        let limit = 32
        let scalars = name.unicodeScalars
        if scalars.count <= limit { return sanitize(name, limit: limit) }
        return sanitize(String(String.UnicodeScalarView(scalars.prefix(limit))), limit: limit) + "…"
    }

    /// Whether a scalar must be shown escaped rather than printed.
    public static func isUnsafe(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x00...0x1F, 0x7F...0x9F: return true  // C0, DEL, C1 (ESC and CSI among them)
        case 0x2028, 0x2029: return true  // line and paragraph separators
        case 0x202A...0x202E, 0x2066...0x2069, 0x200E, 0x200F, 0x061C: return true  // bidi controls
        case 0xFFF9...0xFFFB: return true  // interlinear annotation controls
        default: return false
        }
    }

    private static func appendEscaped(_ scalar: Unicode.Scalar, to out: inout String) {
        guard isUnsafe(scalar) else {
            out.unicodeScalars.append(scalar)
            return
        }
        switch scalar.value {
        case 0x0A: out += "\\n"
        case 0x0D: out += "\\r"
        case 0x09: out += "\\t"
        case 0x1B: out += "\\e"
        case 0x00...0xFF: out += "\\x" + hex(UInt8(scalar.value))
        default: out += "\\u{" + String(scalar.value, radix: 16) + "}"
        }
    }

    /// Built once: hostile payloads can have an escape for every byte.
    private static let hexDigits = Array("0123456789abcdef")

    private static func hex(_ byte: UInt8) -> String {
        String([hexDigits[Int(byte >> 4)], hexDigits[Int(byte & 0xF)]])
    }
}
