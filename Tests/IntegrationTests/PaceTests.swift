import ChatProtocol
import Foundation
import Testing

@Suite("the publisher's pace on any broker", .serialized, .timeLimit(.minutes(3)))
struct PaceTests {
    /// A broker that leaves Nagle's algorithm on (mosquitto without `set_tcp_nodelay`, as the tests' own
    /// broker) answers a burst of publishes with one acknowledgement and holds the rest until the client's
    /// next packet or its delayed ACK, 40 ms later. The proxy holds them the same way and lets them go after
    /// 200 ms instead, counting each time the publisher waited for that with lines still to send: it did at
    /// 6-9 of the 20 refills of its window here before issue 25 (docs/performance.md).
    @Test(
        "piped lines never wait for the broker's held acknowledgements",
        arguments: [MQTTQoS.atLeastOnce, .exactlyOnce]
    )
    func noDelayedAckStalls(qos: MQTTQoS) async throws {
        let broker = try Mosquitto()
        let proxy = try TCPProxy(upstreamPort: broker.port, nagle: true)
        defer { proxy.stop() }
        try await pipe((0..<400).map { String(format: "line-%05d", $0) }, at: qos, through: proxy, to: broker)
        #expect(proxy.delayedAckStalls == 0)
    }

    /// A broker that reads slower than the publisher writes fills the publisher's socket, and Paho 1.3.12 keeps
    /// the rest of that write pending; it finishes it only when its receive thread's wait for something to read
    /// ends, up to 1.1 s later, and at QoS 0 nothing comes to read. The proxy stops reading six times until the
    /// publisher's socket is full, then reads again, and counts the times the publisher stayed silent for
    /// `TCPProxy.writeStall` and then went on publishing: 2 in each of three runs before the tools' `poll` waited
    /// for such a socket too (PahoWaits.swift, docs/performance.md), 0 after.
    @Test("a pipe at QoS 0 goes on as soon as a slow broker reads again")
    func noPendingWriteStalls() async throws {
        let broker = try Mosquitto()
        let proxy = try TCPProxy(upstreamPort: broker.port, slowReader: true)
        defer { proxy.stop() }
        let sent = (0..<20000).map { String(format: "line-%05d the quick brown fox jumps over the lazy dog", $0) }
        try await pipe(sent, at: .atMostOnce, through: proxy, to: broker)
        #expect(proxy.writeStalls == 0)
    }

    /// A piped line passes from the publisher's reader to Paho's send thread and, at QoS 1, to Paho's receive
    /// thread for the acknowledgement; spread over CPUs, every hand-over was a cross-CPU wake-up (60,000 lines at
    /// QoS 1: 1.78 s there, 1.05 s on one CPU; docs/performance.md). So once it reads a pipe, every thread of
    /// the publisher runs on one CPU, one the test process may use. Before, each could run on any of them.
    @Test("a piping publisher keeps all its threads on one CPU")
    func pipeOnOneCPU() async throws {
        let allowed = try cpus(of: "/proc/self/status")
        let broker = try Mosquitto()
        let topic = uniqueTopic()
        let listener = try await broker.startListener(as: "bob", ["-t", topic, "-q", "1", "--format", "json"])
        defer { listener.signal(SIGTERM) }
        let publisher = try broker.start(.publisher, as: "alice", ["-t", topic, "-q", "1"])
        publisher.write("first\n")
        // Delivered, so the publisher's pipe loop has begun (it confines the threads before its first read).
        #expect(await listener.waitForOutput(#""message":"first""#))
        let tasks = try FileManager.default.contentsOfDirectory(atPath: "/proc/\(publisher.pid)/task")
        let placements = try tasks.map { try cpus(of: "/proc/\(publisher.pid)/task/\($0)/status") }
        #expect(tasks.count >= 3, "the reader and Paho's two threads at least: \(tasks)")
        #expect(Set(placements).count == 1, "\(placements)")
        #expect(placements.first?.count == 1, "\(placements)")
        #expect(placements.first?.isSubset(of: allowed) == true, "\(placements) within \(allowed)")
        publisher.closeInput()
        #expect(try await publisher.wait() == 0, "publisher: \(publisher.stderr)")
    }

    /// The CPUs a task may run on, from `Cpus_allowed_list` in its status file ("0-3,6").
    private func cpus(of status: String) throws -> Set<Int> {
        let text = try String(contentsOfFile: status, encoding: .utf8)
        guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix("Cpus_allowed_list:") }) else {
            throw TestFailure("no Cpus_allowed_list in \(status)")
        }
        var set = Set<Int>()
        let list = line.dropFirst("Cpus_allowed_list:".count).trimmingCharacters(in: .whitespaces)
        for range in list.split(separator: ",") {
            let bounds = range.split(separator: "-").compactMap { Int($0) }
            guard let low = bounds.first, let high = bounds.last else { throw TestFailure("bad list: \(line)") }
            set.formUnion(low...high)
        }
        return set
    }

    /// Pipes `sent` into a publisher connected through `proxy`, and checks that both tools succeed and that a
    /// listener on the broker received every line, in order.
    private func pipe(_ sent: [String], at qos: MQTTQoS, through proxy: TCPProxy, to broker: Mosquitto) async throws {
        let topic = uniqueTopic()
        let listener = try await broker.startListener(
            as: "bob",
            ["-t", topic, "-q", "2", "-C", String(sent.count), "--format", "json"]
        )
        let publisher = try ChildProcess(
            Tool.publisher.path,
            broker.flags("alice", via: proxy) + ["-t", topic, "-q", String(qos.rawValue)]
        )
        publisher.write(sent.joined(separator: "\n") + "\n")
        publisher.closeInput()
        #expect(try await publisher.wait() == 0, "publisher: \(publisher.stderr)")
        #expect(try await listener.wait() == 0)
        #expect(try jsonLines(listener.stdout).compactMap { $0["message"] as? String } == sent)
    }
}
