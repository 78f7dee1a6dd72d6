import ChatProtocol
import Testing

@Suite("listener model: lines, repeats, the count, without output")
struct ListenerModelTests {
    private let layout = ChatLayout()
    private let received = ChatTimestamp(millisecondsSince1970: 0)

    /// The output without its `HH:MM:SS ` prefix (local time).
    private func text(_ output: ListenerModel.Output) -> String {
        String(decoding: output.bytes.dropFirst(9), as: UTF8.self)
    }

    @Test("raw topics: one line per message; -C stops after the count, notices never count")
    func rawCount() {
        var model = ListenerModel(router: nil, renderer: ChatLineRenderer(), count: 2)
        let hello = MQTTMessage(topic: "chat", payload: Array("hello".utf8), qos: .atLeastOnce)
        #expect(text(model.receive(hello, now: received)) == "[raw] hello\n")
        #expect(model.finished == false)
        #expect(model.receive(hello, now: received).chatLines == 1)
        #expect(model.finished)
        #expect(model.receive(hello, now: received).bytes.isEmpty)
        #expect(model.shown == 2)
    }

    @Test("the layout: held until the snapshot, then shown with the actions; a QoS 2 repeat is dropped")
    func layoutSnapshotAndRepeats() {
        let router = ChatRouter(layout: layout, me: "alice", client: "c1", follow: .joined, verified: true)
        var model = ListenerModel(router: router, renderer: ChatLineRenderer(), count: nil)
        let post = MQTTMessage(
            topic: "chat/rooms/general/bob",
            payload: ChatMessage.message(from: "bob", "hi", time: received).encoded(),
            qos: .exactlyOnce
        )
        #expect(model.receive(post, now: received).bytes.isEmpty)
        let synced = model.receive(
            MQTTMessage(topic: layout.sync(of: "alice", client: "c1"), payload: [], qos: .atLeastOnce),
            now: received
        )
        #expect(synced.actions == [.synced])
        #expect(text(synced) == "<bob> hi\n")
        #expect(model.receive(post, now: received).bytes.isEmpty)  // the same bytes again: a repeat
        let lapsed = model.update(now: received) { ($0.expirePresence(now: received), []) }
        #expect(lapsed.bytes.isEmpty)
    }
}
