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

    /// Broken-down time in the local time zone.
    func localComponents() -> tm {
        var seconds = time_t(millisecondsSince1970.floorDivided(by: 1000))
        var parts = tm()
        localtime_r(&seconds, &parts)
        return parts
    }

    /// RFC 3339 in UTC with milliseconds.
    public var rfc3339: String {
        String(unsafeUninitializedCapacity: Self.rfc3339Capacity) { writeRFC3339(into: $0) }
    }

    /// Appends `rfc3339`'s bytes: the listener's JSON lines carry one or two, written in place.
    func appendRFC3339(to out: inout [UInt8]) {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: Self.rfc3339Capacity) { buffer in
            let count = writeRFC3339(into: buffer)
            out.append(contentsOf: UnsafeBufferPointer(rebasing: buffer[..<count]))
        }
    }

    /// Room for a year of up to 12 digits: any Int64 count of milliseconds fits.
    private static let rfc3339Capacity = 40

    private func writeRFC3339(into buffer: UnsafeMutableBufferPointer<UInt8>) -> Int {
        let days = millisecondsSince1970.floorDivided(by: 86_400_000)
        let millisOfDay = Int(millisecondsSince1970.floorModulo(by: 86_400_000))
        let (year, month, day) = Self.civilDate(daysSince1970: days)
        var out = DigitWriter(buffer)
        out.number(Int(year), 4, then: "-")
        out.number(month, 2, then: "-")
        out.number(day, 2, then: "T")
        out.number(millisOfDay / 3_600_000, 2, then: ":")
        out.number(millisOfDay / 60_000 % 60, 2, then: ":")
        out.number(millisOfDay / 1000 % 60, 2, then: ".")
        out.number(millisOfDay % 1000, 3, then: "Z")
        return out.count
    }

    /// The proleptic Gregorian date of a day counted from 1970-01-01 (Howard Hinnant's `civil_from_days`):
    /// pure arithmetic, where `gmtime_r` takes glibc's time zone lock for every line.
    static func civilDate(daysSince1970 days: Int64) -> (year: Int64, month: Int, day: Int) {
        let shifted = days + 719_468
        let era = (shifted >= 0 ? shifted : shifted - 146_096) / 146_097
        let dayOfEra = shifted - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthIndex = (5 * dayOfYear + 2) / 153
        let day = Int(dayOfYear - (153 * monthIndex + 2) / 5 + 1)
        let month = Int(monthIndex < 10 ? monthIndex + 3 : monthIndex - 9)
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }

    /// `HH:MM:SS` in the local time zone, as the listener prints it.
    public var localTimeOfDay: String {
        let parts = localComponents()
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
        var text = text
        guard let milliseconds = text.withUTF8(Self.parseRFC3339) else { return nil }
        self.init(millisecondsSince1970: milliseconds)
    }

    private static func parseRFC3339(_ bytes: UnsafeBufferPointer<UInt8>) -> Int64? {
        var reader = DigitReader(bytes)
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
        // A day past the month's end counts on into the next month, as timegm(3) would have it.
        let days = daysSince1970(year: Int64(year), month: month, day: day)
        let seconds = days * 86400 + Int64(hour * 3600 + minute * 60 + min(second, 59) - offsetMinutes * 60)
        return seconds * 1000 + Int64(millis)
    }

    /// Days from 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
    static func daysSince1970(year: Int64, month: Int, day: Int) -> Int64 {
        let year = month <= 2 ? year - 1 : year
        let era = (year >= 0 ? year : year - 399) / 400
        let yearOfEra = year - era * 400
        let dayOfYear = Int64((153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1)
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
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
    let bytes: UnsafeBufferPointer<UInt8>
    var index = 0

    init(_ bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

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
