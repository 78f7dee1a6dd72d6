import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A loopback TCP proxy between clients and the broker, for injecting faults: it can cut every connection,
/// refuse new ones for a while, answer an MQTT 5 CONNECT the way a 3.1.1-only broker does, refuse every
/// subscription (as a broker whose ACL checks SUBSCRIBE does; mosquitto never refuses one), close the
/// connection on a PUBLISH to one topic (how a 3.1.1 broker such as RabbitMQ refuses a publish), hold the
/// broker's packets back as Nagle's algorithm does (`nagle`), or stop reading the client's bytes for a while,
/// as a broker that falls behind does (`slowReader`).
final class TCPProxy: @unchecked Sendable {
    /// What the proxy does with an MQTT 5 CONNECT (3.1.1 ones always pass to the broker).
    enum MQTT5Answer {
        /// Pass it on: the broker speaks 5.
        case pass
        /// CONNACK "unacceptable protocol version", then close (mosquitto 1.x, most 3.1.1 brokers).
        case refuse
        /// Close the connection without a word (RabbitMQ 3.10 with rabbitmq_mqtt).
        case close
        /// Keep the connection open and never answer (amqtt 0.12 when the CONNECT has properties).
        case ignore
    }

    let port: Int
    private let upstreamPort: Int
    private let mqtt5: MQTT5Answer
    private let refuseSubscriptions: Bool
    private let closeOnPublishTo: String?
    private let nagle: Bool
    private let slowReader: Bool
    private let listenFD: Int32
    private let lock = NSLock()
    private var connections: [Pair] = []
    private var refusing = false
    private var stopped = false
    private var stalls = 0
    private var refusedCount = 0
    private var writeStallCount = 0
    private var clientPublishCount = 0
    private var brokerPubackCount = 0
    private var clientPubackCount = 0

    /// How many connections were refused (accepted and closed at once) while `setRefusing(true)` held.
    var refusals: Int { lock.withLock { refusedCount } }

    /// With `nagle`, how long held packets wait for the client before they go anyway: the client's delayed
    /// ACK, at the longest Linux waits (its shortest is 40 ms), so that a client that waits for it is counted
    /// by `delayedAckStalls` whatever the machine's speed.
    static let delayedAck = Duration.milliseconds(200)

    /// With `nagle`: how often the client sent nothing until the delayed ACK let the held packets go, and then
    /// went on publishing (an idle interval in the middle of its stream; the end of a stream is not counted).
    var delayedAckStalls: Int { lock.withLock { stalls } }

    /// With `slowReader`: how many times the proxy stops reading the client, each time after this much.
    static let slowReaderPauses = 6
    static let slowReaderPauseEvery = 192 * 1024
    /// With `slowReader`, how long a client may be silent once the proxy reads again before it counts as a
    /// stall: far longer than a client that writes as soon as its socket has room takes, shorter than most of
    /// the up to 1.1 s a client waits that notices the room only when its next wait for reading ends.
    static let writeStall = Duration.milliseconds(300)

    /// With `slowReader`: how often the client, after the proxy had paused, sent nothing for `writeStall` and
    /// then went on publishing (silences at the end of its stream are not counted).
    var writeStalls: Int { lock.withLock { writeStallCount } }

    /// How many PUBLISH packets clients sent through the proxy (not counted with `closeOnPublishTo`): a publish
    /// the client sent is one it counts as not yet delivered until the broker answers.
    var clientPublishes: Int { lock.withLock { clientPublishCount } }

    /// How many PUBACK packets the broker sent through the proxy (not counted with `refuseSubscriptions` or `nagle`),
    /// counted once they are written to the client's socket: what the proxy sends the client after that, the
    /// client reads after them.
    var brokerPubacks: Int { lock.withLock { brokerPubackCount } }

    /// How many PUBACK packets clients sent through the proxy (not counted with `closeOnPublishTo`), counted once
    /// they are written to the broker's socket.
    var clientPubacks: Int { lock.withLock { clientPubackCount } }

    init(
        upstreamPort: Int,
        mqtt5: MQTT5Answer = .pass,
        refuseSubscriptions: Bool = false,
        closeOnPublishTo: String? = nil,
        nagle: Bool = false,
        slowReader: Bool = false
    ) throws {
        self.upstreamPort = upstreamPort
        self.mqtt5 = mqtt5
        self.refuseSubscriptions = refuseSubscriptions
        self.closeOnPublishTo = closeOnPublishTo
        self.nagle = nagle
        self.slowReader = slowReader
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        listenFD = fd
        var yes: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        if slowReader {
            // Small buffers, so that the client's socket is full soon after the proxy stops reading, and
            // segments as on a network (loopback's 64 KiB segments would not fit such a window, and the
            // client's kernel would then wait for its 200 ms window probes).
            var size: Int32 = 16 * 1024
            var segment: Int32 = 1400
            setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
            setsockopt(fd, Int32(IPPROTO_TCP), TCP_MAXSEG, &segment, socklen_t(MemoryLayout<Int32>.size))
        }
        var address = loopbackAddress(port: 0)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, length) == 0 && listen(fd, 64) == 0 && getsockname(fd, $0, &length) == 0
            }
        }
        guard ok else { throw TestFailure("proxy could not listen") }
        port = Int(UInt16(bigEndian: address.sin_port))
        let thread = Thread { [self] in acceptLoop() }
        thread.start()
    }

    /// One proxied connection: the client's socket and ours to the broker. Both are shut down and closed
    /// exactly once, under the pair's lock, when both directions have ended: a file descriptor closed
    /// early can be reused at once by another test in this process, and a late shutdown() would then cut
    /// someone else's socket or pipe.
    final class Pair: @unchecked Sendable {
        let client: Int32
        let upstream: Int32
        private let lock = NSLock()
        private var running = 2
        private var closed = false
        /// The protocol level of the client's CONNECT (4 or 5), once seen.
        private var level: UInt8 = 4
        /// Nagle's state towards the client: since when a packet it has not answered was sent, what waits
        /// behind it, and whether the last wait ended by the delayed ACK.
        private var unansweredSince: ContinuousClock.Instant?
        private var held: [UInt8] = []
        private var releasedByDelayedAck = false

        var protocolLevel: UInt8 {
            get { lock.withLock { level } }
            set { lock.withLock { level = newValue } }
        }

        init(client: Int32, upstream: Int32) {
            self.client = client
            self.upstream = upstream
        }

        /// Writes `bytes` to the client, unless the pair is closed (its descriptor may be someone else's now).
        func sendToClient(_ bytes: [UInt8]) {
            lock.lock()
            defer { lock.unlock() }
            guard !closed else { return }
            _ = write(client, bytes, bytes.count)
        }

        /// Nagle's rule for the broker's bytes: sent at once when nothing sent is unanswered, held otherwise.
        func forwardToClient(_ bytes: [UInt8]) {
            lock.lock()
            defer { lock.unlock() }
            guard !closed else { return }
            if unansweredSince == nil {
                unansweredSince = .now
                TCPProxy.writeAll(bytes, to: client)
            } else {
                held += bytes
            }
        }

        /// The client sent a packet, which answers (acknowledges) what it was sent: what was held goes now.
        /// True when it is a PUBLISH that only the delayed ACK let through.
        func clientSent(publishing: Bool) -> Bool {
            lock.lock()
            defer { lock.unlock() }
            let stalled = publishing && releasedByDelayedAck
            if publishing { releasedByDelayedAck = false }
            unansweredSince = nil
            if !held.isEmpty, !closed {
                unansweredSince = .now
                TCPProxy.writeAll(held, to: client)
                held = []
            }
            return stalled
        }

        /// How long held bytes may still wait for the client; nil when nothing is held.
        func heldFor(at most: Duration) -> Duration? {
            lock.withLock { held.isEmpty ? nil : max(.zero, most - (.now - (unansweredSince ?? .now))) }
        }

        /// The client's delayed ACK: the held bytes go without an answer from the client.
        func releaseByDelayedAck() {
            lock.lock()
            defer { lock.unlock() }
            guard !held.isEmpty, !closed else { return }
            releasedByDelayedAck = true
            unansweredSince = .now
            TCPProxy.writeAll(held, to: client)
            held = []
        }

        /// Stops both directions (the pumps then see end of file or an error).
        func shutDown() {
            lock.lock()
            defer { lock.unlock() }
            guard !closed else { return }
            shutdown(client, Int32(SHUT_RDWR))
            shutdown(upstream, Int32(SHUT_RDWR))
        }

        /// Called by each pump as it ends; the second one closes both sockets.
        func pumpEnded() {
            shutDown()
            lock.lock()
            defer { lock.unlock() }
            running -= 1
            guard running == 0, !closed else { return }
            closed = true
            close(client)
            close(upstream)
        }
    }

    /// Cuts every open connection at once, as a network failure would.
    func cut() {
        lock.lock()
        let open = connections
        connections.removeAll()
        lock.unlock()
        for pair in open { pair.shutDown() }
    }

    /// Sends every client an MQTT 5 DISCONNECT with `reason`, as the broker would, then cuts the connections.
    /// Call it while no packet is on its way to the clients: the pumps do not frame what they pass on.
    func disconnectClients(reason: UInt8) {
        lock.lock()
        let open = connections
        connections.removeAll()
        lock.unlock()
        for pair in open {
            pair.sendToClient([0xE0, 0x01, reason])
            pair.shutDown()
        }
    }

    /// While refusing, new connections are accepted and closed at once.
    func setRefusing(_ value: Bool) {
        lock.lock()
        refusing = value
        lock.unlock()
    }

    func stop() {
        lock.lock()
        let already = stopped
        stopped = true
        lock.unlock()
        // Once only: the accept thread closes the listening socket, and its number may be reused at once.
        guard !already else { return }
        // shutdown() wakes the accept thread, which closes the socket itself (see acceptLoop).
        shutdown(listenFD, Int32(SHUT_RDWR))
        cut()
    }

    private func acceptLoop() {
        while true {
            let client = accept(listenFD, nil, nil)
            if client < 0 {
                lock.lock()
                let done = stopped
                lock.unlock()
                if done {
                    close(listenFD)
                    return
                }
                continue
            }
            lock.lock()
            let refuse = refusing
            if refuse { refusedCount += 1 }
            lock.unlock()
            if refuse {
                close(client)
                continue
            }
            let upstream = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = loopbackAddress(port: upstreamPort)
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    Glibc.connect(upstream, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
                }
            }
            guard connected else {
                close(client)
                close(upstream)
                continue
            }
            if nagle {
                // Only the proxy's own rule holds packets back, not the kernel's on either socket.
                var one: Int32 = 1
                for fd in [client, upstream] {
                    setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
                }
            }
            let pair = Pair(client: client, upstream: upstream)
            lock.lock()
            connections.append(pair)
            lock.unlock()
            Thread { [self] in pump(pair, from: client, to: upstream, inspectConnect: true) }.start()
            Thread { [self] in pump(pair, from: upstream, to: client, rewriteSubacks: refuseSubscriptions) }.start()
        }
    }

    private func pump(
        _ pair: Pair,
        from source: Int32,
        to destination: Int32,
        inspectConnect: Bool = false,
        rewriteSubacks: Bool = false
    ) {
        var buffer = [UInt8](repeating: 0, count: 65_536)
        var first = inspectConnect
        var unframed: [UInt8] = []
        var pausesLeft = Self.slowReaderPauses
        var readSincePause = 0
        var silent = false
        pumping: while true {
            if slowReader, inspectConnect {
                if pausesLeft > 0, readSincePause >= Self.slowReaderPauseEvery {
                    pausesLeft -= 1
                    readSincePause = 0
                    Self.waitUntilFull(source)
                }
                if pausesLeft < Self.slowReaderPauses {
                    var ready = pollfd(fd: source, events: Int16(POLLIN), revents: 0)
                    if poll(&ready, 1, Self.milliseconds(Self.writeStall)) == 0 { silent = true }
                }
            }
            if nagle, !inspectConnect, let wait = pair.heldFor(at: Self.delayedAck) {
                var ready = pollfd(fd: source, events: Int16(POLLIN), revents: 0)
                if poll(&ready, 1, Self.milliseconds(wait)) == 0 {
                    pair.releaseByDelayedAck()
                    continue
                }
            }
            let count = read(source, &buffer, buffer.count)
            if count <= 0 { break }
            if first {
                first = false
                let level = Self.protocolLevel(ofConnect: buffer[0..<count])
                pair.protocolLevel = level ?? 4
                if level == 5 {
                    switch mqtt5 {
                    case .pass:
                        break
                    case .refuse:
                        // What a 3.1.1 broker says to a v5 CONNECT: CONNACK "unacceptable protocol version", then close.
                        let connack: [UInt8] = [0x20, 0x02, 0x00, 0x01]
                        _ = write(source, connack, connack.count)
                        break pumping
                    case .close:
                        break pumping
                    case .ignore:
                        // Reads (and drops) until the client gives up and closes.
                        while read(source, &buffer, buffer.count) > 0 {}
                        break pumping
                    }
                }
            }
            var output = Array(buffer[0..<count])
            var pubacks = 0
            if inspectConnect, let closeOnPublishTo {
                unframed += output
                output = []
                while let packet = Self.nextPacket(&unframed) {
                    if Self.publishTopic(packet) == closeOnPublishTo { break pumping }
                    output += packet
                }
            } else if rewriteSubacks {
                unframed += output
                output = Self.takePackets(&unframed, refusingSubscriptionsAt: pair.protocolLevel)
            } else if inspectConnect {
                unframed += output
                var publishes = 0
                while let packet = Self.nextPacket(&unframed) {
                    publishes += packet[0] & 0xF0 == 0x30 ? 1 : 0
                    pubacks += packet[0] & 0xF0 == 0x40 ? 1 : 0
                }
                if publishes > 0 { lock.withLock { clientPublishCount += publishes } }
                if nagle, pair.clientSent(publishing: publishes > 0) { lock.withLock { stalls += 1 } }
                if slowReader {
                    readSincePause += count
                    if silent, publishes > 0 {
                        silent = false
                        lock.withLock { writeStallCount += 1 }
                    }
                }
            } else {
                // The broker's packets, forwarded as they came; its acknowledgements counted.
                unframed += output
                while let packet = Self.nextPacket(&unframed) { pubacks += packet[0] & 0xF0 == 0x40 ? 1 : 0 }
                if nagle {
                    pair.forwardToClient(output)
                    continue
                }
            }
            guard Self.writeAll(output, to: destination) else { break }
            if pubacks > 0 {
                lock.withLock {
                    if inspectConnect { clientPubackCount += pubacks } else { brokerPubackCount += pubacks }
                }
            }
        }
        lock.lock()
        connections.removeAll { $0 === pair }
        lock.unlock()
        pair.pumpEnded()
    }

    /// A duration as poll's timeout.
    static func milliseconds(_ duration: Duration) -> Int32 {
        Int32(duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000)
    }

    /// Waits, not reading, until the client's bytes stop arriving: the proxy's receive buffer is full, and the
    /// client's own send buffer fills behind it.
    static func waitUntilFull(_ fd: Int32) {
        var peek = [UInt8](repeating: 0, count: 1 << 20)
        var queued = -1
        while true {
            var ready = pollfd(fd: -1, events: 0, revents: 0)
            _ = poll(&ready, 0, 50)
            let got = recv(fd, &peek, peek.count, Int32(MSG_PEEK | MSG_DONTWAIT))
            if got == 0 || max(got, 0) == queued { return }  // closed, or nothing more came
            queued = max(got, 0)
        }
    }

    /// Writes all of `bytes`; false when the descriptor would take no more.
    @discardableResult
    static func writeAll(_ bytes: [UInt8], to fd: Int32) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + offset, bytes.count - offset) }
            if written <= 0 { return false }
            offset += written
        }
        return true
    }

    /// Removes the whole packets at the start of `bytes` and returns them, every SUBACK's codes set to
    /// "refused": 0x87 (not authorized) under MQTT 5, 0x80 under 3.1.1.
    static func takePackets(_ bytes: inout [UInt8], refusingSubscriptionsAt level: UInt8) -> [UInt8] {
        var output: [UInt8] = []
        while var packet = nextPacket(&bytes), let (start, _) = remainingLength(packet) {
            if packet[0] == 0x90 {
                var codes = start + 2  // after the packet id
                if level == 5, let (propertiesStart, propertiesLength) = varInt(packet, at: codes) {
                    codes = propertiesStart + propertiesLength
                }
                for index in codes..<packet.count { packet[index] = level == 5 ? 0x87 : 0x80 }
            }
            output += packet
        }
        return output
    }

    /// Removes the first whole packet from `bytes`, if they hold one.
    static func nextPacket(_ bytes: inout [UInt8]) -> [UInt8]? {
        guard let (start, length) = remainingLength(bytes), bytes.count >= start + length else { return nil }
        defer { bytes.removeFirst(start + length) }
        return Array(bytes[0..<(start + length)])
    }

    /// The topic of a PUBLISH packet; nil for other packets.
    static func publishTopic(_ packet: [UInt8]) -> String? {
        guard packet[0] & 0xF0 == 0x30, let (start, _) = remainingLength(packet), packet.count >= start + 2 else {
            return nil
        }
        let length = Int(packet[start]) << 8 | Int(packet[start + 1])
        guard packet.count >= start + 2 + length else { return nil }
        return String(decoding: packet[(start + 2)..<(start + 2 + length)], as: UTF8.self)
    }

    /// Where a packet's variable header starts and how long the rest is, once the fixed header is complete.
    private static func remainingLength(_ bytes: [UInt8]) -> (start: Int, length: Int)? {
        guard !bytes.isEmpty, let (end, value) = varInt(bytes, at: 1) else { return nil }
        return (end, value)
    }

    /// An MQTT variable byte integer at `index`: where the bytes after it start, and its value.
    private static func varInt(_ bytes: [UInt8], at index: Int) -> (end: Int, value: Int)? {
        var value = 0
        var shift = 0
        var position = index
        while position < bytes.count {
            value |= Int(bytes[position] & 0x7F) << shift
            position += 1
            if bytes[position - 1] & 0x80 == 0 { return (position, value) }
            shift += 7
        }
        return nil
    }

    /// The protocol level byte of an MQTT CONNECT packet (4 = 3.1.1, 5 = 5), if the bytes start with one.
    static func protocolLevel(ofConnect bytes: ArraySlice<UInt8>) -> UInt8? {
        var index = bytes.startIndex
        guard index < bytes.endIndex, bytes[index] == 0x10 else { return nil }
        index += 1
        while index < bytes.endIndex, bytes[index] & 0x80 != 0 { index += 1 }
        index += 1 + 2 + 4  // end of the length, the name length, "MQTT"
        return index < bytes.endIndex ? bytes[index] : nil
    }
}
