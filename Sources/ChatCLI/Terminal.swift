import Dispatch

#if canImport(Glibc)
import Glibc
#endif

/// Small POSIX helpers the tools share: terminal checks, whole writes, signals, line input.
public enum Terminal {
    public static func isTerminal(_ fd: Int32) -> Bool { isatty(fd) == 1 }

    /// Colours only on a terminal, never with NO_COLOR (https://no-color.org) or TERM=dumb.
    public static func wantsColor(fd: Int32) -> Bool {
        guard isTerminal(fd) else { return false }
        if let noColor = getenv("NO_COLOR"), noColor.pointee != 0 { return false }
        if let term = getenv("TERM"), String(cString: term) == "dumb" { return false }
        return true
    }

    /// Writes all of `bytes` to `fd`. False when the reader has gone (EPIPE: Paho ignores SIGPIPE for the
    /// whole process, so a closed pipe shows up here rather than as a signal).
    @discardableResult
    public static func writeAll(_ bytes: [UInt8], to fd: Int32) -> Bool {
        bytes.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let written = write(fd, buffer.baseAddress! + offset, buffer.count - offset)
                if written < 0 {
                    if errno == EINTR { continue }
                    return false
                }
                offset += written
            }
            return true
        }
    }

    /// Delivers SIGINT and SIGTERM as an async sequence instead of killing the process, so the tools can
    /// say goodbye and disconnect cleanly.
    public static func interrupts() -> AsyncStream<Int32> {
        let (stream, continuation) = AsyncStream<Int32>.makeStream()
        var sources: [any DispatchSourceSignal] = []
        for number in [SIGINT, SIGTERM] {
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number)
            source.setEventHandler { continuation.yield(number) }
            source.resume()
            sources.append(source)
        }
        let keep = UncheckedBox(sources)
        continuation.onTermination = { _ in keep.value.forEach { $0.cancel() } }
        return stream
    }
}

/// Holds Dispatch sources (not Sendable) for the lifetime of the stream that owns them.
private final class UncheckedBox<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}

/// Reads lines from a file descriptor in large chunks (one read per 64 KiB, not one per line).
/// Lines end at LF; a trailing CR is dropped (CRLF input); no other trimming.
public struct LineReader {
    private let fd: Int32
    private var buffer: [UInt8] = []
    private var start = 0
    private var atEnd = false
    private var chunk = [UInt8](repeating: 0, count: 65_536)

    public init(fd: Int32) { self.fd = fd }

    /// The next line's bytes, without its terminator; nil at end of input.
    public mutating func next() -> ArraySlice<UInt8>? {
        while true {
            if let newline = buffer[start...].firstIndex(of: 0x0A) {
                var end = newline
                if end > start && buffer[end - 1] == 0x0D { end -= 1 }
                let line = buffer[start..<end]
                start = newline + 1
                return line
            }
            if atEnd {
                guard start < buffer.count else { return nil }
                var end = buffer.count
                if buffer[end - 1] == 0x0D { end -= 1 }
                let line = buffer[start..<end]
                start = buffer.count
                return line
            }
            // Compact what was consumed, then read more.
            if start > 0 {
                buffer.removeSubrange(0..<start)
                start = 0
            }
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            if count <= 0 {
                atEnd = true
            } else {
                buffer.append(contentsOf: chunk[0..<count])
            }
        }
    }
}
