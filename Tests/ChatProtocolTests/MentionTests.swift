import Testing

@testable import ChatProtocol

@Suite("mentions and the bell")
struct MentionTests {
    let noon = ChatTimestamp(millisecondsSince1970: 1_700_000_000_000)

    @Test(
        "a name or @name, any case, as a whole word",
        arguments: [
            ("bob", true), ("@bob", true), ("hi Bob!", true), ("BOB: look", true), ("bob's turn", true),
            ("(@bob)", true), ("ask bob.", true), ("bobby", false), ("bob_2", false), ("alice-bob", false),
            ("kebob", false), ("b o b", false), ("", false), ("bobbob bob", true),
        ]
    )
    func matching(text: String, mentioned: Bool) {
        #expect(Mention.mentions(text, "bob") == mentioned, "\(text)")
    }

    @Test("names beyond ASCII, and names with dots")
    func unicode() {
        #expect(Mention.mentions("Ça va, ÉLODIE ?", "élodie"))
        #expect(!Mention.mentions("élodies", "élodie"))
        #expect(Mention.mentions("thanks p.01", "p.01"))
        #expect(!Mention.mentions("anything", ""))
    }

    private func line(_ from: String, _ text: String, kind: ChatMessage.Kind = .message, to: String? = nil) -> ChatLine
    {
        ChatLine(
            topic: to.map { "chat/users/\($0)/inbox/\(from)" } ?? "chat/rooms/general/\(from)",
            body: .chat(ChatMessage(kind: kind, from: from, text: text)),
            from: from,
            room: to == nil ? "general" : nil,
            to: to,
            verified: true
        )
    }

    private func render(_ renderer: ChatLineRenderer, _ line: ChatLine) -> String {
        String(decoding: renderer.render(line, received: noon), as: UTF8.self)
    }

    @Test("a mention is highlighted in colour, marked in JSON; one's own words are never a mention")
    func marking() {
        let clock = noon.localTimeOfDay
        let colors = ChatLineRenderer(colors: true, me: "bob")
        #expect(
            render(colors, line("alice", "hi @bob"))
                == "\u{1B}[2m\(clock)\u{1B}[0m \u{1B}[1;36m<alice>\u{1B}[0m \u{1B}[1;7mhi @bob\u{1B}[0m\n"
        )
        #expect(
            render(colors, line("alice", "alice bob waves", kind: .notice)).contains("\u{1B}[1;7m* alice bob waves")
        )
        #expect(!render(colors, line("bob", "I am bob")).contains("1;7m"))
        // Without colours (NO_COLOR, a pipe) the text is unchanged.
        #expect(render(ChatLineRenderer(me: "bob"), line("alice", "hi @bob")) == "\(clock) <alice> hi @bob\n")
        let json = ChatLineRenderer(format: .json, me: "bob")
        #expect(render(json, line("alice", "hi @bob")).contains(#""mention":true"#))
        #expect(!render(json, line("alice", "hi bobby")).contains("mention"))
        #expect(!render(json, line("bob", "bob here")).contains("mention"))
    }

    @Test("the bell rings for private messages, invitations, requests and mentions; not for other lines")
    func bell() {
        let bell = ChatLineRenderer(me: "bob", bell: true)
        #expect(render(bell, line("alice", "lunch?", to: "bob")).hasPrefix("\u{07}"))
        #expect(render(bell, line("alice", "rust", kind: .invite, to: "bob")).hasPrefix("\u{07}"))
        #expect(render(bell, line("alice", "hey bob")).hasPrefix("\u{07}"))
        #expect(!render(bell, line("alice", "hello all")).contains("\u{07}"))
        let request = ChatLine(
            topic: "chat/groups/bob/robots/requests/carol",
            body: .event(user: "carol", .groupRequest(GroupID(owner: "bob", name: "robots")))
        )
        #expect(render(bell, request).hasPrefix("\u{07}"))
        // Someone else's inbox (the admin's --all view) is not this user's.
        #expect(!render(bell, line("alice", "psst", to: "carol")).contains("\u{07}"))
        // Without --bell: never.
        #expect(!render(ChatLineRenderer(me: "bob"), line("alice", "lunch?", to: "bob")).contains("\u{07}"))
    }
}
