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
        let topic = uniqueTopic()
        let sent = (0..<400).map { String(format: "line-%05d", $0) }
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
        #expect(proxy.delayedAckStalls == 0)
    }
}
