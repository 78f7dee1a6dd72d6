import Testing

@testable import ChatProtocol

/// Room topics and away messages: retained state like memberships, read by the same reducer and router.
@Suite("room topics and away")
struct TopicAndAwayTests {
    let layout = ChatLayout()
    let noon = ChatTimestamp(millisecondsSince1970: 1_700_000_000_000)

    private func message(_ topic: String, _ payload: [UInt8], retained: Bool = false) -> MQTTMessage {
        MQTTMessage(topic: topic, payload: payload, qos: .atLeastOnce, retained: retained)
    }

    /// A topic as the tools publish it: stamped with the time it was set.
    private func topic(_ text: String, at time: ChatTimestamp) -> [UInt8] {
        ChatState.stamped(ChatState.roomTopic(text), at: time)
    }

    private func later(_ seconds: Int64) -> ChatTimestamp {
        ChatTimestamp(millisecondsSince1970: noon.millisecondsSince1970 + seconds * 1000)
    }

    private func router(_ follow: ChatRouter.Follow = .joined, state: [MQTTMessage] = []) -> ChatRouter {
        var router = ChatRouter(layout: layout, me: "alice", client: "c1", follow: follow, verified: true)
        for input in state { _ = router.route(input) }
        return router
    }

    private func sync(_ router: inout ChatRouter) -> [ChatLine] {
        router.route(message(layout.sync(of: "alice", client: "c1"), [])).lines
    }

    @Test("topics: chat/topics/<room>/<setter> and chat/users/<user>/away are built and parsed back")
    func topics() {
        #expect(layout.roomTopic("lab", setter: "p01") == "chat/topics/lab/p01")
        #expect(layout.parse("chat/topics/lab/p01") == .roomTopic(room: "lab", setter: "p01"))
        #expect(layout.away(of: "bob") == "chat/users/bob/away")
        #expect(layout.parse("chat/users/bob/away") == .away(user: "bob"))
        for foreign in ["chat/topics/lab", "chat/topics/lab/p01/x", "chat/users/bob/gone", "chat/topics//p01"] {
            #expect(layout.parse(foreign) == nil, "\(foreign)")
        }
        #expect(
            layout.stateFilters(of: "alice").suffix(3) == ["chat/users/+/away", "chat/topics/+/+", "chat/users/+/keys"]
        )
    }

    @Test("a room's topic is the newest set, whoever set it and in whatever order the copies arrive")
    func newestTopic() {
        let claims = [
            ("p01", topic("step 1", at: noon)), ("p02", topic("step 2", at: later(60))),
            ("p03", topic("step 0", at: later(-60))),
        ]
        for order in [[0, 1, 2], [2, 1, 0], [1, 0, 2], [1, 2, 0]] {
            var directory = ChatDirectory(me: "alice")
            for index in order {
                _ = directory.apply(.roomTopic(room: "lab", setter: claims[index].0), payload: claims[index].1)
            }
            #expect(directory.topic(of: "lab") == .init(text: "step 2", setter: "p02", at: later(60)), "\(order)")
        }
        var directory = ChatDirectory(me: "alice")
        #expect(
            directory.apply(.roomTopic(room: "lab", setter: "p01"), payload: topic("step 1", at: noon))
                == [.roomTopic(room: "lab", .init(text: "step 1", setter: "p01", at: noon))]
        )
        // An older claim changes nothing; an empty newer one clears the topic; removing it brings the older back.
        #expect(directory.apply(.roomTopic(room: "lab", setter: "p02"), payload: topic("old", at: later(-5))) == [])
        let cleared = ChatDirectory.RoomTopic(text: "", setter: "p03", at: later(5))
        #expect(
            directory.apply(.roomTopic(room: "lab", setter: "p03"), payload: topic("", at: later(5)))
                == [.roomTopic(room: "lab", cleared)]
        )
        #expect(directory.topic(of: "lab") == nil)
        #expect(directory.apply(.roomTopic(room: "lab", setter: "p03"), payload: []).count == 1)
        #expect(directory.topic(of: "lab")?.text == "step 1")
        // Not a topic: ignored.
        #expect(directory.apply(.roomTopic(room: "lab", setter: "p04"), payload: Array("x".utf8)) == [])
        #expect(directory.knownRooms == ["general", "lab"])
    }

    @Test("a listener shows each followed room's topic when it starts, then its changes, and on joining a room")
    func topicLines() {
        let retained = [
            message("chat/topics/lab/p01", topic("step 2 is on the board", at: noon), retained: true),
            message("chat/topics/other/p01", topic("not followed", at: noon), retained: true),
            message("chat/users/alice/rooms/lab", ChatState.membership(joined: true), retained: true),
        ]
        var router = router(state: retained)
        let start = sync(&router)
        #expect(start.map(\.body) == [.event(user: "p01", .topic(room: "lab", "step 2 is on the board", at: noon))])
        #expect(start.first?.room == "lab")
        #expect(start.first?.retained == true)
        #expect(start.first?.topic == "chat/topics/lab/p01")
        // Live: a new topic, then cleared.
        let set = router.route(message("chat/topics/lab/p02", topic("step 3", at: later(60)))).lines
        #expect(set.map(\.body) == [.event(user: "p02", .topic(room: "lab", "step 3", at: later(60)))])
        let clear = router.route(message("chat/topics/lab/p01", topic("", at: later(90)))).lines
        #expect(clear.map(\.body) == [.event(user: "p01", .topic(room: "lab", "", at: later(90)))])
        // Joining #other shows its topic after the join notice.
        let join = router.route(message("chat/users/alice/rooms/other", ChatState.membership(joined: true))).lines
        #expect(
            join.map(\.body) == [
                .event(user: "alice", .joined(room: "other")),
                .event(user: "p01", .topic(room: "other", "not followed", at: noon)),
            ]
        )
        // A room not followed: nothing.
        #expect(router.route(message("chat/topics/elsewhere/p01", topic("x", at: noon))).lines == [])
        // --room follows its rooms' topics; --all every room's.
        var selected = self.router(.selected(rooms: ["other"], groups: []), state: retained)
        #expect(sync(&selected).map(\.room) == ["other"])
        var all = self.router(.all, state: retained)
        #expect(sync(&all).map(\.room) == ["lab", "other"])
    }

    @Test("the topic line: as text, and as JSON with room, room_topic and the setter")
    func rendering() {
        let line = ChatLine(
            topic: "chat/topics/lab/p01",
            body: .event(user: "p01", .topic(room: "lab", "step 2\u{1B}[31m", at: noon)),
            from: "p01",
            room: "lab",
            verified: true,
            retained: true
        )
        let text = String(decoding: ChatLineRenderer().render(line, received: noon), as: UTF8.self)
        let clock = noon.localTimeOfDay
        #expect(text == "\(clock) #lab topic (set by p01 at \(clock.prefix(5))): step 2\\e[31m\n")
        var cleared = line
        cleared.body = .event(user: "p01", .topic(room: "lab", "", at: noon))
        #expect(
            String(decoding: ChatLineRenderer().render(cleared, received: noon), as: UTF8.self)
                == "\(clock) #lab topic cleared by p01\n"
        )
        let json = String(decoding: ChatLineRenderer(format: .json).render(line, received: noon), as: UTF8.self)
        #expect(
            json
                == #"{"topic":"chat/topics/lab/p01","type":"topic","from":"p01","room_topic":"step 2\u001b[31m","#
                + #""time":"2023-11-14T22:13:20.000Z","room":"lab","verified":true,"received":"2023-11-14T22:13:20.000Z","#
                + #""retained":true}"# + "\n"
        )
    }

    @Test("away: per user until back, announced to people sharing a room while online; offline wins")
    func away() {
        let online = ChatState.presence(tool: "listener", since: noon)
        var router = router()
        _ = sync(&router)
        // bob is offline: away is remembered, not announced, and who says offline.
        #expect(router.route(message("chat/users/bob/away", ChatState.away("lunch"))).lines == [])
        #expect(router.directory.awayText(of: "bob") == nil)
        _ = router.route(message("chat/users/bob/online/b1", online))
        #expect(router.directory.awayText(of: "bob") == "lunch")
        #expect(
            String(decoding: DirectoryReport.who(router.directory, room: nil, format: .text), as: UTF8.self)
                == "bob away: lunch\n"
        )
        #expect(
            String(decoding: DirectoryReport.who(router.directory, room: nil, format: .json), as: UTF8.self)
                == #"{"user":"bob","status":"away","away":"lunch","connections":1}"# + "\n"
        )
        #expect(router.route(message("chat/users/bob/away", [])).lines.map(\.body) == [.event(user: "bob", .back)])
        #expect(
            router.route(message("chat/users/bob/away", ChatState.away(""))).lines.map(\.body) == [
                .event(user: "bob", .away(""))
            ]
        )
        #expect(
            String(decoding: DirectoryReport.who(router.directory, room: nil, format: .text), as: UTF8.self)
                == "bob away\n"
        )
        // Retained (the snapshot): silent. Oneself: silent.
        #expect(router.route(message("chat/users/bob/away", ChatState.away("x"), retained: true)).lines == [])
        _ = router.route(message("chat/users/alice/online/c1", online))
        #expect(router.route(message("chat/users/alice/away", ChatState.away("brb"))).lines == [])
        // A stranger (not in a room with alice): silent.
        _ = router.route(message("chat/users/dave/rooms/general", ChatState.membership(joined: false)))
        _ = router.route(message("chat/users/dave/online/d1", online))
        #expect(router.route(message("chat/users/dave/away", ChatState.away("x"))).lines == [])
        // Offline wins.
        _ = router.route(message("chat/users/bob/online/b1", []))
        #expect(router.directory.awayText(of: "bob") == nil)
        #expect(
            String(decoding: DirectoryReport.who(router.directory, room: nil, format: .text), as: UTF8.self)
                == "alice away: brb\ndave away: x\n"
        )
        // The text of the notice, as the listener shows it.
        let line = ChatLine(topic: "chat/users/bob/away", body: .event(user: "bob", .away("lunch")), from: "bob")
        let shown = String(decoding: ChatLineRenderer().render(line, received: noon), as: UTF8.self)
        #expect(shown == "\(noon.localTimeOfDay) * bob is away: lunch\n")
        let json = String(decoding: ChatLineRenderer(format: .json).render(line, received: noon), as: UTF8.self)
        #expect(json.contains(#""notice":"bob is away: lunch","event":"away","away":"lunch","#))
    }

    @Test("rooms lists a room's topic; /topic alone says it")
    func reports() {
        var directory = ChatDirectory(me: "alice")
        _ = directory.apply(.roomTopic(room: "general", setter: "p01"), payload: topic("welcome", at: noon))
        #expect(
            String(decoding: DirectoryReport.rooms(directory, format: .text), as: UTF8.self)
                == "#general 1 member, 0 online: alice (you are in it); topic: welcome\n"
        )
        #expect(
            String(decoding: DirectoryReport.rooms(directory, format: .json), as: UTF8.self)
                == #"{"room":"general","members":["alice"],"online":0,"joined":true,"room_topic":"welcome","#
                + #""topic_from":"p01"}"# + "\n"
        )
        #expect(
            DirectoryReport.topic(directory, room: "general")
                == "#general topic (set by p01 at \(noon.localTimeOfDay.prefix(5))): welcome\n"
        )
        #expect(DirectoryReport.topic(directory, room: "lab") == "#lab has no topic\n")
    }
}
