import ChatProtocol
import Dispatch

#if canImport(Glibc)
    import Glibc
#endif

/// A resolver that takes as long as a test wants, for one host, in this test process only.
///
/// The test executable's own `getaddrinfo` (below) binds ahead of libc's, as the tools' `usleep` and `poll` do
/// for libpaho (Sources/MQTTPaho/PahoWaits.swift). While `hold(_:)` is in force, each call asking for that host
/// waits until `release()` (at most `bound`), then gets libc's answer: an offline resolver's timeout, on
/// loopback and bounded. Calls for any other host go straight to libc, and so do Paho's own: libpaho, loaded at
/// run time, binds to libc's (this executable does not export its definition), and the check on its thread
/// names keeps its threads, which serve every client of the process, from ever waiting here. The count of
/// calls waiting at once shows where they wait: on Swift's cooperative pool, no more than it has threads.
final class SlowResolver: @unchecked Sendable {
    static let shared = SlowResolver()

    private let lock = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let changed = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    // Guarded by `lock`.
    private var host: String?
    private var released = true
    private var waiting = 0
    private var deadline = timespec()

    private init() {
        pthread_mutex_init(lock, nil)
        pthread_cond_init(changed, nil)
    }

    /// From now on, resolving `host` waits for `release()`, at most `bound` after this call.
    func hold(_ host: String, bound: Duration) {
        locked {
            self.host = host
            released = false
            deadline = Self.realtime(after: bound)
        }
    }

    /// Lets every waiting call, and every later one, through.
    func release() {
        locked {
            released = true
            host = nil
        }
        pthread_cond_broadcast(changed)
    }

    /// How many calls wait now.
    var waitingCount: Int { locked { waiting } }

    /// Waits (on the calling thread) until `count` calls wait at once or `bound` passes; returns how many wait.
    func waitUntil(waiting count: Int, within bound: Duration) -> Int {
        let until = Self.realtime(after: bound)
        return locked {
            var limit = until
            while waiting < count && pthread_cond_timedwait(changed, lock, &limit) == 0 {}
            return waiting
        }
    }

    fileprivate func delay(_ node: String) {
        guard !Self.onPahoThread else { return }
        locked {
            guard !released, node == host else { return }
            waiting += 1
            pthread_cond_broadcast(changed)
            var limit = deadline
            while !released && pthread_cond_timedwait(changed, lock, &limit) == 0 {}
            waiting -= 1
        }
    }

    private func locked<T>(_ body: () -> T) -> T {
        pthread_mutex_lock(lock)
        defer { pthread_mutex_unlock(lock) }
        return body()
    }

    /// Paho names its threads MQTTAsync_send and MQTTAsync_rcv.
    private static var onPahoThread: Bool {
        let fd = open("/proc/thread-self/comm", O_RDONLY)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var name = [UInt8](repeating: 0, count: 16)
        let count = read(fd, &name, name.count)
        return count > 0 && String(decoding: name.prefix(count), as: UTF8.self).hasPrefix("MQTTAsync")
    }

    private static func realtime(after duration: Duration) -> timespec {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        let (seconds, attoseconds) = duration.components
        let nanoseconds = Int(attoseconds / 1_000_000_000) + now.tv_nsec
        return timespec(
            tv_sec: now.tv_sec + Int(seconds) + nanoseconds / 1_000_000_000,
            tv_nsec: nanoseconds % 1_000_000_000
        )
    }
}

private typealias GetAddrInfo =
    @convention(c) (
        UnsafePointer<CChar>?, UnsafePointer<CChar>?, UnsafePointer<addrinfo>?,
        UnsafeMutablePointer<UnsafeMutablePointer<addrinfo>?>?
    ) -> Int32

/// libc's getaddrinfo, the next definition after this executable's.
private let libcGetAddrInfo = unsafeBitCast(
    dlsym(UnsafeMutableRawPointer(bitPattern: -1), "getaddrinfo"),  // RTLD_NEXT
    to: GetAddrInfo.self
)

@_cdecl("getaddrinfo")
func slowResolverGetAddrInfo(
    _ node: UnsafePointer<CChar>?,
    _ service: UnsafePointer<CChar>?,
    _ hints: UnsafePointer<addrinfo>?,
    _ result: UnsafeMutablePointer<UnsafeMutablePointer<addrinfo>?>?
) -> Int32 {
    if let node { SlowResolver.shared.delay(String(cString: node)) }
    return libcGetAddrInfo(node, service, hints, result)
}
