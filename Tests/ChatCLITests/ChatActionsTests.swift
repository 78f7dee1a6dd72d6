import ChatCLI
import ChatProtocol
import Foundation
import Synchronization
import Testing

/// An MQTT transport in memory: records what the chat layer publishes (unit tests only; the integration
/// tests run the same code over Paho against a real mosquitto).
final class RecordingTransport: MQTTTransport {
    struct Publish: Equatable {
        var topic: String
        var payload: [UInt8]
        var qos: MQTTQoS
        var retain: Bool
        var expiry: UInt32?
    }
    let configuration: MQTTConfiguration
    private let recorded = Mutex<[Publish]>([])
    var publishes: [Publish] { recorded.withLock { $0 } }

    init(_ configuration: MQTTConfiguration) {
        self.configuration = configuration
    }

    func publish(topic: String, payload: [UInt8], qos: MQTTQoS, retain: Bool, expiry: UInt32?) async throws(MQTTError) {
        recorded.withLock {
            $0.append(Publish(topic: topic, payload: payload, qos: qos, retain: retain, expiry: expiry))
        }
    }

    func startPublish(
        topic: String,
        payload: [UInt8],
        qos: MQTTQoS,
        retain: Bool,
        completion: @escaping @Sendable (Result<Void, MQTTError>) -> Void
    ) {
        recorded.withLock { $0.append(Publish(topic: topic, payload: payload, qos: qos, retain: retain, expiry: nil)) }
        completion(.success(()))
    }

    func subscribe(_ subscriptions: [MQTTSubscription]) async throws(MQTTError) -> [MQTTQoS] {
        subscriptions.map(\.qos)
    }

    func unsubscribe(_ filters: [String]) async throws(MQTTError) {}
}

@Suite("chat actions over a transport: what goes on the wire, and the journal")
struct ChatActionsTests {
    private func configuration(keepAlive: Int = 60) -> MQTTConfiguration {
        var configuration = MQTTConfiguration(host: "broker.test", port: 1883, clientID: "bob-test")
        configuration.keepAlive = keepAlive
        return configuration
    }

    @Test("state is stamped with its time, retained at QoS 1, and noted in the journal; messages are QoS 2")
    func stateStampedAndJournaled() async throws {
        let state = FileManager.default.temporaryDirectory.appendingPathComponent("journal-\(UUID().uuidString)")
        setenv("XDG_STATE_HOME", state.path, 1)
        defer { try? FileManager.default.removeItem(at: state) }
        let transport = RecordingTransport(configuration())
        let layout = ChatLayout()
        let actions = ChatActions(client: transport, layout: layout, me: "bob")
        let topic = layout.contact(of: "bob", for: "carol")
        try await actions.perform([
            layout.contactPublish(of: "bob", for: "carol", .blocked),
            .message(layout.inbox(of: "carol", from: "bob"), .message(from: "bob", "hi")),
        ])
        let sent = transport.publishes
        #expect(sent.map(\.topic) == [topic, layout.inbox(of: "carol", from: "bob")])
        #expect(sent.map(\.qos) == [.atLeastOnce, .exactlyOnce])
        #expect(sent.map(\.retain) == [true, false])
        let members = ChatState.members(sent[0].payload)
        #expect(members?["status"] == "blocked")
        #expect(members?["at"] != nil)
        // The journal holds exactly what went out, so a broker that lost it gets the same bytes back.
        let journal = StateJournalFile(transport.configuration, user: "bob").load()
        #expect(journal == [topic: sent[0].payload])
    }

    @Test("presence lasts two keepalives unless renewed; without keepalive it has no expiry")
    func presenceExpiry() async throws {
        for (keepAlive, expiry) in [(60, UInt32(120)), (0, nil)] {
            let transport = RecordingTransport(configuration(keepAlive: keepAlive))
            let presence = Presence(client: transport, layout: ChatLayout(), me: "bob", tool: "listener")
            try await presence.announce()
            #expect(transport.publishes.map(\.topic) == ["chat/users/bob/online/bob-test"])
            #expect(transport.publishes.first?.expiry == expiry)
            #expect(transport.publishes.first?.retain == true)
        }
    }
}
