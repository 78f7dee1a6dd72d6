#if canImport(Glibc)
    import Glibc
#endif

/// Runs calls that block (`getaddrinfo`, a read, a semaphore wait) on threads of their own, never on Swift's
/// cooperative pool: the pool has one thread per core, and each call parked there stalls every task queued
/// behind it (the reconnect loop, a signal's handling), for as long as the call takes: a resolver's timeout
/// is seconds. swift-kafka-client's `BlockingCall` says the same for librdkafka's blocking calls.
public enum BlockingCall {
    /// Runs `body` on a thread of its own and returns its result; the calling task is suspended meanwhile.
    public static func run<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            startThread { continuation.resume(returning: body()) }
        }
    }

    /// Starts a plain detached pthread running `body`, also for a call that blocks for the life of the process
    /// (Foundation's `Thread` would cost every start-up the loading of Foundation and ICU).
    public static func startThread(_ body: @escaping @Sendable () -> Void) {
        let box = Unmanaged.passRetained(ThreadBody(body)).toOpaque()
        var thread = pthread_t()
        let started = pthread_create(
            &thread,
            nil,
            { raw in
                let body = Unmanaged<ThreadBody>.fromOpaque(raw!).takeRetainedValue()
                body.run()
                return nil
            },
            box
        )
        if started == 0 {
            pthread_detach(thread)
        } else {
            Unmanaged<ThreadBody>.fromOpaque(box).release()
        }
    }
}

/// The closure a detached pthread runs; retained across pthread_create's untyped argument.
private final class ThreadBody: Sendable {
    let run: @Sendable () -> Void
    init(_ run: @escaping @Sendable () -> Void) { self.run = run }
}
