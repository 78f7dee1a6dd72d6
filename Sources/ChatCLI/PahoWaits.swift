#if canImport(Glibc)
    import Glibc
#endif

/// Two libc functions the tools define for libpaho, whose calls bind to an executable's definitions ahead of
/// libc's (Package.swift exports them). Each changes one exact wait of Paho 1.3's MQTTAsync and passes
/// everything else through; the C floor programs in scripts/paho-floor show what Paho does without them.
///
/// Paho 1.3's receive thread sleeps 100 ms (`usleep(100000)`) whenever it finds no socket ready. At start it
/// often looks before the send thread has created the connection's socket, and a one-shot publish then takes
/// 120 ms instead of 20 (in 40-60% of runs here; upstream pull request eclipse-paho/paho.mqtt.c#1458 tried
/// to shorten these waits). This `usleep` cuts exactly those 100 ms sleeps to 2 ms; any other duration
/// sleeps as asked.
@_cdecl("usleep")
public func pahoAwareUsleep(_ microseconds: UInt32) -> Int32 {
    let wanted = microseconds == 100_000 ? 2_000 : microseconds
    var request = timespec(tv_sec: Int(wanted / 1_000_000), tv_nsec: Int(wanted % 1_000_000) * 1_000)
    var remaining = timespec()
    while nanosleep(&request, &remaining) != 0 {
        guard errno == EINTR else { return -1 }
        // usleep returns on a signal; keep Paho's polling loop simple and just finish the sleep.
        request = remaining
    }
    return 0
}

/// Paho's receive thread sends CONNECT only after its first poll() for incoming data returns, and that poll
/// waits 10 ms (a TCP connect on loopback is done long before; nothing can arrive until CONNECT is sent).
/// The same `poll` for the process, cutting exactly that 10 ms wait to 1 ms; every other timeout as asked.
@_cdecl("poll")
public func pahoAwarePoll(_ fds: UnsafeMutablePointer<pollfd>?, _ count: nfds_t, _ timeout: Int32) -> Int32 {
    libcPoll(fds, count, timeout == 10 ? 1 : timeout)
}

private typealias PollFunction = @convention(c) (UnsafeMutablePointer<pollfd>?, nfds_t, Int32) -> Int32

/// libc's own poll, found past this executable's (RTLD_NEXT).
private let libcPoll: PollFunction = {
    let next = UnsafeMutableRawPointer(bitPattern: -1)  // RTLD_NEXT
    guard let symbol = dlsym(next, "poll") else { fatalError("libc's poll not found") }
    return unsafeBitCast(symbol, to: PollFunction.self)
}()
