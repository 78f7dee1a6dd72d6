import ChatProtocol
import Testing

@Suite("state journal: what to write back after a broker lost state")
struct StateJournalTests {
    private let early = ChatTimestamp(millisecondsSince1970: 1_000)
    private let late = ChatTimestamp(millisecondsSince1970: 2_000)
    private let joined = ChatState.membership(joined: true)

    @Test("missing on the broker: written back; cleared in the journal and missing: nothing to do")
    func missing() {
        let entry = StateJournal.entry(joined, at: late)
        let restored = StateJournal.restorations(
            journal: ["chat/users/bob/rooms/rust": entry, "chat/users/bob/rooms/go": StateJournal.entry([], at: late)],
            broker: [:]
        )
        #expect(restored.map(\.0) == ["chat/users/bob/rooms/rust"])
        #expect(restored.first?.1 == ChatState.stamped(joined, at: late))
        #expect(String(decoding: entry, as: UTF8.self) == #"{"at":"1970-01-01T00:00:02.000Z","state":"joined"}"#)
    }

    @Test("an older value on the broker loses to the journal (a removal is written back as an empty payload)")
    func older() {
        let topic = "chat/users/bob/rooms/rust"
        let broker = [topic: ChatState.stamped(joined, at: early)]
        #expect(
            StateJournal.restorations(journal: [topic: StateJournal.entry([], at: late)], broker: broker).map(\.1) == [
                []
            ]
        )
        // A value without a time (an older version wrote it) is older than any journal entry.
        let restored = StateJournal.restorations(
            journal: [topic: StateJournal.entry(joined, at: early)],
            broker: [topic: joined]
        )
        #expect(restored.count == 1)
    }

    @Test("a value on the broker as recent as the journal, or newer (written on another machine), stands")
    func newerStands() {
        let topic = "chat/users/bob/private/contacts/dave"
        let blocked = ChatState.contact(.blocked)
        for held in [early, late] {
            let broker = [topic: ChatState.stamped(blocked, at: late)]
            let journal = [topic: StateJournal.entry(ChatState.contact(.accepted), at: held)]
            #expect(StateJournal.restorations(journal: journal, broker: broker).isEmpty)
        }
        // Garbage in the journal is never written.
        #expect(StateJournal.restorations(journal: [topic: Array("junk".utf8)], broker: [:]).isEmpty)
    }
}
