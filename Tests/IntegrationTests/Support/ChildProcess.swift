import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A child process started with posix_spawn, its stdin/stdout/stderr on pipes, ended only by its PID.
///
/// Foundation's `Process.waitUntilExit` spins a run loop and can hang off the main thread; the tests wait
/// with `waitpid` and read the pipes on their own threads instead.
final class ChildProcess: @unchecked Sendable {
    let pid: pid_t
    private var stdinFD: Int32
    private let stdoutCollector: PipeCollector
    private let stderrCollector: PipeCollector
    private let lock = NSLock()
    private var exitStatus: Int32?
    private static let spawnLock = NSLock()

    /// A state folder of this test run's own.
    static let testStateHome = FileManager.default.temporaryDirectory
        .appendingPathComponent("mqtt-chat-test-state-\(getpid())").path

    /// Starts `path` with `arguments`. `environment` entries are added to (or replace) the inherited ones.
    init(_ path: String, _ arguments: [String], environment: [String: String] = [:], stdinIsNull: Bool = false) throws {
        // A child that exits before reading its input must not take the test runner down with SIGPIPE.
        Glibc.signal(SIGPIPE, SIG_IGN)
        var inPipe: [Int32] = [0, 0]
        var outPipe: [Int32] = [0, 0]
        var errPipe: [Int32] = [0, 0]
        // Close-on-exec, so no other child (a broker restarted mid-test) inherits a copy of this child's stdin
        // and keeps it from ever seeing end of input. dup2 onto 0, 1 and 2 clears the flag for the child itself.
        // Tests run in parallel: the lock keeps another spawn from running between pipe() and FD_CLOEXEC.
        Self.spawnLock.lock()
        defer { Self.spawnLock.unlock() }
        guard pipe(&inPipe) == 0, pipe(&outPipe) == 0, pipe(&errPipe) == 0 else { throw TestFailure("pipe failed") }
        for fd in inPipe + outPipe + errPipe { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        if stdinIsNull {
            posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        } else {
            posix_spawn_file_actions_adddup2(&actions, inPipe[0], 0)
        }
        posix_spawn_file_actions_adddup2(&actions, outPipe[1], 1)
        posix_spawn_file_actions_adddup2(&actions, errPipe[1], 2)

        var env = ProcessInfo.processInfo.environment
        // The tools' journal of state (StateJournalFile), prompt history and keys never come from, nor go to,
        // the user's own folders: a test broker's state must not be restored from an earlier run on the same
        // port, nor a test user's identity be another run's.
        env["XDG_STATE_HOME"] = Self.testStateHome
        env["XDG_DATA_HOME"] = Self.testStateHome + "-data"
        for (key, value) in environment { env[key] = value }
        let argv = ([path] + arguments).map { strdup($0) } + [nil]
        let envp = env.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        // The spawning thread may block or ignore signals (Dispatch's threads do, Paho ignores SIGPIPE);
        // the child starts with an empty mask and default handlers, as from a shell.
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        var allSignals = sigset_t()
        sigfillset(&allSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        posix_spawnattr_setsigdefault(&attributes, &allSignals)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        var child: pid_t = 0
        let rc = posix_spawn(&child, path, &actions, &attributes, argv, envp)
        close(inPipe[0])
        close(outPipe[1])
        close(errPipe[1])
        guard rc == 0 else { throw TestFailure("could not start \(path): \(String(cString: strerror(rc)))") }
        pid = child
        stdinFD = inPipe[1]
        if stdinIsNull {
            close(inPipe[1])
            stdinFD = -1
        }
        stdoutCollector = PipeCollector(fd: outPipe[0])
        stderrCollector = PipeCollector(fd: errPipe[0])
    }

    /// Writes to the child's stdin.
    func write(_ text: String) {
        write(Array(text.utf8))
    }

    func write(_ bytes: [UInt8]) {
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { Glibc.write(stdinFD, $0.baseAddress! + offset, bytes.count - offset) }
            if written <= 0 { return }
            offset += written
        }
    }

    /// Closes the child's stdin (end of input).
    func closeInput() {
        if stdinFD >= 0 { close(stdinFD) }
        stdinFD = -1
    }

    func signal(_ signal: Int32) {
        if exitCodeIfExited == nil { kill(pid, signal) }
    }

    var stdout: String { stdoutCollector.text }
    var stderr: String { stderrCollector.text }
    var stdoutBytes: [UInt8] { stdoutCollector.bytes }
    /// Whether both stdout and stderr were read to their end.
    var outputEnded: Bool { stdoutCollector.isEnded && stderrCollector.isEnded }

    /// The exit code (or 128 + signal), if the child has ended.
    var exitCodeIfExited: Int32? {
        lock.lock()
        defer { lock.unlock() }
        if let exitStatus { return exitStatus }
        var status: Int32 = 0
        guard waitpid(pid, &status, WNOHANG) == pid else { return nil }
        exitStatus = Self.decode(status)
        return exitStatus
    }

    private static func decode(_ status: Int32) -> Int32 {
        let signal = status & 0x7F
        return signal == 0 ? (status >> 8) & 0xFF : 128 + signal
    }

    /// Waits for the child to exit and its output to be read; kills it (and fails) after `timeout`.
    @discardableResult
    func wait(timeout: Duration = .seconds(30)) async throws -> Int32 {
        let deadline = ContinuousClock.now + timeout
        while true {
            if let code = exitCodeIfExited {
                await stdoutCollector.waitForEnd(until: deadline)
                await stderrCollector.waitForEnd(until: deadline)
                return code
            }
            if ContinuousClock.now >= deadline {
                kill(pid, SIGKILL)
                throw TestFailure("process \(pid) did not exit within \(timeout); stderr: \(stderr)")
            }
            try await Task.sleep(for: .milliseconds(10))
        }
    }

    /// Waits until stdout (or stderr) contains `text` `times` times (or the time is up); returns whether it did.
    func waitForOutput(
        _ text: String,
        times: Int = 1,
        timeout: Duration = .seconds(10),
        onStderr: Bool = false
    ) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let output = onStderr ? stderr : stdout
            if times == 1 ? output.contains(text) : output.components(separatedBy: text).count > times {
                return true
            }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return false
    }

    /// Waits until stdout has at least `lines` newline-terminated lines.
    func waitForLines(_ lines: Int, timeout: Duration = .seconds(10)) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if stdoutCollector.lineCount >= lines { return true }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return false
    }

    deinit {
        if exitCodeIfExited == nil {
            kill(pid, SIGKILL)
            var status: Int32 = 0
            waitpid(pid, &status, 0)
        }
        if stdinFD >= 0 { close(stdinFD) }
    }
}

/// Reads one pipe to its end on a thread of its own, so a chatty child never blocks on a full pipe.
final class PipeCollector: @unchecked Sendable {
    private let lock = NSLock()
    private var data: [UInt8] = []
    private var ended = false
    private var newlines = 0

    init(fd: Int32) {
        let thread = Thread { [self] in
            var buffer = [UInt8](repeating: 0, count: 65_536)
            while true {
                let count = read(fd, &buffer, buffer.count)
                if count <= 0 { break }
                lock.lock()
                data.append(contentsOf: buffer[0..<count])
                newlines += buffer[0..<count].lazy.filter { $0 == 0x0A }.count
                lock.unlock()
            }
            close(fd)
            lock.lock()
            ended = true
            lock.unlock()
        }
        thread.start()
    }

    var bytes: [UInt8] {
        lock.lock()
        defer { lock.unlock() }
        return data
    }

    var text: String { String(decoding: bytes, as: UTF8.self) }

    var lineCount: Int {
        lock.lock()
        defer { lock.unlock() }
        return newlines
    }

    var isEnded: Bool {
        lock.lock()
        defer { lock.unlock() }
        return ended
    }

    func waitForEnd(until deadline: ContinuousClock.Instant) async {
        while ContinuousClock.now < deadline {
            if isEnded { return }
            try? await Task.sleep(for: .milliseconds(5))
        }
    }
}
