import Testing

@testable import ChatProtocol

@Suite("Chat layout: names, topics, state, routing")
struct LayoutTests {
    let layout = ChatLayout()

    private func message(
        _ topic: String,
        _ payload: [UInt8],
        retained: Bool = false,
        qos: MQTTQoS = .atLeastOnce
    )
        -> MQTTMessage
    {
        MQTTMessage(topic: topic, payload: payload, qos: qos, retained: retained)
    }

    private func chat(_ from: String, _ text: String) -> [UInt8] {
        ChatMessage.message(from: from, text).encoded()
    }

    @Test("names: UTF-8 up to 64 bytes, never / + # NUL or control characters")
    func names() {
        #expect(ChatName.problem(with: "rust") == nil)
        #expect(ChatName.problem(with: "café ☕ 東京") == nil)
        #expect(ChatName.problem(with: String(repeating: "a", count: 64)) == nil)
        #expect(ChatName.problem(with: String(repeating: "a", count: 65)) == "it is longer than 64 bytes")
        #expect(ChatName.problem(with: String(repeating: "é", count: 33)) == "it is longer than 64 bytes")
        #expect(ChatName.problem(with: "") == "it is empty")
        #expect(ChatName.problem(with: "a/b") == "it contains \"/\"")
        #expect(ChatName.problem(with: "+") == "it contains \"+\"")
        #expect(ChatName.problem(with: "x#") == "it contains \"#\"")
        #expect(ChatName.problem(with: "a\u{0}b") == "it contains a NUL character")
        #expect(ChatName.problem(with: "a\u{1B}[31m") == "it contains a control character")
        #expect(ChatName.problem(with: "a\u{7F}") == "it contains a control character")
        #expect(ChatName.problem(with: "a\u{85}") == "it contains a control character")
        #expect(throws: MQTTError.self) { try ChatName.validate("a/b", as: "room") }
    }

    @Test("topics are built and parsed back; foreign topics are not the layout's")
    func topics() {
        #expect(layout.room("rust", sender: "bob") == "chat/rooms/rust/bob")
        #expect(layout.inbox(of: "bob", from: "alice") == "chat/users/bob/inbox/alice")
        #expect(layout.parse("chat/rooms/rust/bob") == .room(room: "rust", sender: "bob"))
        #expect(layout.parse("chat/users/bob/inbox/alice") == .inbox(user: "bob", sender: "alice"))
        #expect(layout.parse("chat/users/bob/rooms/rust") == .membership(user: "bob", room: "rust"))
        #expect(layout.parse("chat/users/bob/online/bob@pc") == .presence(user: "bob", client: "bob@pc"))
        #expect(layout.parse("chat/users/bob/private/contacts/eve") == .contact(owner: "bob", user: "eve"))
        #expect(layout.parse("chat/users/bob/private/focus") == .focus(user: "bob"))
        #expect(layout.parse("chat/users/bob/private/sync/c1") == .sync(user: "bob", client: "c1"))
        for foreign in [
            "chat", "chat/raw/x", "chat/rooms/rust", "chat/rooms/rust/bob/extra", "chat/rooms//bob", "other/rooms/a/b",
            "chat/users/bob/secret/x",
        ] {
            #expect(layout.parse(foreign) == nil, "\(foreign)")
        }
        #expect(ChatLayout(root: "school").parse("school/rooms/a/b") == .room(room: "a", sender: "b"))
    }

    @Test("the directory follows memberships, presence per connection, contacts and focus")
    func directory() {
        var directory = ChatDirectory(me: "alice")
        #expect(directory.rooms(of: "alice") == ["general"])
        #expect(
            directory.apply(.membership(user: "bob", room: "rust"), payload: ChatState.membership(joined: true))
                == [.joined(user: "bob", room: "rust")]
        )
        #expect(
            directory.apply(.membership(user: "bob", room: "rust"), payload: ChatState.membership(joined: true)) == []
        )
        #expect(directory.rooms(of: "bob") == ["general", "rust"])
        #expect(
            directory.apply(.membership(user: "bob", room: "general"), payload: ChatState.membership(joined: false))
                == [.left(user: "bob", room: "general")]
        )
        #expect(directory.rooms(of: "bob") == ["rust"])
        #expect(
            directory.apply(.membership(user: "bob", room: "rust"), payload: []) == [.left(user: "bob", room: "rust")]
        )
        #expect(directory.sharesRoom(with: "bob") == false)
        // Two connections: online until both are gone.
        let online = ChatState.presence(tool: "listener", since: .now())
        #expect(directory.apply(.presence(user: "carol", client: "a"), payload: online) == [.online(user: "carol")])
        #expect(directory.apply(.presence(user: "carol", client: "b"), payload: online) == [])
        #expect(directory.connectionCount(of: "carol") == 2)
        #expect(directory.apply(.presence(user: "carol", client: "a"), payload: []) == [])
        #expect(directory.apply(.presence(user: "carol", client: "b"), payload: []) == [.offline(user: "carol")])
        #expect(directory.onlineUsers == [])
        // Contacts and focus are this user's only.
        #expect(
            directory.apply(.contact(owner: "alice", user: "eve"), payload: ChatState.contact(.blocked))
                == [.contact(user: "eve", .blocked)]
        )
        #expect(directory.apply(.contact(owner: "bob", user: "eve"), payload: ChatState.contact(.accepted)) == [])
        #expect(directory.contacts == ["eve": .blocked])
        #expect(
            directory.apply(.focus(user: "alice"), payload: ChatState.focus(room: "rust")) == [.focus(room: "rust")]
        )
        #expect(directory.apply(.focus(user: "alice"), payload: ChatState.focus(room: "a/b")) == [])
        // Malformed state changes nothing.
        #expect(directory.apply(.membership(user: "x", room: "y"), payload: Array("not json".utf8)) == [])
        #expect(directory.apply(.presence(user: "x", client: "y"), payload: Array("{}".utf8)) == [])
        // Known people: this user, and whoever has state; bob left general, carol's presence is gone.
        #expect(directory.members(of: "general") == ["alice"])
    }

    /// A router past its snapshot, with the broker proving senders.
    private func syncedRouter(follow: ChatRouter.Follow = .joined) -> ChatRouter {
        var router = ChatRouter(layout: layout, me: "alice", client: "c1", follow: follow, verified: nil)
        _ = router.route(message(layout.sync(of: "alice", client: "c1"), []))
        #expect(router.synced == false)  // the verification result is still missing
        let (_, actions) = router.setVerified(true)
        #expect(actions == [.synced])
        return router
    }

    @Test("chat lines wait for the snapshot, then show with the proven sender")
    func snapshot() {
        var router = ChatRouter(layout: layout, me: "alice", client: "c1", follow: .joined, verified: true)
        #expect(router.route(message("chat/rooms/rust/bob", chat("bob", "queued"))).lines == [])
        let joined = router.route(
            message("chat/users/alice/rooms/rust", ChatState.membership(joined: true), retained: true)
        )
        #expect(joined.lines == [])  // nothing is announced from the snapshot
        let (lines, actions) = router.route(message(layout.sync(of: "alice", client: "c1"), []))
        #expect(actions == [.synced])
        #expect(lines.count == 1)
        #expect(lines.first?.from == "bob")
        #expect(lines.first?.room == "rust")
        #expect(lines.first?.verified == true)
        #expect(lines.first?.showRoom == true)  // not the room alice talks in
    }

    @Test("a forged from is shown as the proven sender and marked")
    func forged() {
        var router = syncedRouter()
        let line = router.route(message("chat/rooms/general/carol", chat("alice", "I am alice"))).lines.first
        #expect(line?.from == "carol")
        #expect(line?.claimedFrom == "alice")
        #expect(line?.showRoom == false)
        let rendered = ChatLineRenderer().render(line!, received: .now())
        #expect(
            String(decoding: rendered.dropFirst(9), as: UTF8.self)
                == "<carol> [forged: claims to be alice] I am alice\n"
        )
    }

    @Test("rooms not followed are not shown; the message right after a live join is, none after a leave")
    func liveJoin() {
        var router = syncedRouter()
        #expect(router.route(message("chat/rooms/rust/bob", chat("bob", "hi"))).lines == [])
        let joined = router.route(message("chat/users/alice/rooms/rust", ChatState.membership(joined: true)))
        #expect(joined.actions == [])  // nothing to subscribe: every room is subscribed already
        #expect(joined.lines.map(\.body) == [.event(user: "alice", .joined(room: "rust"))])
        #expect(router.route(message("chat/rooms/rust/bob", chat("bob", "hi"))).lines.map(\.from) == ["bob"])
        let left = router.route(message("chat/users/alice/rooms/rust", []))
        #expect(left.lines.map(\.body) == [.event(user: "alice", .left(room: "rust"))])
        #expect(router.route(message("chat/rooms/rust/bob", chat("bob", "late"))).lines == [])
    }

    @Test("subscriptions never depend on state: a participant's cover every room and group, --room just its own")
    func subscriptions() {
        let joined = ChatRouter(layout: layout, me: "alice", client: "c1", follow: .joined, verified: nil)
        #expect(
            joined.subscriptions(roomQoS: .atMostOnce).map { "\($0.filter) \($0.qos.rawValue)" } == [
                "chat/users/+/rooms/+ 1", "chat/users/+/online/+ 1", "chat/users/alice/private/# 1",
                "chat/groups/+/+/info 1", "chat/groups/+/+/members/+ 1", "chat/groups/+/+/requests/+ 1",
                "chat/groups/+/+/keys/alice 1", "chat/users/+/away 1", "chat/topics/+/+ 1", "chat/users/+/keys 1",
                "chat/users/alice/inbox/+ 2",
                "chat/rooms/+/+ 0",
                "chat/groups/+/+/messages/+ 2",
            ]
        )
        // The keys group owners hand this user (and only this user's) go to the directory, unannounced.
        let robots = GroupID(owner: "bob", name: "robots")
        #expect(layout.parse("chat/groups/bob/robots/keys/alice") == .groupKeys(robots, member: "alice"))
        var directory = ChatDirectory(me: "alice")
        #expect(directory.apply(.groupKeys(robots, member: "alice"), payload: [1]) == [])
        #expect(directory.apply(.groupKeys(robots, member: "carol"), payload: [2]) == [])
        #expect(directory.groupKeys == [robots: [1]])
        // Away, a persistent session keeps only what is private or a group's.
        #expect(!joined.filtersDroppedWhileAway.contains("chat/users/alice/inbox/+"))
        #expect(!joined.filtersDroppedWhileAway.contains("chat/groups/+/+/messages/+"))
        #expect(joined.filtersDroppedWhileAway.contains("chat/rooms/+/+"))
        let selected = ChatRouter(
            layout: layout,
            me: "alice",
            client: "c1",
            follow: .selected(rooms: ["go"], groups: [robots]),
            verified: nil
        )
        #expect(
            selected.subscriptions(roomQoS: .atLeastOnce).suffix(2).map(\.filter) == [
                "chat/rooms/go/+", "chat/groups/bob/robots/messages/+",
            ]
        )
    }

    @Test("retained state is the snapshot (silent); live state is an event, also during the snapshot")
    func snapshotAgainstLive() {
        // Every order of a live change, a chat line and the end of the snapshot.
        let join = message("chat/users/bob/rooms/general", ChatState.membership(joined: true))
        let request = message(
            "chat/groups/alice/robots/requests/carol",
            ChatState.groupRequest(.requested, id: "c1")
        )
        let info = message("chat/groups/alice/robots/info", ChatState.groupCreated, retained: true)
        let hello = message("chat/rooms/general/bob", chat("bob", "hello"))
        let sync = message(layout.sync(of: "alice", client: "c1"), [])
        var router = ChatRouter(layout: layout, me: "alice", client: "c1", follow: .joined, verified: true)
        var shown: [ChatLine.Body] = []
        for input in [info, request, hello, sync] { shown += router.route(input).lines.map(\.body) }
        #expect(
            shown == [
                .event(user: "carol", .groupRequest(GroupID(owner: "alice", name: "robots"))),
                .chat(.message(from: "bob", "hello")),
            ]
        )
        // The same request as a retained copy (the broker answering a SUBSCRIBE) is not announced.
        var quiet = ChatRouter(layout: layout, me: "alice", client: "c1", follow: .joined, verified: true)
        var retainedRequest = request
        retainedRequest.retained = true
        shown = []
        for input in [info, retainedRequest, sync] { shown += quiet.route(input).lines.map(\.body) }
        #expect(shown == [])
        #expect(quiet.directory.pendingRequests(of: GroupID(owner: "alice", name: "robots")) == ["carol"])
        // Joining the default room is no change, so nothing to announce.
        var live = ChatRouter(layout: layout, me: "alice", client: "c1", follow: .joined, verified: true)
        shown = []
        for input in [sync, join] { shown += live.route(input).lines.map(\.body) }
        #expect(shown == [])  // general is bob's by default: joining it again changes nothing
    }

    @Test("a membership and the next message, in every order against the snapshot's end")
    func joinRacesSnapshot() {
        let join = message("chat/users/alice/rooms/rust", ChatState.membership(joined: true))
        let post = message("chat/rooms/rust/bob", chat("bob", "first"))
        let sync = message(layout.sync(of: "alice", client: "c1"), [])
        for order in [[sync, join, post], [join, sync, post], [join, post, sync]] {
            var router = ChatRouter(layout: layout, me: "alice", client: "c1", follow: .joined, verified: true)
            var shown: [ChatLine.Body] = []
            for input in order { shown += router.route(input).lines.map(\.body) }
            #expect(
                shown == [.event(user: "alice", .joined(room: "rust")), .chat(.message(from: "bob", "first"))],
                "\(order.map(\.topic))"
            )
        }
        // Rapid joins and leaves: what is shown follows the last one.
        var router = syncedRouter()
        for joined in [true, false, true, false, true] {
            _ = router.route(message("chat/users/alice/rooms/go", joined ? ChatState.membership(joined: true) : []))
        }
        #expect(router.followedRooms == ["general", "go"])
        _ = router.route(message("chat/users/alice/rooms/go", []))
        #expect(router.followedRooms == ["general"])
        #expect(router.route(message("chat/rooms/go/bob", chat("bob", "gone"))).lines == [])
    }

    @Test("a presence with an expiry lapses at it unless renewed; one without never does")
    func presenceExpiry() {
        var router = syncedRouter()
        let online = ChatState.presence(tool: "listener", since: .now())
        let start = ChatTimestamp(millisecondsSince1970: 1_000_000)
        func at(_ seconds: Int64) -> ChatTimestamp {
            ChatTimestamp(millisecondsSince1970: start.millisecondsSince1970 + seconds * 1000)
        }
        var bob = MQTTMessage(topic: "chat/users/bob/online/b1", payload: online, qos: .atLeastOnce, expiry: 4)
        _ = router.route(bob, now: start)
        _ = router.route(message("chat/users/carol/online/c1", online), now: start)
        #expect(router.expirePresence(now: at(3)) == [])
        // Renewed at 3 s: good until 7 s.
        _ = router.route(bob, now: at(3))
        #expect(router.expirePresence(now: at(5)) == [])
        let lapsed = router.expirePresence(now: at(7))
        #expect(lapsed.map(\.body) == [.event(user: "bob", .offline)])
        #expect(lapsed.first?.topic == "chat/users/bob/online")
        #expect(router.directory.onlineUsers == ["carol"])
        // A second connection keeps the user online when the first lapses.
        bob.expiry = 2
        _ = router.route(bob, now: at(10))
        _ = router.route(message("chat/users/bob/online/b2", online), now: at(10))
        #expect(router.expirePresence(now: at(20)) == [])
        #expect(router.directory.connectionCount(of: "bob") == 1)
    }

    @Test("after a reconnect the state is read again: what the broker lost is forgotten, live changes kept")
    func resync() {
        var router = syncedRouter()
        let online = ChatState.presence(tool: "listener", since: .now())
        _ = router.route(message("chat/users/bob/online/b1", online, retained: true))
        _ = router.route(message("chat/users/alice/rooms/rust", ChatState.membership(joined: true), retained: true))
        #expect(router.directory.isOnline("bob"))
        #expect(router.ownState.keys.sorted() == ["chat/users/alice/rooms/rust"])
        router.beginResync()
        // The broker came back without rust and without bob's presence (he never returned); carol joins live.
        _ = router.route(message("chat/users/carol/online/c9", online, retained: true))
        let live = router.route(message("chat/users/dave/online/d1", online))
        #expect(live.lines.map(\.body) == [.event(user: "dave", .online)])  // both are in general
        // Until the marker, the old view serves.
        #expect(router.directory.isOnline("bob"))
        let done = router.route(message(layout.sync(of: "alice", client: "c1"), []))
        #expect(done.actions == [.resynced])
        // Who went and who came while the listener was away (bob and carol share general with alice).
        #expect(done.lines.map(\.body) == [.event(user: "bob", .offline), .event(user: "carol", .online)])
        #expect(!router.directory.isOnline("bob"))
        #expect(router.directory.onlineUsers == ["carol", "dave"])
        #expect(router.followedRooms == ["general"])
        #expect(router.ownState.isEmpty)
    }

    @Test("private messages: a request until accepted, plain after, nothing once blocked; invitations always")
    func privateMessages() {
        var router = syncedRouter()
        let request = router.route(message("chat/users/alice/inbox/bob", chat("bob", "hi"), qos: .exactlyOnce)).lines
            .first
        #expect(request?.request == true)
        #expect(request?.to == "alice")
        let invite = ChatMessage(kind: .invite, from: "carol", text: "rust").encoded()
        #expect(router.route(message("chat/users/alice/inbox/carol", invite)).lines.first?.request == false)
        _ = router.route(message("chat/users/alice/private/contacts/bob", ChatState.contact(.accepted)))
        #expect(router.route(message("chat/users/alice/inbox/bob", chat("bob", "again"))).lines.first?.request == false)
        _ = router.route(message("chat/users/alice/private/contacts/bob", ChatState.contact(.blocked)))
        #expect(router.route(message("chat/users/alice/inbox/bob", chat("bob", "blocked"))).lines == [])
        #expect(router.route(message("chat/rooms/general/bob", chat("bob", "blocked"))).lines == [])
        // Someone else's inbox is never shown to a participant's listener.
        #expect(router.route(message("chat/users/carol/inbox/bob", chat("bob", "x"))).lines == [])
    }

    @Test("presence is told for people sharing a room, not for strangers or oneself")
    func presence() {
        var router = syncedRouter()
        let online = ChatState.presence(tool: "listener", since: .now())
        #expect(
            router.route(message("chat/users/bob/online/b1", online)).lines.map(\.body) == [
                .event(user: "bob", .online)
            ]
        )
        #expect(router.route(message("chat/users/alice/online/c1", online)).lines == [])
        _ = router.route(message("chat/users/dave/rooms/general", ChatState.membership(joined: false)))
        #expect(router.route(message("chat/users/dave/online/d1", online)).lines == [])
        #expect(
            router.route(message("chat/users/bob/online/b1", [])).lines.map(\.body) == [.event(user: "bob", .offline)]
        )
    }

    @Test("--room follows just those rooms; one room is never named on its lines")
    func roomsFollow() {
        var router = syncedRouter(follow: .selected(rooms: ["go"], groups: []))
        #expect(router.route(message("chat/rooms/general/bob", chat("bob", "x"))).lines == [])
        #expect(router.route(message("chat/rooms/go/bob", chat("bob", "x"))).lines.first?.showRoom == false)
        #expect(router.route(message("chat/users/alice/inbox/bob", chat("bob", "x"))).lines == [])
    }

    @Test("an empty payload (the verification probe) is never a line")
    func probe() {
        var router = syncedRouter(follow: .all)
        #expect(router.route(message("chat/rooms/~probe-1/nobody", [])).lines == [])
        #expect(router.route(message("chat/rooms/any/bob", chat("bob", "x"))).lines.first?.showRoom == true)
    }

    @Test("JSON lines carry room, to, invite, request, verified and the forgery")
    func json() {
        var router = syncedRouter()
        let renderer = ChatLineRenderer(format: .json)
        let received = ChatTimestamp(millisecondsSince1970: 0)
        func render(_ topic: String, _ payload: [UInt8]) -> String {
            String(
                decoding: renderer.render(router.route(message(topic, payload)).lines[0], received: received),
                as: UTF8.self
            )
        }
        #expect(
            render("chat/rooms/general/bob", chat("mallory", "hi"))
                == #"{"topic":"chat/rooms/general/bob","type":"message","from":"bob","message":"hi","room":"general","#
                + #""forged":true,"claimed_from":"mallory","verified":true,"encrypted":false,"received":"1970-01-01T00:00:00.000Z","retained":false}"#
                + "\n"
        )
        #expect(
            render("chat/users/alice/inbox/carol", ChatMessage(kind: .invite, from: "carol", text: "rust").encoded())
                == #"{"topic":"chat/users/alice/inbox/carol","type":"invite","from":"carol","invite":"rust","to":"alice","#
                + #""verified":true,"encrypted":false,"received":"1970-01-01T00:00:00.000Z","retained":false}"# + "\n"
        )
        #expect(
            render("chat/users/alice/inbox/bob", chat("bob", "yo"))
                == #"{"topic":"chat/users/alice/inbox/bob","type":"message","from":"bob","message":"yo","to":"alice","#
                + #""request":true,"verified":true,"encrypted":false,"received":"1970-01-01T00:00:00.000Z","retained":false}"#
                + "\n"
        )
    }
}

@Suite("Groups: requests, decisions, membership, routing")
struct GroupTests {
    let layout = ChatLayout()
    let robots = GroupID(owner: "alice", name: "robots")

    private func message(_ topic: String, _ payload: [UInt8]) -> MQTTMessage {
        MQTTMessage(topic: topic, payload: payload, qos: .exactlyOnce)
    }

    @Test("OWNER/NAME parses; anything else is a usage error")
    func names() throws {
        #expect(try GroupID(parsing: "alice/robots") == robots)
        for bad in ["robots", "a/b/c", "/robots", "alice/", "al+ce/robots", "alice/ro#bots"] {
            #expect(throws: MQTTError.self, "\(bad)") { try GroupID(parsing: bad) }
        }
        #expect(layout.parse("chat/groups/alice/robots/info") == .groupInfo(robots))
        #expect(layout.parse("chat/groups/alice/robots/members/bob") == .groupDecision(robots, user: "bob"))
        #expect(layout.parse("chat/groups/alice/robots/requests/bob") == .groupRequest(robots, user: "bob"))
        #expect(layout.parse("chat/groups/alice/robots/messages/bob") == .groupMessage(robots, sender: "bob"))
        #expect(layout.parse("chat/groups/alice/robots/other/bob") == nil)
    }

    @Test("request, approval, leaving, a new request needing a new approval, removal, rejection")
    func lifecycle() {
        var directory = ChatDirectory(me: "alice")
        #expect(
            directory.apply(.groupInfo(robots), payload: ChatState.groupCreated) == [
                .groupCreated(robots), .groupMember(robots, user: "alice", joined: true),
            ]
        )
        #expect(directory.members(of: robots) == ["alice"])
        #expect(
            directory.apply(.groupRequest(robots, user: "bob"), payload: ChatState.groupRequest(.requested, id: "r1"))
                == [.groupRequested(robots, user: "bob")]
        )
        #expect(directory.pendingRequests(of: robots) == ["bob"])
        #expect(
            directory.apply(
                .groupDecision(robots, user: "bob"),
                payload: ChatState.groupDecision(.approved, request: "r1")
            )
                == [.groupDecided(robots, user: "bob", .approved), .groupMember(robots, user: "bob", joined: true)]
        )
        #expect(directory.members(of: robots) == ["alice", "bob"])
        #expect(directory.pendingRequests(of: robots) == [])
        // Leaving, then asking again: the old approval does not count for the new request.
        #expect(
            directory.apply(.groupRequest(robots, user: "bob"), payload: ChatState.groupRequest(.left, id: "r2"))
                == [.groupMember(robots, user: "bob", joined: false)]
        )
        #expect(
            directory.apply(.groupRequest(robots, user: "bob"), payload: ChatState.groupRequest(.requested, id: "r3"))
                == [.groupRequested(robots, user: "bob")]
        )
        #expect(!directory.isMember("bob", ofGroup: robots))
        _ = directory.apply(
            .groupDecision(robots, user: "bob"),
            payload: ChatState.groupDecision(.approved, request: "r3")
        )
        #expect(
            directory.apply(
                .groupDecision(robots, user: "bob"),
                payload: ChatState.groupDecision(.removed, request: "r3")
            )
                == [.groupDecided(robots, user: "bob", .removed), .groupMember(robots, user: "bob", joined: false)]
        )
        _ = directory.apply(.groupRequest(robots, user: "carol"), payload: ChatState.groupRequest(.requested, id: "c1"))
        #expect(
            directory.apply(
                .groupDecision(robots, user: "carol"),
                payload: ChatState.groupDecision(.rejected, request: "c1")
            )
                == [.groupDecided(robots, user: "carol", .rejected)]
        )
        #expect(directory.members(of: robots) == ["alice"])
        #expect(directory.pendingRequests(of: robots) == [])
        // A decision without a matching request, or a malformed one, makes nobody a member.
        _ = directory.apply(
            .groupDecision(robots, user: "eve"),
            payload: ChatState.groupDecision(.approved, request: "x")
        )
        _ = directory.apply(.groupRequest(robots, user: "dave"), payload: Array("{}".utf8))
        #expect(directory.members(of: robots) == ["alice"])
        // Groups nobody created do not exist, whatever their requests say.
        let ghost = GroupID(owner: "bob", name: "ghost")
        _ = directory.apply(.groupRequest(ghost, user: "eve"), payload: ChatState.groupRequest(.requested, id: "e"))
        #expect(directory.groups == [robots])
    }

    private func router(me: String) -> ChatRouter {
        var router = ChatRouter(layout: layout, me: me, client: "c", follow: .joined, verified: true)
        _ = router.route(message(layout.groupInfo(robots), ChatState.groupCreated))
        _ = router.route(message(layout.groupRequest(robots, by: "bob"), ChatState.groupRequest(.requested, id: "r1")))
        _ = router.route(
            message(layout.groupDecision(robots, for: "bob"), ChatState.groupDecision(.approved, request: "r1"))
        )
        _ = router.route(message(layout.sync(of: me, client: "c"), []))
        return router
    }

    @Test("the owner's router asks for a new key when a member leaves live; not for a snapshot, nor for others")
    func membersLeft() {
        let leaving = message(layout.groupRequest(robots, by: "bob"), ChatState.groupRequest(.left, id: "r2"))
        var alice = router(me: "alice")
        #expect(alice.route(leaving).actions == [.membersLeft(robots)])
        var bob = router(me: "bob")
        #expect(bob.route(leaving).actions == [])
        var retained = leaving
        retained.retained = true
        var again = router(me: "alice")
        #expect(again.route(retained).actions == [])
    }

    @Test("a member's listener follows the group; only members' own words are shown")
    func messages() {
        var bob = router(me: "bob")
        #expect(bob.followedGroups == [robots])
        let chat = { (from: String, text: String) in ChatMessage.message(from: from, text).encoded() }
        let line = bob.route(message(layout.groupMessage(robots, sender: "alice"), chat("alice", "hi"))).lines.first
        #expect(line?.group == robots)
        #expect(line?.from == "alice")
        #expect(
            bob.route(message(layout.groupMessage(robots, sender: "carol"), chat("carol", "intruding"))).lines == []
        )
        #expect(bob.route(message(layout.groupMessage(robots, sender: "bob"), chat("alice", "forged"))).lines == [])
        // Removed: the listener stops following, and bob's own later words are not group messages either.
        let removed = bob.route(
            message(layout.groupDecision(robots, for: "bob"), ChatState.groupDecision(.removed, request: "r1"))
        )
        #expect(removed.actions == [])
        #expect(
            removed.lines.map(\.body) == [
                .event(user: "alice", .groupDecision(robots, .removed, about: "bob")),
                .event(user: "bob", .groupLeft(robots)),
            ]
        )
        #expect(bob.route(message(layout.groupMessage(robots, sender: "alice"), chat("alice", "after"))).lines == [])
    }

    @Test("the owner sees requests live with the command to approve")
    func ownerSeesRequests() {
        var alice = router(me: "alice")
        let request = alice.route(
            message(layout.groupRequest(robots, by: "carol"), ChatState.groupRequest(.requested, id: "c1"))
        )
        #expect(request.lines.map(\.body) == [.event(user: "carol", .groupRequest(robots))])
        let text = ChatLineRenderer().render(request.lines[0], received: .now())
        #expect(
            String(decoding: text.dropFirst(9), as: UTF8.self)
                == "* carol asks to join alice/robots: /group approve alice/robots carol\n"
        )
    }

    @Test("groups listing: pending requests only for the groups you own")
    func listing() {
        var directory = ChatDirectory(me: "bob")
        _ = directory.apply(.groupInfo(robots), payload: ChatState.groupCreated)
        _ = directory.apply(.groupRequest(robots, user: "carol"), payload: ChatState.groupRequest(.requested, id: "c"))
        let mine = GroupID(owner: "bob", name: "robots")
        _ = directory.apply(.groupInfo(mine), payload: ChatState.groupCreated)
        _ = directory.apply(.groupRequest(mine, user: "dave"), payload: ChatState.groupRequest(.requested, id: "d"))
        #expect(
            String(decoding: DirectoryReport.groups(directory, format: .json), as: UTF8.self)
                == #"{"owner":"alice","name":"robots","members":["alice"]}"# + "\n"
                + #"{"owner":"bob","name":"robots","members":["bob"],"pending":["dave"]}"# + "\n"
        )
        #expect(
            String(decoding: DirectoryReport.groups(directory, format: .text), as: UTF8.self)
                == "alice/robots members: alice\nbob/robots members: bob; pending: dave\n"
        )
    }
}
