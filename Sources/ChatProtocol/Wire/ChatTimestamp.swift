#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A point in time with millisecond precision, written on the wire as RFC 3339 UTC (`2026-11-22T12:01:02.345Z`).
///
/// Kept as milliseconds since the Unix epoch rather than `Date` so the wire format needs no Foundation.
public struct ChatTimestamp: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var millisecondsSince1970: Int64

    public init(millisecondsSince1970: Int64) {
        self.millisecondsSince1970 = millisecondsSince1970
    }

    /// The current wall-clock time.
    public static func now() -> ChatTimestamp {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return ChatTimestamp(millisecondsSince1970: Int64(spec.tv_sec) * 1000 + Int64(spec.tv_nsec) / 1_000_000)
    }

    public static func < (lhs: ChatTimestamp, rhs: ChatTimestamp) -> Bool {
        lhs.millisecondsSince1970 < rhs.millisecondsSince1970
    }

    /// Broken-down time, in UTC or in the local time zone.
    func components(local: Bool) -> tm {
        var seconds = time_t(millisecondsSince1970.floorDivided(by: 1000))
        var parts = tm()
        if local { localtime_r(&seconds, &parts) } else { gmtime_r(&seconds, &parts) }
        return parts
    }

    /// RFC 3339 in UTC with milliseconds.
    public var rfc3339: String {
        let parts = components(local: false)
        let millis = Int(millisecondsSince1970.floorModulo(by: 1000))
        // Formatted into one small buffer: every line the listener writes as JSON carries one or two.
        return String(unsafeUninitializedCapacity: 32) { buffer in
            var out = DigitWriter(buffer)
            out.number(Int(parts.tm_year) + 1900, 4, then: "-")
            out.number(Int(parts.tm_mon) + 1, 2, then: "-")
            out.number(Int(parts.tm_mday), 2, then: "T")
            out.number(Int(parts.tm_hour), 2, then: ":")
            out.number(Int(parts.tm_min), 2, then: ":")
            out.number(Int(parts.tm_sec), 2, then: ".")
            out.number(millis, 3, then: "Z")
            return out.count
        }
    }

    /// `HH:MM:SS` in the local time zone, as the listener prints it.
    public var localTimeOfDay: String {
        let parts = components(local: true)
        return String(unsafeUninitializedCapacity: 8) { buffer in
            var out = DigitWriter(buffer)
            out.number(Int(parts.tm_hour), 2, then: ":")
            out.number(Int(parts.tm_min), 2, then: ":")
            out.number(Int(parts.tm_sec), 2, then: nil)
            return out.count
        }
    }

    public var description: String { rfc3339 }

    /// Parses RFC 3339 (`YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`); nil for anything else.
    public init?(rfc3339 text: String) {
        var reader = DigitReader(Array(text.utf8))
        guard let year = reader.number(4), reader.skip("-"), let month = reader.number(2), reader.skip("-"),
            let day = reader.number(2), reader.skip("T") || reader.skip("t") || reader.skip(" "),
            let hour = reader.number(2), reader.skip(":"), let minute = reader.number(2), reader.skip(":"),
            let second = reader.number(2),
            (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second <= 60
        else { return nil }
        var millis = 0
        if reader.skip(".") {
            var scale = 100
            var count = 0
            while let digit = reader.number(1) {
                millis += digit * scale
                scale /= 10
                count += 1
            }
            guard count > 0 else { return nil }
        }
        var offsetMinutes = 0
        if reader.skip("Z") || reader.skip("z") {
        } else if let sign = reader.sign(), let offsetHours = reader.number(2), reader.skip(":"),
            let offsetMins = reader.number(2), offsetHours < 24, offsetMins < 60
        {
            offsetMinutes = sign * (offsetHours * 60 + offsetMins)
        } else {
            return nil
        }
        guard reader.atEnd else { return nil }
        var parts = tm()
        parts.tm_year = Int32(year - 1900)
        parts.tm_mon = Int32(month - 1)
        parts.tm_mday = Int32(day)
        parts.tm_hour = Int32(hour)
        parts.tm_min = Int32(minute)
        parts.tm_sec = Int32(min(second, 59))
        let seconds = Int64(timegm(&parts)) - Int64(offsetMinutes) * 60
        self.init(millisecondsSince1970: seconds * 1000 + Int64(millis))
    }
}

/// Writes zero-padded decimal fields into a buffer large enough for them.
private struct DigitWriter {
    let buffer: UnsafeMutableBufferPointer<UInt8>
    private(set) var count = 0

    init(_ buffer: UnsafeMutableBufferPointer<UInt8>) { self.buffer = buffer }

    /// `value` in at least `width` digits (more if it needs them, as a year past 9999 would), then `separator`.
    mutating func number(_ value: Int, _ width: Int, then separator: Unicode.Scalar?) {
        var needed = 1
        var rest = abs(value) / 10
        while rest > 0 {
            needed += 1
            rest /= 10
        }
        if value < 0 { append(UInt8(ascii: "-")) }
        let digits = max(width, needed)
        var remaining = abs(value)
        for position in stride(from: count + digits - 1, through: count, by: -1) {
            buffer[position] = UInt8(ascii: "0") + UInt8(remaining % 10)
            remaining /= 10
        }
        count += digits
        if let separator { append(UInt8(separator.value)) }
    }

    private mutating func append(_ byte: UInt8) {
        buffer[count] = byte
        count += 1
    }
}

/// Reads fixed-width decimal fields from ASCII bytes.
private struct DigitReader {
    let bytes: [UInt8]
    var index = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    var atEnd: Bool { index == bytes.count }

    mutating func number(_ width: Int) -> Int? {
        guard bytes.count - index >= width else { return nil }
        var value = 0
        for byte in bytes[index..<index + width] {
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
            value = value * 10 + Int(byte - UInt8(ascii: "0"))
        }
        index += width
        return value
    }

    mutating func skip(_ character: Unicode.Scalar) -> Bool {
        guard index < bytes.count, bytes[index] == UInt8(ascii: character) else { return false }
        index += 1
        return true
    }

    mutating func sign() -> Int? {
        if skip("+") { return 1 }
        if skip("-") { return -1 }
        return nil
    }
}

extension Int64 {
    fileprivate func floorDivided(by divisor: Int64) -> Int64 {
        let quotient = self / divisor
        return (self % divisor < 0) ? quotient - 1 : quotient
    }

    fileprivate func floorModulo(by divisor: Int64) -> Int64 {
        let remainder = self % divisor
        return remainder < 0 ? remainder + divisor : remainder
    }
}
