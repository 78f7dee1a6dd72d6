import ChatCLI
import ChatProtocol
import MQTTPaho
import Synchronization

/// mosquitto's acl_file never refuses a SUBSCRIBE: it grants it and silently drops what the user may not
/// read. So an interactive listener announces itself on each topic and watches for its own notice; if it
/// does not come back, the user is told in plain words instead of waiting for messages that never come.
final class JoinCheck: Sendable {
    private let client: any MQTTTransport
    private let user: String
    private let topics: [String]
    /// The exact payload sent per topic, and whether it came back.
    private let sent = Mutex<[String: (payload: [UInt8], seen: Bool)]>([:])

    static let patience: Duration = .seconds(3)

    init(client: any MQTTTransport, user: String, topics: [String]) {
        self.client = client
        self.user = user
        // Wildcard filters cannot be published to; there is nothing to check there.
        self.topics = topics.filter { !$0.contains("+") && !$0.contains("#") }
    }

    func announce(tool: String) async {
        for topic in topics {
            // The send time makes the payload unique, so it is recognisable when it comes back.
            let payload = ChatMessage.notice(from: user, "\(user) is listening", time: .now()).encoded()
            sent.withLock { $0[topic] = (payload, false) }
            do {
                try await client.publish(topic: topic, payload: payload, qos: .atLeastOnce)
            } catch  where error.code == .notAuthorized {
                sent.withLock { _ = $0.removeValue(forKey: topic) }
                report(tool, "note: \(user) may not post on \(topic), so it could not check that it can read it.")
            } catch {
                sent.withLock { _ = $0.removeValue(forKey: topic) }
            }
        }
        try? await Task.sleep(for: Self.patience)
        let missing = sent.withLock { $0.filter { !$0.value.seen }.keys.sorted() }
        for topic in missing {
            report(
                tool,
                "warning: your own join notice on \(topic) did not come back; the broker may not let \(user) read "
                    + "\(topic) (mosquitto's ACL drops such messages without telling)."
            )
        }
    }

    func noteArrival(of message: MQTTMessage) {
        sent.withLock { sent in
            if let entry = sent[message.topic], !entry.seen, entry.payload == message.payload {
                sent[message.topic]?.seen = true
            }
        }
    }
}
