import ChatProtocol

#if canImport(Glibc)
    import Glibc
#endif

/// Two libc functions the tools define for libpaho, whose calls bind to an executable's definitions ahead of
/// libc's (Package.swift exports them). They shorten exact waits of Paho's MQTTAsync receive thread while a
/// client connects, and nothing else: only on the thread Paho names "MQTTAsync_rcv", only for the exact
/// durations Paho asks, only while a connect is in flight (`PahoLibrary.isConnecting`: from the CONNECT
/// request to Paho's answer), and only with the Paho build they were measured on (Debian 12's 1.3.12-1, which
/// reports itself as 1.3.11). Every other call, on any other thread, at any other time or with any other
/// Paho, goes to libc as asked; `MQTTAsync_stop`'s shutdown bound (100 x 100 ms on the caller's thread) and
/// the tools' own sleeps are not touched. Outside a connect the receive thread keeps Paho's own pace: a
/// client waiting to reconnect wakes 10 times a second, not 500 (it did while the cut applied at all times).
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
/// to shorten these waits). This `usleep` cuts exactly those 100 ms sleeps of that thread to 2 ms.
@_cdecl("usleep")
public func pahoAwareUsleep(_ microseconds: UInt32) -> Int32 {
    let wanted = microseconds == 100_000 && PahoReceiveThread.isCurrent ? 2_000 : microseconds
    var request = timespec(tv_sec: Int(wanted / 1_000_000), tv_nsec: Int(wanted % 1_000_000) * 1_000)
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
/// writable socket makes Paho send CONNECT and switch to 1000 ms polls. (Those later polls are left alone: a
/// reconnect's CONNECT goes out up to a second late, and a faster reconnect makes a broker that closes the
/// connection on every resent publish look like a takeover to MQTTClient's quick-loss rule.)
@_cdecl("poll")
public func pahoAwarePoll(_ fds: UnsafeMutablePointer<pollfd>?, _ count: nfds_t, _ timeout: Int32) -> Int32 {
    guard timeout == 10, count > 0, let fds, PahoReceiveThread.isCurrent else { return libcPoll(fds, count, timeout) }
    let asked = UnsafeMutableBufferPointer(start: fds, count: Int(count))
    return withUnsafeTemporaryAllocation(of: pollfd.self, capacity: asked.count) { watched in
        for index in asked.indices {
            watched[index] = asked[index]
            watched[index].events |= Int16(POLLOUT)
        }
        let ready = libcPoll(watched.baseAddress, count, timeout)
        guard ready > 0 else { return ready }
        // Only the events Paho asked for, and the errors poll always reports; writable is not news to it.
        let always = Int16(POLLERR | POLLHUP | POLLNVAL)
        var reported: Int32 = 0
        for index in asked.indices {
            asked[index].revents = watched[index].revents & (asked[index].events | always)
            if asked[index].revents != 0 { reported += 1 }
        }
        return reported
    }
}

/// The thread these waits belong to, recognised by the name Paho gives it (`Thread_set_name` at the top of
/// `MQTTAsync_receiveThread`, before its first wait).
private enum PahoReceiveThread {
    /// The Paho build the waits were measured on; any other one keeps its own waits.
    static let measuredVersion = "1.3.11"
    static let versionMatches = PahoLibrary.version == measuredVersion

    /// Asked only for the exact durations above: an atomic load and one `prctl(PR_GET_NAME)`, no allocation,
    /// nothing that could call back into poll or usleep. The thread before the version: the thread exists
    /// only once Paho is loaded (at run time, PahoLibrary), so the version is read from the loaded build.
    static var isCurrent: Bool { PahoLibrary.isConnecting && PahoLibrary.onReceiveThread && versionMatches }
}

private typealias PollFunction = @convention(c) (UnsafeMutablePointer<pollfd>?, nfds_t, Int32) -> Int32

/// libc's own poll, found past this executable's (RTLD_NEXT).
private let libcPoll: PollFunction = {
    let next = UnsafeMutableRawPointer(bitPattern: -1)  // RTLD_NEXT
    guard let symbol = dlsym(next, "poll") else { fatalError("libc's poll not found") }
    return unsafeBitCast(symbol, to: PollFunction.self)
}()
