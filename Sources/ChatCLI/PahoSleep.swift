#if canImport(Glibc)
import Glibc
#endif

/// Paho 1.3's receive thread sleeps 100 ms (`usleep(100000)`) whenever it finds no socket ready. At start it
/// often looks before the send thread has created the connection's socket, and a one-shot publish then takes
/// 120 ms instead of 20 (in 40-60% of runs here; eclipse-paho/paho.mqtt.c#1039). The tools define `usleep`,
/// which Paho's calls bind to ahead of libc's, and cut exactly those 100 ms sleeps to 2 ms; any other
/// duration sleeps as asked.
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
