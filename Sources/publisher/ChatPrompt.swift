import ChatCLI
import ChatProtocol

#if canImport(Glibc)
    import Glibc
#endif

/// The interactive prompt over the chat layout: lines go to the current room (or person), `/commands` act.
/// While it runs the user is online (a retained presence message the connection's will clears), and
/// the room it talks in is shared with the user's listeners as their focus.
struct ChatPrompt {
    let client: MQTTClient
    let layout: ChatLayout
    let me: String
    /// The client's message handler: the broker's state, for /who and /rooms.
    let watcher: DirectoryWatcher
    /// Where plain lines go: a room, or a person (--to).
    var room: String?
    var to: String?
    var group: GroupID?

    init(client: MQTTClient, watcher: DirectoryWatcher, me: String, room: String?, to: String?, group: GroupID?) {
        self.group = group
        self.client = client
        self.watcher = watcher
        self.layout = watcher.layout
        self.me = me
        self.room = room
        self.to = to
    }

    static let help = """
        /join ROOM          join a room and talk there
        /leave [ROOM]       leave a room (default: this one)
        /rooms              the rooms you are in, and rooms with people
        /who [ROOM]         who is online; with a room, who joined it
        /invite USER [ROOM] invite someone (default: this room)
        /msg USER TEXT      a private message
        /accept USER        show USER's private messages plainly
        /block USER         hide everything from USER
        /groups             every group, its members, requests to yours
        /group create NAME | join OWNER/NAME | leave OWNER/NAME
        /group approve|reject|remove OWNER/NAME USER
        /group talk OWNER/NAME   talk in a group you are a member of
        /help               this list
        /quit               leave (exit works too); //text sends "/text"

        """

    var actions: ChatActions { ChatActions(client: client, layout: layout, me: me) }

    mutating func run(_ publisher: LinePublisher, patience: Duration) async {
        let presence = Presence(client: client, layout: layout, me: me, tool: "publisher")
        do {
            try await watcher.start(client, me: me)
            try await presence.announce()
            if let room { try await actions.focus(room) }
        } catch {
            complain(error)
        }
        let input = LineInput(fd: 0)
        while true {
            let place = group.map { "[\($0)]" } ?? to.map { "@" + $0 } ?? "#" + (room ?? "")
            Terminal.writeAll(Array("\(me) \(place)> ".utf8), to: 1)
            guard let line = await input.next() else { break }
            let text = String(decoding: line, as: UTF8.self)
            if text == "exit" || text == "/quit" { break }
            if text.isEmpty { continue }
            if text.hasPrefix("/") && !text.hasPrefix("//") {
                await command(text)
                continue
            }
            let body = text.hasPrefix("//") ? String(text.dropFirst()) : text
            if let group {
                do { try await actions.sendToGroup(group, body) } catch { complain(error) }
            } else if let to {
                do { try await actions.message(to, body) } catch { complain(error) }
            } else if let room {
                guard await publisher.send(body, to: layout.room(room, sender: me), patience: patience) else { break }
            }
        }
        presence.withdraw()
    }

    private mutating func command(_ line: String) async {
        let words = line.dropFirst().split(separator: " ", maxSplits: 2, omittingEmptySubsequences: true).map(
            String.init
        )
        guard let word = words.first else { return complainText("type /help for the commands") }
        let arguments = Array(words.dropFirst())
        do {
            switch (word, arguments.count) {
            case ("help", _):
                say(Self.help)
            case ("join", 1):
                try ChatName.validate(arguments[0], as: "room")
                try await actions.join(arguments[0])
                try await actions.focus(arguments[0])
                (room, to, group) = (arguments[0], nil, nil)
            case ("leave", 0...1):
                guard let left = arguments.first ?? room else { return complainText("usage: /leave ROOM") }
                try ChatName.validate(left, as: "room")
                try await actions.leave(left)
                if left == room {
                    room = ChatLayout.defaultRoom
                    try await actions.focus(ChatLayout.defaultRoom)
                }
            case ("groups", 0):
                Terminal.writeAll(DirectoryReport.groups(await watcher.snapshot(), format: .text), to: 1)
            case ("group", 1...2):
                try await groupCommand(arguments)
            case ("rooms", 0), ("who", 0...1):
                let directory = await watcher.snapshot()
                if word == "rooms" {
                    Terminal.writeAll(DirectoryReport.rooms(directory, format: .text), to: 1)
                } else {
                    if let room = arguments.first { try ChatName.validate(room, as: "room") }
                    Terminal.writeAll(DirectoryReport.who(directory, room: arguments.first, format: .text), to: 1)
                }
            case ("invite", 1...2):
                guard let target = arguments.count == 2 ? arguments[1] : room else {
                    return complainText("usage: /invite USER ROOM")
                }
                try ChatName.validate(arguments[0], as: "user name")
                try ChatName.validate(target, as: "room")
                try await actions.invite(arguments[0], to: target)
                say("invited \(arguments[0]) to #\(target)\n")
            case ("msg", 2):
                try ChatName.validate(arguments[0], as: "user name")
                try await actions.message(arguments[0], arguments[1])
            case ("accept", 1), ("block", 1):
                try ChatName.validate(arguments[0], as: "user name")
                try await actions.setContact(arguments[0], word == "accept" ? .accepted : .blocked)
                say("\(word == "accept" ? "accepted" : "blocked") \(arguments[0])\n")
            case ("join", _), ("leave", _), ("who", _), ("rooms", _), ("invite", _), ("msg", _), ("accept", _),
                ("block", _), ("groups", _), ("group", _):
                complainText("wrong arguments for /\(word); type /help")
            default:
                complainText(
                    "unknown command /\(TerminalText.sanitize(word, limit: 40)) (type /help; //text sends /text)"
                )
            }
        } catch {
            complain(error)
        }
    }

    /// `/group VERB ...`: the same checks as the one-shot commands, on the directory kept current here.
    private mutating func groupCommand(_ arguments: [String]) async throws(MQTTError) {
        let words = arguments.joined(separator: " ").split(separator: " ").map(String.init)
        let directory = await watcher.snapshot()
        switch (words.first, words.count) {
        case ("create", 2):
            try ChatName.validate(words[1], as: "group name")
            try await actions.createGroup(words[1])
            say("created \(me)/\(words[1])\n")
        case ("join", 2), ("leave", 2), ("talk", 2):
            let id = try GroupID(parsing: words[1])
            guard directory.groups.contains(id) else { throw MQTTError(.refusedByState, "There is no group \(id).") }
            if words[0] == "join" {
                try await actions.requestGroup(id)
                say("asked \(id.owner) to let you join \(id)\n")
            } else if words[0] == "leave" {
                try await actions.leaveGroup(id)
                if group == id { (group, room) = (nil, ChatLayout.defaultRoom) }
            } else {
                guard directory.isMember(me, ofGroup: id) else {
                    throw MQTTError(.refusedByState, "\(me) is not a member of \(id) (yet).")
                }
                (group, to, room) = (id, nil, nil)
            }
        case ("approve", 3), ("reject", 3), ("remove", 3):
            let id = try GroupID(parsing: words[1])
            try ChatName.validate(words[2], as: "user name")
            guard let request = directory.request(of: words[2], for: id) else {
                throw MQTTError(.refusedByState, "\(words[2]) has not asked to join \(id).")
            }
            let decisions: [String: ChatState.GroupDecision] = [
                "approve": .approved, "reject": .rejected, "remove": .removed,
            ]
            let decision = decisions[words[0]] ?? .rejected
            try await actions.decide(id, words[2], decision, request: request)
            say("\(decision.rawValue) \(words[2]) for \(id)\n")
        default:
            complainText(
                "usage: /group create NAME | join|leave|talk OWNER/NAME | approve|reject|remove OWNER/NAME USER"
            )
        }
    }

    private func say(_ text: String) {
        Terminal.writeAll(Array(text.utf8), to: 1)
    }

    private func complain(_ error: MQTTError) {
        complainText(error.message)
    }

    private func complainText(_ text: String) {
        report("publisher", text)
    }
}
