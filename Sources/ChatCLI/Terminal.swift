import ChatProtocol
import Dispatch
import Synchronization

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

    /// The most a write may carry and still not block where `canWrite` said yes: POSIX's PIPE_BUF, what
    /// poll() promises for a pipe that reports room.
    public static let writableAtOnce = 4096

    /// Whether writes to `fd` never wait for a reader: a regular file, or a device that is not a terminal
    /// (`/dev/null`). Asked once; for those, `canWrite` is always true and need not be asked.
    public static func neverBlocks(_ fd: Int32) -> Bool {
        var status = stat()
        guard fstat(fd, &status) == 0 else { return false }
        let type = status.st_mode & S_IFMT
        return type == S_IFREG || (type == S_IFCHR && !isTerminal(fd))
    }

    /// Whether a write of up to `writableAtOnce` bytes to `fd` would return at once (poll, no wait).
    public static func canWrite(_ fd: Int32) -> Bool {
        var entry = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
        return poll(&entry, 1, 0) == 1 && entry.revents & Int16(POLLOUT | POLLERR | POLLHUP) == Int16(POLLOUT)
    }

    /// Calls `action` once when the reader of `fd` goes away (`listener | head -1`), without waiting for the
    /// next write to fail: poll() reports POLLERR on a pipe whose read end is closed. Pipes and sockets only.
    public static func whenOutputCloses(_ fd: Int32, _ action: @escaping @Sendable () -> Void) {
        var status = stat()
        guard fstat(fd, &status) == 0, (status.st_mode & S_IFMT) == S_IFIFO || (status.st_mode & S_IFMT) == S_IFSOCK
        else { return }
        startDetachedThread {
            var entry = pollfd(fd: fd, events: 0, revents: 0)
            while poll(&entry, 1, -1) < 0 && errno == EINTR {}
            action()
        }
    }

    /// Runs `body`, which blocks (a read, a semaphore wait), on a thread of its own and returns its result
    /// (see `BlockingCall`).
    public static func onOwnThread<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
        await BlockingCall.run(body)
    }

    /// A plain detached pthread for a call that blocks for the life of the process (see `BlockingCall`).
    public static func startDetachedThread(_ body: @escaping @Sendable () -> Void) {
        BlockingCall.startThread(body)
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

/// The prompt's lines: edited at a terminal (`LineEditor`: keys, history, completion), else plain lines read
/// from stdin after the prompt is written, as they always were.
public final class PromptInput: Sendable {
    private let editor: LineEditor?
    private let plain: Mutex<LineReader>

    /// Lines from `fd` (standard input unless a test says otherwise); only standard input at a terminal is
    /// edited.
    public init(
        fd: Int32 = 0,
        history: PromptHistory?,
        complete: (@Sendable (Substring) -> PromptCompletion)? = nil
    ) {
        plain = Mutex(LineReader(fd: fd))
        editor = fd == 0 ? LineEditor.open(history: history, complete: complete) : nil
    }

    /// The next line after showing `prompt`; nil at end of input. Blocks: call it on a thread of its own.
    public func next(prompt: String) -> String? {
        if let editor { return editor.read(prompt: prompt) }
        Terminal.writeAll(Array(prompt.utf8), to: 1)
        return plain.withLock { $0.next().map { String(decoding: $0, as: UTF8.self) } }
    }

    /// The same, waiting on a thread of its own (`Terminal.onOwnThread`), never on Swift's cooperative threads.
    public func next(prompt: String) async -> String? {
        await Terminal.onOwnThread { self.next(prompt: prompt) }
    }

    /// Gives the terminal back as it was.
    public func close() { editor?.close() }
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

    /// How many more lines can be read without waiting (what a pipe already holds, or all of a file).
    /// Used to say exactly how many messages were not sent when the publisher gives up.
    public mutating func countAvailableLines() -> Int {
        let flags = fcntl(fd, F_GETFL)
        _ = fcntl(fd, F_SETFL, flags | O_NONBLOCK)
        defer { _ = fcntl(fd, F_SETFL, flags) }
        var count = 0
        while let line = next() {
            if !line.isEmpty { count += 1 }
        }
        return count
    }

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
            // EAGAIN (only in countAvailableLines) ends the count like end of input.
            if count <= 0 {
                atEnd = true
            } else {
                buffer.append(contentsOf: chunk[0..<count])
            }
        }
    }
}

extension DispatchTime {
    /// `duration` from now, for Dispatch's semaphore waits.
    public static func after(_ duration: Duration) -> DispatchTime {
        let (seconds, attoseconds) = duration.components
        return .now() + .nanoseconds(Int(clamping: seconds * 1_000_000_000 + attoseconds / 1_000_000_000))
    }
}
