import Testing

@testable import ChatProtocol

@Suite("Tab at the prompt: what it completes, from the directory alone")
struct PromptCompletionTests {
    let layout = ChatLayout()

    /// alice (this user) and bob in #rust, carol in #ruby and online, dave known only as left; alice/robots.
    var directory: ChatDirectory {
        var directory = ChatDirectory(me: "alice")
        let online = ChatState.presence(tool: "listener", since: .now())
        for (topic, payload) in [
            (layout.membership(of: "alice", in: "rust"), ChatState.membership(joined: true)),
            (layout.membership(of: "bob", in: "rust"), ChatState.membership(joined: true)),
            (layout.membership(of: "carol", in: "ruby"), ChatState.membership(joined: true)),
            (layout.membership(of: "carol", in: "general"), ChatState.membership(joined: false)),
            (layout.membership(of: "dave", in: "general"), ChatState.membership(joined: false)),
            (layout.presence(of: "carol", client: "c1"), online),
            (layout.groupInfo(GroupID(owner: "alice", name: "robots")), ChatState.groupCreated),
        ] {
            _ = directory.apply(layout.parse(topic)!, payload: payload)
        }
        return directory
    }

    func complete(_ before: String) -> PromptCompletion {
        PromptCompletion.complete(before[...], directory: directory)
    }

    @Test("command words after /, then the words under /group")
    func commands() {
        #expect(complete("/jo") == .init(word: "/jo", candidates: ["/join"]))
        #expect(complete("/jo").replacement == "/join ")
        #expect(complete("/gr").candidates == ["/group", "/groups"])
        #expect(complete("/gr").replacement == "/group")
        #expect(complete("/q").replacement == "/quit ")
        #expect(complete("/group a").candidates == ["approve"])
        #expect(complete("/group ").candidates == ["create", "join", "approve", "reject", "remove", "leave", "talk"])
        #expect(complete("/frob x").candidates == [])
        #expect(complete("//jo").candidates == [])
    }

    @Test("each argument by its kind: rooms, people (near ones first), groups; nothing for text")
    func arguments() {
        #expect(complete("/join ru").candidates == ["ruby", "rust"])
        #expect(complete("/join ru").replacement == nil)
        #expect(complete("/leave ").candidates == ["general", "rust"])
        #expect(complete("/invite ").candidates == ["bob", "carol", "dave"])
        #expect(complete("/invite bob r").candidates == ["ruby", "rust"])
        #expect(complete("/msg c").replacement == "carol ")
        #expect(complete("/msg carol he").candidates == [])
        #expect(complete("/accept d").candidates == ["dave"])
        #expect(complete("/group talk a").replacement == "alice/robots ")
        #expect(complete("/who r").candidates == ["ruby", "rust"])
        #expect(complete("/group create r").candidates == [])
        #expect(complete("/topic st").candidates == [])
        #expect(complete("/join rust extra").candidates == [])
    }

    @Test("people after @, in any text; the longest shared start, then a list")
    func mentions() {
        #expect(complete("hello @c").replacement == "@carol ")
        #expect(complete("@").candidates == ["@bob", "@carol", "@dave"])
        #expect(complete("/msg bob ask @d").candidates == ["@dave"])
        #expect(complete("plain wor").candidates == [])
        #expect(PromptCompletion(word: "é", candidates: ["étoile", "étage"]).replacement == "ét")
    }
}
