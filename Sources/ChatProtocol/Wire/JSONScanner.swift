/// A strict, total JSON reader for chat payloads: it validates a whole document (RFC 8259, UTF-8) and
/// hands back the string members of the top-level object. Everything else is checked and skipped.
///
/// Why not `JSONDecoder`: a chat listener decodes every message it receives, so this sits on the hot path,
/// and every byte it reads comes from strangers. A small reader we can fuzz, with a fixed nesting limit
/// and no intermediate object tree, is both faster and easier to prove total.
struct JSONScanner {
    /// Deeper nesting than this is refused (the payload becomes raw), so hostile input cannot exhaust the stack.
    static let maximumDepth = 64

    enum Member: Equatable {
        case string(String)
        case other
    }

    /// The top-level members in order. A chat payload has a handful, so a list searched from the end (later
    /// duplicates win, as in Python's `json`) is cheaper per message than hashing them into a dictionary.
    struct Members {
        fileprivate var pairs: [(key: String, value: Member)] = []

        subscript(key: String) -> Member? {
            pairs.last { $0.key == key }?.value
        }

        /// The string members, later duplicates winning.
        var strings: [String: String] {
            var result: [String: String] = [:]
            for (key, value) in pairs {
                if case .string(let text) = value { result[key] = text } else { result[key] = nil }
            }
            return result
        }
    }

    private let bytes: UnsafeBufferPointer<UInt8>
    private var index = 0
    /// String members of the top-level object; nested objects are validated, not recorded.
    private var members = Members()

    private init(_ bytes: UnsafeBufferPointer<UInt8>) {
        self.bytes = bytes
    }

    /// The members of the top-level object (later duplicates win, as in Python's `json`), or nil when
    /// the bytes are not exactly one JSON object.
    static func topLevelObject(_ bytes: UnsafeBufferPointer<UInt8>) -> Members? {
        var scanner = JSONScanner(bytes)
        scanner.skipWhitespace()
        guard scanner.peek() == UInt8(ascii: "{") else { return nil }
        guard scanner.object(depth: 1) else { return nil }
        scanner.skipWhitespace()
        guard scanner.index == bytes.count else { return nil }
        return scanner.members
    }

    // MARK: - Grammar

    private func peek() -> UInt8? {
        index < bytes.count ? bytes[index] : nil
    }

    private mutating func skipWhitespace() {
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x09, 0x0A, 0x0D: index += 1
            default: return
            }
        }
    }

    private mutating func consume(_ byte: UInt8) -> Bool {
        guard peek() == byte else { return false }
        index += 1
        return true
    }

    /// Parses `{ ... }`; at depth 1 (the top level) records the members.
    private mutating func object(depth: Int) -> Bool {
        guard depth <= Self.maximumDepth, consume(UInt8(ascii: "{")) else { return false }
        skipWhitespace()
        if consume(UInt8(ascii: "}")) { return true }
        while true {
            skipWhitespace()
            guard let key = string() else { return false }
            skipWhitespace()
            guard consume(UInt8(ascii: ":")) else { return false }
            skipWhitespace()
            if peek() == UInt8(ascii: "\"") {
                guard let text = string() else { return false }
                if depth == 1 { members.pairs.append((key, .string(text))) }
            } else {
                guard value(depth: depth) else { return false }
                if depth == 1 { members.pairs.append((key, .other)) }
            }
            skipWhitespace()
            if consume(UInt8(ascii: ",")) { continue }
            return consume(UInt8(ascii: "}"))
        }
    }

    private mutating func array(depth: Int) -> Bool {
        guard depth <= Self.maximumDepth, consume(UInt8(ascii: "[")) else { return false }
        skipWhitespace()
        if consume(UInt8(ascii: "]")) { return true }
        while true {
            skipWhitespace()
            guard value(depth: depth) else { return false }
            skipWhitespace()
            if consume(UInt8(ascii: ",")) { continue }
            return consume(UInt8(ascii: "]"))
        }
    }

    /// Any JSON value nested inside a container at `depth`.
    private mutating func value(depth: Int) -> Bool {
        switch peek() {
        case UInt8(ascii: "{"): return object(depth: depth + 1)
        case UInt8(ascii: "["): return array(depth: depth + 1)
        case UInt8(ascii: "\""): return string() != nil
        case UInt8(ascii: "t"): return literal("true")
        case UInt8(ascii: "f"): return literal("false")
        case UInt8(ascii: "n"): return literal("null")
        default: return number()
        }
    }

    private mutating func literal(_ word: StaticString) -> Bool {
        let count = word.utf8CodeUnitCount
        guard bytes.count - index >= count else { return false }
        for offset in 0..<count where bytes[index + offset] != word.utf8Start[offset] {
            return false
        }
        index += count
        return true
    }

    private mutating func digits() -> Int {
        let start = index
        while let byte = peek(), byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") { index += 1 }
        return index - start
    }

    private mutating func number() -> Bool {
        _ = consume(UInt8(ascii: "-"))
        if consume(UInt8(ascii: "0")) {
            // A leading zero stands alone.
        } else if digits() == 0 {
            return false
        }
        if consume(UInt8(ascii: ".")), digits() == 0 { return false }
        if consume(UInt8(ascii: "e")) || consume(UInt8(ascii: "E")) {
            if !consume(UInt8(ascii: "+")) { _ = consume(UInt8(ascii: "-")) }
            if digits() == 0 { return false }
        }
        return true
    }

    /// A string literal, unescaped. Nil for anything malformed: raw control characters, bad escapes,
    /// unpaired surrogates, invalid UTF-8.
    private mutating func string() -> String? {
        guard consume(UInt8(ascii: "\"")) else { return nil }
        let start = index
        var ascii = true
        // Fast path: no escapes, so the literal is a slice of the input.
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") {
                let slice = UnsafeBufferPointer(rebasing: bytes[start..<index])
                index += 1
                // ASCII needs no validation (most chat text is ASCII; validating is a tenth of decoding).
                return ascii ? String(decoding: slice, as: UTF8.self) : String(validating: slice, as: UTF8.self)
            }
            if byte == UInt8(ascii: "\\") { break }
            if byte < 0x20 { return nil }
            if byte >= 0x80 { ascii = false }
            index += 1
        }
        var scalars = [UInt8](UnsafeBufferPointer(rebasing: bytes[start..<index]))
        while index < bytes.count {
            let byte = bytes[index]
            index += 1
            switch byte {
            case UInt8(ascii: "\""):
                return String(validating: scalars, as: UTF8.self)
            case UInt8(ascii: "\\"):
                guard let escaped = peek() else { return nil }
                index += 1
                switch escaped {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): scalars.append(escaped)
                case UInt8(ascii: "b"): scalars.append(0x08)
                case UInt8(ascii: "f"): scalars.append(0x0C)
                case UInt8(ascii: "n"): scalars.append(0x0A)
                case UInt8(ascii: "r"): scalars.append(0x0D)
                case UInt8(ascii: "t"): scalars.append(0x09)
                case UInt8(ascii: "u"):
                    guard let scalar = unicodeEscape() else { return nil }
                    UTF8.encode(scalar) { scalars.append($0) }
                default: return nil
                }
            case 0..<0x20:
                return nil
            default:
                scalars.append(byte)
            }
        }
        return nil
    }

    private mutating func hex4() -> UInt32? {
        guard bytes.count - index >= 4 else { return nil }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let byte = bytes[index]
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: return nil
            }
            value = value << 4 | UInt32(digit)
            index += 1
        }
        return value
    }

    /// After `\u`: one code point, joining a surrogate pair. A lone surrogate is not text.
    private mutating func unicodeEscape() -> Unicode.Scalar? {
        guard let first = hex4() else { return nil }
        switch first {
        case 0xD800...0xDBFF:
            guard consume(UInt8(ascii: "\\")), consume(UInt8(ascii: "u")), let second = hex4(),
                (0xDC00...0xDFFF).contains(second)
            else { return nil }
            return Unicode.Scalar(0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00))
        case 0xDC00...0xDFFF:
            return nil
        default:
            return Unicode.Scalar(first)
        }
    }
}
