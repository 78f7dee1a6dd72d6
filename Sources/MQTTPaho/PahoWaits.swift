import CPahoMQTT
import ChatProtocol
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Three libc functions the tools define for libpaho, whose calls bind to an executable's definitions ahead
/// of libc's (Package.swift exports them). They shorten exact waits of Paho's MQTTAsync receive thread in two
/// cases, and nothing else: while a client connects, and while a write that did not fit into the socket is
/// pending. Only on the thread Paho names "MQTTAsync_rcv", only for the exact durations Paho asks, and only
/// with the Paho build they were measured on (Debian 12's 1.3.12-1, which reports itself as 1.3.11). Every
/// other call, on any other thread, at any other time or with any other Paho, goes to libc as asked;
/// `MQTTAsync_stop`'s shutdown bound (100 x 100 ms on the caller's thread) and the tools' own sleeps are not
/// touched. Otherwise the receive thread keeps Paho's own pace: a client waiting to reconnect wakes 10 times a
/// second, not 500 (it did while the connect cut applied at all times).
///
/// Why it is still here (issue 14 looked for a way without it): Paho's synchronous `MQTTClient` API, the
/// other candidate, waits 100 ms in `poll` before it sends CONNECT on every connect (strace in
/// scripts/paho-floor/sync.h), and Paho 1.3.12's `MQTTClient_connect5` loses the broker's session-present
/// flag for MQTT 5 (scripts/paho-floor/sync-session.c; fixed upstream in 1.3.14), which the client's
/// session resume and its tests need. Neither API offers a setting, call order or connection path around
/// these waits. docs/paho.md has the numbers.
///
/// Paho's receive thread sleeps 100 ms (`usleep(100000)`) whenever it finds no socket ready. At start it
/// often looks before the send thread has created the connection's socket, and a one-shot publish then takes
/// 120 ms instead of 20 (in 40-60% of runs here; upstream pull request eclipse-paho/paho.mqtt.c#1458 tried
/// to shorten these waits). This `usleep` cuts exactly those 100 ms sleeps of that thread to 2 ms while a
/// client connects, and skips the one that follows a read wait `poll` ended for a pending write.
@_cdecl("usleep")
public func pahoAwareUsleep(_ microseconds: UInt32) -> Int32 {
    guard microseconds == 100_000, PahoReceiveThread.isCurrent else { return sleep(microseconds) }
    // After a read wait ended for a pending write Paho finds no socket ready and would sleep; the write goes on
    // at its next look instead.
    if PendingWrites.skipNextSleep.exchange(false, ordering: .relaxed) { return 0 }
    return sleep(PahoLibrary.isConnecting ? 2_000 : microseconds)
}

/// libc's usleep, without calling it (this process's usleep is the one above).
private func sleep(_ microseconds: UInt32) -> Int32 {
    var request = timespec(tv_sec: Int(microseconds / 1_000_000), tv_nsec: Int(microseconds % 1_000_000) * 1_000)
    var remaining = timespec()
    while nanosleep(&request, &remaining) != 0 {
        guard errno == EINTR else { return -1 }
        // usleep returns on a signal; keep Paho's polling loop simple and just finish the sleep.
        request = remaining
    }
    return 0
}

/// Paho's receive thread sends CONNECT only after a poll() for incoming data returns, and until its first
/// connection is ready those polls wait 10 ms; nothing can arrive before CONNECT is sent, and CONNECT can go
/// once the TCP connect is done (Paho checks that with a zero-timeout poll for writing just before). This
/// `poll` makes exactly those waits of that thread end as soon as a watched socket is writable, still at most
/// Paho's 10 ms, and reports only the events Paho asked for: on loopback the connect is done by then and the
/// wait is gone (it was cut to 1 ms until a one-shot publish was measured spending a seventh of its time in
/// it); a broker farther away is waited for as Paho itself would, with at most one early return before the
/// writable socket makes Paho send CONNECT and switch to 1000 ms polls. (Those later polls end early only for a
/// pending write, `readWait` below: a reconnect's CONNECT goes out up to a second late, and a faster reconnect
/// makes a broker that closes the connection on every resent publish look like a takeover to MQTTClient's
/// quick-loss rule.)
@_cdecl("poll")
public func pahoAwarePoll(_ fds: UnsafeMutablePointer<pollfd>?, _ count: nfds_t, _ timeout: Int32) -> Int32 {
    guard count > 0, let fds, timeout == 1000 || timeout == 10 && PahoLibrary.isConnecting,
        PahoReceiveThread.isCurrent
    else { return libcPoll(fds, count, timeout) }
    let asked = UnsafeMutableBufferPointer(start: fds, count: Int(count))
    if timeout == 1000 { return readWait(asked) }
    return withUnsafeTemporaryAllocation(of: pollfd.self, capacity: asked.count) { watched in
        for index in asked.indices {
            watched[index] = asked[index]
            watched[index].events |= Int16(POLLOUT)
        }
        let ready = libcPoll(watched.baseAddress, count, timeout)
        return ready > 0 ? report(watched, to: asked) : ready
    }
}

/// Paho's receive thread waits up to 1 s in `poll` for something to read, and a write that did not fit into
/// the socket (the broker reads slower than we write) is finished only before that wait, by a zero-timeout
/// poll for writing (`Socket_getReadySocket`, poll version, src/Socket.c); until it is finished, Paho sends
/// nothing else on that connection. Acknowledgements end the wait early at QoS 1 and 2; at QoS 0 nothing
/// comes, and a pipe at QoS 0 stood still for up to 1.1 s (the wait and the 100 ms `usleep` after it) after
/// each write that did not fit, two or three times per 100,000 lines, 40-70% of its wall time
/// (docs/performance.md). Paho 1.3.11 to 1.3.15 and upstream master do the same; AimRT patched its copy of
/// Paho for it (AimRT/AimRT#431), and eclipse-paho/paho.mqtt.c#1667 reports the same stall losing QoS 0
/// callbacks in 1.3.15.
///
/// This wait also ends once a socket with a pending write (`PendingWrites`, told by `writev` below) is
/// writable, and is woken when a write that did not fit is made during it, on Paho's send thread; it then
/// reports nothing ready, and the 100 ms sleep that Paho takes next is skipped, so that its next look
/// finishes the write at once. Only Paho's own events are reported, as in the connect wait above.
private func readWait(_ asked: UnsafeMutableBufferPointer<pollfd>) -> Int32 {
    let deadline = ContinuousClock.now + .seconds(1)
    return withUnsafeTemporaryAllocation(of: pollfd.self, capacity: asked.count + 1) { watched in
        while true {
            let pending = PendingWrites.sockets.load(ordering: .relaxed)
            for index in asked.indices {
                watched[index] = asked[index]
                if PendingWrites.contains(asked[index].fd, in: pending) { watched[index].events |= Int16(POLLOUT) }
            }
            watched[asked.count] = pollfd(fd: PendingWrites.wake, events: Int16(POLLIN), revents: 0)
            let left = max(.zero, deadline - .now).components
            let milliseconds = Int32(
                left.seconds * 1000 + (left.attoseconds + 999_999_999_999_999) / 1_000_000_000_000_000
            )
            let ready = libcPoll(watched.baseAddress, nfds_t(asked.count + 1), milliseconds)
            guard ready > 0 else { return ready }
            if watched[asked.count].revents != 0 { PendingWrites.clearWake() }
            let reported = report(UnsafeMutableBufferPointer(rebasing: watched[..<asked.count]), to: asked)
            if reported > 0 { return reported }
            var writable = false
            for index in asked.indices where watched[index].revents & Int16(POLLOUT) != 0 {
                // Once per write that did not fit: should Paho have none pending, it waits as usual next time.
                writable = PendingWrites.forget(asked[index].fd) || writable
            }
            if writable {
                PendingWrites.skipNextSleep.store(true, ordering: .relaxed)
                return 0
            }
            // Woken for a write that did not fit: wait for its socket too, for the rest of the second.
        }
    }
}

/// Copies into `asked` only the events Paho asked for and the errors poll always reports (writable is not news
/// to a wait for reading); returns how many of its sockets have any.
private func report(
    _ watched: UnsafeMutableBufferPointer<pollfd>,
    to asked: UnsafeMutableBufferPointer<pollfd>
) -> Int32 {
    let always = Int16(POLLERR | POLLHUP | POLLNVAL)
    var reported: Int32 = 0
    for index in asked.indices {
        asked[index].revents = watched[index].revents & (asked[index].events | always)
        if asked[index].revents != 0 { reported += 1 }
    }
    return reported
}

/// Paho writes every packet with one `writev` (`Socket_writev`, src/Socket.c; TLS connections write through
/// OpenSSL, which these waits leave alone). When it writes less than asked, Paho keeps the rest as the
/// socket's pending write and writes nothing else on it but that rest; so a socket's last `writev` tells
/// whether a write is pending on it.
@_cdecl("writev")
public func pahoAwareWritev(_ fd: Int32, _ vectors: UnsafePointer<iovec>?, _ count: Int32) -> Int {
    let written = libcWritev(fd, vectors, count)
    let error = errno
    defer { errno = error }
    let fits: Bool
    if written < 0 {
        fits = error != EAGAIN && error != EWOULDBLOCK
    } else {
        var total = 0
        for index in 0..<Int(max(count, 0)) { total += vectors.map { $0[index].iov_len } ?? 0 }
        fits = written == total
    }
    PendingWrites.note(fd, pending: !fits)
    return written
}

/// The sockets whose last write did not fit (only descriptors below 64: the tools' sockets are; any other one
/// waits as Paho makes it), and how a write that did not fit wakes the receive thread's wait.
private enum PendingWrites {
    static let sockets = Atomic<UInt64>(0)
    /// Set when the receive thread's wait ended for a pending write: its next 100 ms sleep is skipped.
    static let skipNextSleep = Atomic<Bool>(false)
    /// Readable once a write did not fit; -1 (poll ignores it) if the system gave none.
    static let wake = cpaho_eventfd()

    static func contains(_ fd: Int32, in set: UInt64) -> Bool { fd >= 0 && fd < 64 && set & (1 << UInt64(fd)) != 0 }

    static func note(_ fd: Int32, pending: Bool) {
        guard fd >= 0, fd < 64 else { return }
        let bit = UInt64(1) << UInt64(fd)
        if pending {
            if sockets.bitwiseOr(bit, ordering: .relaxed).oldValue & bit == 0, wake >= 0 {
                var one: UInt64 = 1
                _ = write(wake, &one, 8)
            }
        } else if sockets.load(ordering: .relaxed) & bit != 0 {
            sockets.bitwiseAnd(~bit, ordering: .relaxed)
        }
    }

    /// Forgets `fd`'s pending write; false when none was noted.
    static func forget(_ fd: Int32) -> Bool {
        guard fd >= 0, fd < 64 else { return false }
        let bit = UInt64(1) << UInt64(fd)
        return sockets.bitwiseAnd(~bit, ordering: .relaxed).oldValue & bit != 0
    }

    static func clearWake() {
        var count: UInt64 = 0
        _ = read(wake, &count, 8)
    }
}

/// The thread these waits belong to, recognised by the name Paho gives it (`Thread_set_name` at the top of
/// `MQTTAsync_receiveThread`, before its first wait).
private enum PahoReceiveThread {
    /// The Paho build the waits were measured on; any other one keeps its own waits.
    static let measuredVersion = "1.3.11"
    static let versionMatches = PahoLibrary.version == measuredVersion

    /// Asked only for the exact durations above: one `prctl(PR_GET_NAME)`, no allocation,
    /// nothing that could call back into poll or usleep. The thread before the version: the thread exists
    /// only once Paho is loaded (at run time, PahoLibrary), so the version is read from the loaded build.
    static var isCurrent: Bool { PahoLibrary.onReceiveThread && versionMatches }
}

private typealias PollFunction = @convention(c) (UnsafeMutablePointer<pollfd>?, nfds_t, Int32) -> Int32

/// libc's own poll, found past this executable's (RTLD_NEXT).
private let libcPoll: PollFunction = {
    let next = UnsafeMutableRawPointer(bitPattern: -1)  // RTLD_NEXT
    guard let symbol = dlsym(next, "poll") else { fatalError("libc's poll not found") }
    return unsafeBitCast(symbol, to: PollFunction.self)
}()

private typealias WritevFunction = @convention(c) (Int32, UnsafePointer<iovec>?, Int32) -> Int

/// libc's own writev, found past this executable's (RTLD_NEXT).
private let libcWritev: WritevFunction = {
    let next = UnsafeMutableRawPointer(bitPattern: -1)  // RTLD_NEXT
    guard let symbol = dlsym(next, "writev") else { fatalError("libc's writev not found") }
    return unsafeBitCast(symbol, to: WritevFunction.self)
}()
