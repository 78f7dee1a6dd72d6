import ChatProtocol
import Synchronization
import Testing

@testable import MQTTPaho

#if canImport(Glibc)
    import Glibc
#endif

/// A Paho handle that outlives its client: one set aside by `replaceHandle`, or one Paho damaged, which
/// `PahoConnection.deinit` leaves alive. Such a handle may still answer a request after the client is gone;
/// its context must still be there. Each case leaves a connect waiting on a broker that never answers, drops
/// the client, then makes Paho answer by closing that connection.
@Suite("a Paho handle left alive after its client", .timeLimit(.minutes(1)))
struct PahoTeardownTests {
    enum Left: String, CaseIterable {
        case setAside, damaged
    }

    @Test("its late answer finds the request's context alive", arguments: Left.allCases)
    func lateAnswer(left: Left) async throws {
        let broker = try SilentBroker()
        defer { broker.close() }
        let core = Self.makeCore()
        var configuration = MQTTConfiguration(host: "127.0.0.1", port: broker.port, clientID: "left-\(left)")
        var connection: PahoConnection? = try PahoConnection(configuration: configuration, core: core)
        let outcome = Mutex<MQTTError.Code?>(nil)
        // Paho's own connect timeout stays out of the way: the broker decides when Paho answers.
        let connect = try #require(connection).connect(version: .v5, cleanStart: true, timeout: .seconds(60)) {
            result in
            if case .failure(let error) = result { outcome.withLock { $0 = error.code } }
        }
        // CONNECT arrived: Paho now waits for a CONNACK with the request's context in hand.
        #expect(await BlockingCall.run { broker.acceptAndRead() } > 0)
        switch left {
        case .setAside:
            try #require(connection).replaceHandle()
        case .damaged:
            // As Paho reports a QoS 1 publish whose write broke (see ClientCore.damagesHandle).
            let (publish, _) = core.register(.publish(.atLeastOnce)) { _ in }
            core.complete(publish, with: .failure(MQTTError(.failure, "TCP/TLS connect failure")))
        }
        // The client gives up (as a cancelled connect does) and goes.
        core.settle(id: connect, with: MQTTError(.cancelled, "The request was cancelled."))
        #expect(outcome.withLock { $0 } == .cancelled)
        connection = nil
        #expect(core.pendingContexts == 1, "the connect's context, which the handle left alive may still call")

        // The broker hangs up; Paho closes its socket, then answers the connect, both under its lock.
        #expect(await BlockingCall.run { broker.hangUpAndWaitForClose() })
        configuration.clientID += "-probe"
        let probe = try PahoConnection(configuration: configuration, core: Self.makeCore())
        _ = probe.isConnected  // takes Paho's lock: the answer has returned
        #expect(core.pendingContexts == 0, "Paho's late answer reached the context and settled it")
    }

    private static func makeCore() -> ClientCore {
        ClientCore(
            version: .v5,
            messages: AsyncThrowingStream<MQTTMessage, any Error>.makeStream().continuation,
            onMessage: nil,
            events: AsyncStream<MQTTConnectionEvent>.makeStream().continuation,
            losses: AsyncStream<Void>.makeStream().continuation
        )
    }
}

/// A TCP server on 127.0.0.1 that accepts one connection and never answers it.
final class SilentBroker: Sendable {
    let port: Int
    private let listening: Int32
    private let accepted = Mutex<Int32>(-1)

    init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = loopbackAddress(port: 0)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
                bind(fd, pointer, length) == 0 && getsockname(fd, pointer, &length) == 0
            }
        }
        guard bound, listen(fd, 1) == 0 else {
            Glibc.close(fd)
            throw TestFailure("could not listen on 127.0.0.1")
        }
        listening = fd
        port = Int(UInt16(bigEndian: address.sin_port))
    }

    /// Accepts the connection and reads what the client sends first; returns how many bytes (at most 10 s).
    func acceptAndRead() -> Int {
        let fd = accept(listening, nil, nil)
        guard fd >= 0 else { return -1 }
        var limit = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
        accepted.withLock { $0 = fd }
        var buffer = [UInt8](repeating: 0, count: 256)
        return read(fd, &buffer, buffer.count)
    }

    /// Ends the broker's side and waits (at most 10 s) until the client has closed its own.
    func hangUpAndWaitForClose() -> Bool {
        let fd = accepted.withLock { $0 }
        guard fd >= 0, shutdown(fd, Int32(SHUT_WR)) == 0 else { return false }
        var buffer = [UInt8](repeating: 0, count: 256)
        while true {
            let count = read(fd, &buffer, buffer.count)
            if count == 0 { return true }
            if count < 0 && errno != EINTR { return false }
        }
    }

    func close() {
        accepted.withLock { if $0 >= 0 { Glibc.close($0) } }
        Glibc.close(listening)
    }
}
