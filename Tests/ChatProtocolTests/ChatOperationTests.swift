import Testing

@testable import ChatProtocol

/// The chat commands without a broker: each command fed its refusals and its publishes, through the same
/// reading of a line the prompt uses (the one-shot commands give the same words as separate arguments).
@Suite("chat commands")
struct ChatOperationTests {
    let layout = ChatLayout()
    let time = ChatTimestamp(millisecondsSince1970: 1_700_000_000_000)

    /// alice owns alice/robots: bob is a member, carol asks, dave was rejected; erin left.
    func directory(me: String) -> ChatDirectory {
        var directory = ChatDirectory(me: me)
        let robots = GroupID(owner: "alice", name: "robots")
        var states: [(String, [UInt8])] = [(layout.groupInfo(robots), ChatState.groupCreated)]
        for (user, request) in [("bob", "b1"), ("carol", "c1"), ("dave", "d1")] {
            states.append((layout.groupRequest(robots, by: user), ChatState.groupRequest(.requested, id: request)))
        }
        states.append((layout.groupDecision(robots, for: "bob"), ChatState.groupDecision(.approved, request: "b1")))
        states.append((layout.groupDecision(robots, for: "dave"), ChatState.groupDecision(.rejected, request: "d1")))
        states.append((layout.groupRequest(robots, by: "erin"), ChatState.groupRequest(.left, id: "e1")))
        states.append((layout.membership(of: "bob", in: "rust"), ChatState.membership(joined: true)))
        for (topic, payload) in states { _ = directory.apply(layout.parse(topic)!, payload: payload) }
        return directory
    }

    /// Runs `line` (without its `/`) as `me`; at the prompt when `place` is given.
    func run(_ me: String, _ line: String, place: ChatPlace? = nil) throws(MQTTError) -> ChatOperation.Outcome {
        guard let (operation, given) = ChatOperations.promptCommand(line[...]) else {
            throw MQTTError(.invalidArgument, "no command")
        }
        let values = try operation.values(given, place: place)
        let input = ChatOperation.Input(
            me: me,
            values: values,
            directory: operation.readsDirectory ? directory(me: me) : nil,
            place: place,
            time: time,
            requestID: "new"
        )
        return try operation.perform(input)
    }

    func refusal(_ me: String, _ line: String, place: ChatPlace? = nil) -> MQTTError? {
        do {
            _ = try run(me, line, place: place)
            return nil
        } catch {
            return error
        }
    }

    static let refusalCases: [(String, String, MQTTError.Code, String)] = [
        ("alice", "group leave alice/robots", .refusedByState, "alice owns alice/robots and cannot leave it."),
        (
            "erin", "group leave alice/robots", .refusedByState,
            "erin is not in alice/robots and has not asked to join it."
        ),
        (
            "bob", "group leave alice/nope", .refusedByState,
            "There is no group alice/nope (publisher groups lists them)."
        ),
        (
            "bob", "group join alice/nope", .refusedByState,
            "There is no group alice/nope (publisher groups lists them)."
        ),
        ("alice", "group approve alice/robots erin", .refusedByState, "erin has not asked to join alice/robots."),
        (
            "alice", "group approve alice/robots bob", .refusedByState,
            "bob's request to join alice/robots was already decided."
        ),
        (
            "alice", "group reject alice/robots dave", .refusedByState,
            "dave's request to join alice/robots was already decided."
        ),
        ("alice", "group remove alice/robots carol", .refusedByState, "carol is not a member of alice/robots."),
        ("alice", "group remove alice/robots zed", .refusedByState, "zed has not asked to join alice/robots."),
        (
            "alice", "group approve alice/nope carol", .refusedByState,
            "There is no group alice/nope (publisher groups lists them)."
        ),
        ("carol", "group talk alice/robots", .refusedByState, "carol is not a member of alice/robots (yet)."),
        (
            "alice", "join a/b", .invalidArgument,
            "Invalid room \"a/b\": it contains \"/\" (names are 1 to 64 bytes of UTF-8 without /, +, # or control characters)."
        ),
        ("alice", "group join robots", .invalidArgument, "Invalid group \"robots\": write it OWNER/NAME."),
        ("alice", "msg bob", .invalidArgument, "usage: /msg <user> <text>"),
        ("alice", "join rust go", .invalidArgument, "usage: /join <room>"),
        ("alice", "group approve alice/robots", .invalidArgument, "usage: /group approve <group> <user>"),
    ]

    @Test("every refusal is one sentence, the same at the prompt and for a one-shot command", arguments: refusalCases)
    func refusals(me: String, line: String, code: MQTTError.Code, message: String) {
        #expect(refusal(me, line) == MQTTError(code, message))
        #expect(refusal(me, line, place: .room("general")) == MQTTError(code, message))
    }

    @Test("rooms: join and leave publish the membership; at the prompt they also move the prompt and its focus")
    func rooms() throws {
        let joined = ChatPublish.state("chat/users/alice/rooms/rust", #"{"state":"joined"}"#.bytes)
        #expect(try run("alice", "join rust") == .init(publishes: [joined]))
        let focusRust = ChatPublish.state("chat/users/alice/private/focus", #"{"room":"rust"}"#.bytes)
        #expect(
            try run("alice", "join rust", place: .user("bob"))
                == .init(publishes: [joined, focusRust], place: .room("rust"))
        )
        let left = ChatPublish.state("chat/users/alice/rooms/rust", [])
        #expect(try run("alice", "leave rust") == .init(publishes: [left]))
        // Leaving the room the prompt talks in (named or not) goes back to the default room.
        let focusGeneral = ChatPublish.state("chat/users/alice/private/focus", #"{"room":"general"}"#.bytes)
        let back = ChatOperation.Outcome(publishes: [left, focusGeneral], place: .room("general"))
        #expect(try run("alice", "leave", place: .room("rust")) == back)
        // Without a room: the prompt's, when it talks in one.
        #expect(refusal("alice", "leave") == MQTTError(.invalidArgument, "usage: /leave [<room>]"))
        #expect(refusal("alice", "leave", place: .user("bob")) == MQTTError(.invalidArgument, "usage: /leave [<room>]"))
        #expect(try run("alice", "leave rust", place: .room("rust")) == back)
        #expect(try run("alice", "leave rust", place: .room("go")) == .init(publishes: [left]))
        // Leaving the default room is remembered.
        let leftGeneral = ChatPublish.state("chat/users/alice/rooms/general", #"{"state":"left"}"#.bytes)
        #expect(try run("alice", "leave general") == .init(publishes: [leftGeneral]))
    }

    @Test("people: invite (the prompt's room by default), msg (the rest of the line), accept, block")
    func people() throws {
        let invitation = ChatPublish.message(
            "chat/users/bob/inbox/alice",
            ChatMessage(kind: .invite, from: "alice", text: "rust", time: time)
        )
        let invited = ChatOperation.Outcome(publishes: [invitation], output: "invited bob to #rust\n")
        #expect(try run("alice", "invite bob rust") == invited)
        #expect(try run("alice", "invite bob", place: .room("rust")) == invited)
        #expect(
            refusal("alice", "invite bob", place: .user("carol"))
                == MQTTError(.invalidArgument, "usage: /invite <user> [<room>]")
        )
        let accepted = ChatPublish.state("chat/users/alice/private/contacts/bob", #"{"status":"accepted"}"#.bytes)
        let message = ChatPublish.message(
            "chat/users/bob/inbox/alice",
            .message(from: "alice", "see  you at 5", time: time)
        )
        #expect(try run("alice", "msg bob see  you at 5") == .init(publishes: [accepted, message]))
        #expect(try run("alice", "accept bob") == .init(publishes: [accepted], output: "accepted bob\n"))
        let blocked = ChatPublish.state("chat/users/alice/private/contacts/bob", #"{"status":"blocked"}"#.bytes)
        #expect(try run("alice", "block bob") == .init(publishes: [blocked], output: "blocked bob\n"))
    }

    @Test("groups: create, join (a note when already a member), approve, reject, remove, leave, talk")
    func groups() throws {
        #expect(
            try run("zed", "group create bots")
                == .init(
                    publishes: [.state("chat/groups/zed/bots/info", #"{"state":"created"}"#.bytes)],
                    output: "created zed/bots\n"
                )
        )
        let request = ChatPublish.state(
            "chat/groups/alice/robots/requests/erin",
            #"{"status":"requested","request":"new"}"#.bytes
        )
        #expect(
            try run("erin", "group join alice/robots")
                == .init(publishes: [request], output: "asked alice to let you join alice/robots\n")
        )
        // Asking again would make a member pending again: nothing is sent.
        #expect(try run("bob", "group join alice/robots") == .init(note: "bob is already a member of alice/robots."))
        #expect(
            try run("alice", "group join alice/robots") == .init(note: "alice is already a member of alice/robots.")
        )
        for (verb, user, status, request) in [
            ("approve", "carol", "approved", "c1"), ("reject", "carol", "rejected", "c1"),
            ("remove", "bob", "removed", "b1"),
        ] {
            let decision = ChatPublish.state(
                "chat/groups/alice/robots/members/\(user)",
                #"{"status":"\#(status)","request":"\#(request)"}"#.bytes
            )
            #expect(
                try run("alice", "group \(verb) alice/robots \(user)")
                    == .init(publishes: [decision], output: "\(status) \(user) for alice/robots\n")
            )
        }
        let left = ChatPublish.state(
            "chat/groups/alice/robots/requests/bob",
            #"{"status":"left","request":"new"}"#.bytes
        )
        #expect(try run("bob", "group leave alice/robots") == .init(publishes: [left]))
        // carol withdraws her request, which has not been decided.
        #expect(try run("carol", "group leave alice/robots").publishes.count == 1)
        // Leaving the group the prompt talks in goes back to the default room.
        let focus = ChatPublish.state("chat/users/bob/private/focus", #"{"room":"general"}"#.bytes)
        let robots = GroupID(owner: "alice", name: "robots")
        #expect(
            try run("bob", "group leave alice/robots", place: .group(robots))
                == .init(publishes: [left, focus], place: .room("general"))
        )
        #expect(try run("bob", "group talk alice/robots", place: .room("general")) == .init(place: .group(robots)))
        #expect(try run("alice", "group talk alice/robots", place: .room("general")) == .init(place: .group(robots)))
    }

    @Test("/me: a notice that is the whole sentence, where the prompt talks (a person: accepted too)")
    func me() throws {
        let notice = ChatMessage.notice(from: "alice", "alice waves at  bob", time: time)
        #expect(notice.encoded() == ChatMessage.me("alice", "waves at  bob", time: time).encoded())
        #expect(
            try run("alice", "me waves at  bob", place: .room("rust"))
                == .init(publishes: [.message("chat/rooms/rust/alice", notice)])
        )
        let robots = GroupID(owner: "alice", name: "robots")
        #expect(
            try run("alice", "me waves at  bob", place: .group(robots))
                == .init(publishes: [.message("chat/groups/alice/robots/messages/alice", notice)])
        )
        let accepted = ChatPublish.state("chat/users/alice/private/contacts/bob", #"{"status":"accepted"}"#.bytes)
        #expect(
            try run("alice", "me waves at  bob", place: .user("bob"))
                == .init(publishes: [accepted, .message("chat/users/bob/inbox/alice", notice)])
        )
        #expect(refusal("alice", "me", place: .room("rust")) == MQTTError(.invalidArgument, "usage: /me <text>"))
        #expect(ChatOperations.named(["me"])?.promptOnly == true)
    }

    @Test("/topic: the prompt's room (the one-shot names it); set by someone in the room, \"\" clears, alone shows")
    func topic() throws {
        let set = ChatPublish.state("chat/topics/rust/bob", #"{"topic":"step 2 is on the board"}"#.bytes)
        #expect(try run("bob", "topic step 2 is on the board", place: .room("rust")) == .init(publishes: [set]))
        // The one-shot's arguments: `topic ROOM TEXT`.
        let operation = try #require(ChatOperations.named(["topic"]))
        let values = try operation.values(["rust", "step 2 is on the board"], place: nil)
        let input = ChatOperation.Input(
            me: "bob",
            values: values,
            directory: directory(me: "bob"),
            time: time,
            requestID: ""
        )
        #expect(try operation.perform(input) == .init(publishes: [set]))
        let cleared = ChatPublish.state("chat/topics/rust/bob", #"{"topic":""}"#.bytes)
        #expect(try run("bob", #"topic """#, place: .room("rust")) == .init(publishes: [cleared]))
        #expect(try run("bob", "topic rust", place: nil) == .init(output: "#rust has no topic\n"))
        #expect(try run("bob", "topic", place: .room("rust")) == .init(output: "#rust has no topic\n"))
        #expect(
            refusal("alice", "topic step 3", place: .room("rust"))
                == MQTTError(.refusedByState, "alice is not in #rust: join it to set its topic.")
        )
        #expect(
            refusal("bob", "topic step 3", place: .user("alice"))
                == MQTTError(.refusedByState, "/topic works in a room; this prompt talks to @alice.")
        )
        #expect(ChatOperations.named(["topic"])?.promptUsage == "/topic [<text>]")
    }

    @Test("/away [TEXT] and /back: the user's away message, retained until back")
    func away() throws {
        let away = ChatPublish.state("chat/users/alice/away", #"{"status":"away","away":"lunch, back at 2"}"#.bytes)
        #expect(
            try run("alice", "away lunch, back at 2")
                == .init(publishes: [away], output: "you are away: lunch, back at 2 (/back when you return)\n")
        )
        let silent = ChatPublish.state("chat/users/alice/away", #"{"status":"away","away":""}"#.bytes)
        #expect(
            try run("alice", "away") == .init(publishes: [silent], output: "you are away (/back when you return)\n")
        )
        let back = ChatPublish.state("chat/users/alice/away", [])
        #expect(try run("alice", "back") == .init(publishes: [back], output: "you are back\n"))
    }

    @Test("reports: rooms, who, groups show the directory as text")
    func reports() throws {
        #expect(try run("carol", "groups").output == "alice/robots members: alice, bob\n")
        #expect(try run("alice", "groups").output == "alice/robots members: alice, bob; pending: carol\n")
        #expect(try run("alice", "who rust").output == "bob offline\n")
        #expect(try run("alice", "who").output == "nobody is online\n")
        #expect(try run("alice", "rooms").output?.hasPrefix("#general ") == true)
    }

    @Test("keys and trust: no publishes, a request for the user's key files (ChatCrypto does the rest)")
    func keys() throws {
        #expect(try run("alice", "keys") == ChatOperation.Outcome(keys: .show(user: nil)))
        #expect(try run("alice", "keys bob") == ChatOperation.Outcome(keys: .show(user: "bob")))
        #expect(try run("alice", "trust bob") == ChatOperation.Outcome(keys: .trust(user: "bob")))
        #expect(refusal("alice", "trust")?.message == "usage: /trust <user>")
    }

    @Test("the prompt reads the longest command its words name; anything else is no command")
    func lines() {
        #expect(ChatOperations.promptCommand("group  join   alice/robots")?.1 == ["alice/robots"])
        #expect(ChatOperations.promptCommand("join rust")?.0.words == ["join"])
        #expect(ChatOperations.promptCommand("msg bob  hi  there")?.1 == ["bob", "hi  there"])
        #expect(ChatOperations.promptCommand("group") == nil)
        #expect(ChatOperations.promptCommand("group frobnicate") == nil)
        #expect(ChatOperations.promptCommand("frobnicate") == nil)
    }

    @Test("each command is declared once, and each has a test above")
    func table() {
        let words = ChatOperations.all.map { $0.words.joined(separator: " ") }
        #expect(Set(words).count == words.count)
        #expect(
            words == [
                "join", "leave", "rooms", "who", "invite", "msg", "me", "topic", "away", "back", "accept", "block",
                "group create", "group join",
                "group approve", "group reject", "group remove", "group leave", "group talk", "groups", "keys", "trust",
            ]
        )
    }
}

extension String {
    fileprivate var bytes: [UInt8] { Array(utf8) }
}
