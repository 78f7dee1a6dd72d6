/// Turns one received MQTT message into one line of output, as text for people or JSON for scripts.
///
/// Text: `12:01:02 <alice> hello`, `12:01:05 * alice joined`, `12:01:06 [raw] plain payload`, with
/// `[topic] ` after the time when more than one topic is shown. Everything from the network goes through
/// `TerminalText`, so a line is always exactly one line and carries no terminal controls.
public struct ChatLineRenderer: Sendable {
    public enum Format: String, Sendable, CaseIterable {
        case text
        case json
    }

    public var format: Format
    /// Show the topic (the listener does when it listens to more than one, or to a wildcard).
    public var showTopic: Bool
    /// ANSI colours (the listener uses them only on a terminal, and never with NO_COLOR).
    public var colors: Bool
    /// The user whose name, said by someone else, marks a line as a mention (highlighted; JSON `"mention"`).
    public var me: String?
    /// Ring the terminal's bell (BEL before the line) for private messages, invitations, requests and
    /// mentions: `listener --bell`, only when the output is a terminal.
    public var bell: Bool

    public init(
        format: Format = .text,
        showTopic: Bool = false,
        colors: Bool = false,
        me: String? = nil,
        bell: Bool = false
    ) {
        self.format = format
        self.showTopic = showTopic
        self.colors = colors
        self.me = me
        self.bell = bell
    }

    /// The line for a message on a raw topic (`-t`), newline included. `received` is when it arrived here.
    public func render(_ message: MQTTMessage, received: ChatTimestamp) -> [UInt8] {
        render(ChatLine(message), received: received)
    }

    /// The line for `line`, newline included. `received` is when it arrived here.
    public func render(_ line: ChatLine, received: ChatTimestamp) -> [UInt8] {
        let mention = mentionsMe(line)
        let rendered =
            switch format {
            case .text: Array(text(line, received: received, mention: mention).utf8)
            case .json: json(line, received: received, mention: mention)
            }
        return bell && (mention || wantsAttention(line)) ? [0x07] + rendered : rendered
    }

    /// Whether someone else's chat line says this user's name.
    private func mentionsMe(_ line: ChatLine) -> Bool {
        guard let me, case .chat(let chat) = line.body, chat.kind != .invite, (line.from ?? chat.from) != me else {
            return false
        }
        return Mention.mentions(chat.text, me)
    }

    /// What asks for this user's attention: a private message, an invitation, a request (to talk, or to join a
    /// group this user owns).
    private func wantsAttention(_ line: ChatLine) -> Bool {
        switch line.body {
        case .chat: line.to != nil && line.to == me
        case .event(_, .groupRequest): true
        default: false
        }
    }

    // MARK: Text

    private func text(_ chatLine: ChatLine, received: ChatTimestamp, mention: Bool) -> String {
        var line = ""
        var time = received
        if case .chat(let chat) = chatLine.body, let sent = chat.time { time = sent }
        line += paint(time.localTimeOfDay, .dim)
        if showTopic && chatLine.room == nil && chatLine.to == nil {
            line += " " + paint("[" + TerminalText.sanitize(chatLine.topic, limit: 128) + "]", .dim)
        }
        if let group = chatLine.group {
            line += " " + paint("[" + ChatLine.Event.group(group) + "]", .room)
        }
        if let room = chatLine.room, chatLine.showRoom {
            line += " " + paint("#" + TerminalText.sanitize(room, limit: 80), .room)
        }
        switch chatLine.body {
        case .chat(let chat):
            let from = chatLine.from ?? chat.from
            let name = TerminalText.displayName(from)
            let text = TerminalText.sanitize(chat.text)
            if chatLine.to != nil { line += " " + paint(chatLine.request ? "[request]" : "[private]", .privately) }
            if chatLine.unexpectedPlaintext { line += " " + paint("[not encrypted]", .warning) }
            let forged = chatLine.claimedFrom.map {
                " " + paint("[forged: claims to be \(TerminalText.displayName($0))]", .warning)
            }
            switch chat.kind {
            case .message:
                line += " " + paint("<" + name + ">", .name(from)) + (forged ?? "") + " "
                line += mention ? paint(text, .mention) : text
                if chatLine.request {
                    line += " " + paint("(to accept: /accept \(name); to block: /block \(name))", .dim)
                }
            case .notice:
                // Notices are sentences about their sender ("alice joined"); don't say the name twice.
                let sentence = chat.text.hasPrefix(from) && !from.isEmpty ? text : name + " " + text
                line += " " + paint("* " + sentence, mention ? .mention : .notice) + (forged ?? "")
            case .invite:
                let room = TerminalText.sanitize(chat.text, limit: 80)
                line += " " + paint("* \(name) invites you to #\(room): /join \(room)", .notice) + (forged ?? "")
            }
        case .event(let user, .topic(let room, let text, let at)):
            line += " " + topicText(room: room, text, setter: user, at: at)
        case .event(let user, let event):
            line += " " + paint("* " + TerminalText.displayName(user) + " " + event.sentence(user), .notice)
        case .raw(let bytes):
            line += " " + paint("[raw]", .raw) + " " + TerminalText.sanitize(bytes)
        }
        return line + "\n"
    }

    /// `#lab topic (set by p01 at 11:58): TEXT`, or `#lab topic cleared by p01`: the listener's line after its
    /// time, and what `/topic` says.
    func topicText(room: String, _ text: String, setter: String, at: ChatTimestamp?) -> String {
        let room = paint("#" + TerminalText.sanitize(room, limit: 80), .room)
        let setter = TerminalText.displayName(setter)
        guard !text.isEmpty else { return room + " " + paint("topic cleared by \(setter)", .notice) }
        let when = at.map { " at " + $0.localTimeOfDay.prefix(5) } ?? ""
        return room + " " + paint("topic (set by \(setter)\(when)):", .notice) + " " + TerminalText.sanitize(text)
    }

    private enum Style {
        case dim, notice, raw, room, privately, warning, mention
        case name(String)
    }

    private static let namePalette = ["31", "32", "33", "34", "35", "36"]

    private func paint(_ text: String, _ style: Style) -> String {
        guard colors else { return text }
        let code: String
        switch style {
        case .dim: code = "2"
        case .notice: code = "3"
        case .raw: code = "35"
        case .room: code = "36"
        case .privately: code = "1;35"
        case .warning: code = "1;31"
        case .mention: code = "1;7"
        case .name(let name):
            // A stable colour per name, so a conversation is easy to follow.
            let hash = name.utf8.reduce(UInt32(2_166_136_261)) { ($0 ^ UInt32($1)) &* 16_777_619 }
            code = "1;" + Self.namePalette[Int(hash % UInt32(Self.namePalette.count))]
        }
        return "\u{1B}[" + code + "m" + text + "\u{1B}[0m"
    }

    // MARK: JSON

    private func json(_ line: ChatLine, received: ChatTimestamp, mention: Bool) -> [UInt8] {
        var writer = JSONWriter(capacity: line.topic.utf8.count + 160)
        writer.add("topic", line.topic)
        switch line.body {
        case .chat(let chat):
            writer.add("type", chat.kind.rawValue)
            writer.add("from", line.from ?? chat.from)
            switch chat.kind {
            case .message: writer.add("message", chat.text)
            case .notice: writer.add("notice", chat.text)
            case .invite: writer.add("invite", chat.text)
            }
            if let time = chat.time { writer.add("time", time) }
        case .event(let user, .topic(_, let text, let at)):
            writer.add("type", "topic")
            writer.add("from", user)
            writer.add("room_topic", text)
            if let at { writer.add("time", at) }
        case .event(let user, let event):
            writer.add("type", "notice")
            writer.add("from", user)
            writer.add("notice", user + " " + event.sentence(user))
            writer.add("event", event.name)
            if let group = event.group { writer.add("group", group.description) }
            if case .away(let text) = event { writer.add("away", text) }
        case .raw(let bytes):
            writer.add("type", "raw")
            if let text = String(validating: bytes, as: UTF8.self) {
                writer.add("payload", text)
            } else {
                // Not UTF-8, so not a JSON string: carried losslessly instead.
                writer.add("payload_base64", Base64.encode(bytes))
            }
        }
        if let room = line.room { writer.add("room", room) }
        if let group = line.group { writer.add("group", group.description) }
        if let to = line.to { writer.add("to", to) }
        if line.request { writer.add("request", true) }
        if mention { writer.add("mention", true) }
        if let claimed = line.claimedFrom {
            writer.add("forged", true)
            writer.add("claimed_from", claimed)
        }
        // An event is what the listener saw in the broker's state; a topic's setter is proven like a sender.
        switch line.body {
        case .event(_, .topic): writer.add("verified", line.verified)
        case .event: break
        default:
            writer.add("verified", line.verified)
            writer.add("encrypted", line.encrypted)
        }
        writer.add("received", received)
        writer.add("retained", line.retained)
        return writer.finishLine()
    }
}

/// One line the listener shows: a chat payload with what its topic proves, or something the listener saw
/// happen in the broker's state (someone came online, joined a room).
public struct ChatLine: Sendable, Hashable {
    public enum Body: Sendable, Hashable {
        case chat(ChatMessage)
        case raw([UInt8])
        case event(user: String, Event)
    }

    /// Changes of state the listener reports as notices.
    public enum Event: Sendable, Hashable {
        case online
        case offline
        case joined(room: String)
        case left(room: String)
        /// The user asks to join a group this user owns.
        case groupRequest(GroupID)
        /// The group's owner (the user) decided on `about`'s request.
        case groupDecision(GroupID, ChatState.GroupDecision, about: String)
        case groupJoined(GroupID)
        case groupLeft(GroupID)
        /// A sealed message from the user that is never shown as one (tampered, moved, replayed...): why.
        case refused(String)
        /// The user's identity key is not the one pinned for them.
        case keyChanged
        /// The keys the broker holds for this user (the user) lack this device (its id): what others seal to
        /// the user does not open here.
        case deviceMissing(String)
        /// The user's keys on the broker are older than ones seen before (put back): ignored.
        case keysRolledBack
        /// The user went away, saying this (possibly nothing).
        case away(String)
        case back
        /// The user set the room's topic to this text (empty: cleared it), at this time by their clock.
        case topic(room: String, String, at: ChatTimestamp?)

        public var name: String {
            switch self {
            case .away: "away"
            case .back: "back"
            case .topic: "topic"
            case .online: "online"
            case .offline: "offline"
            case .joined, .groupJoined: "joined"
            case .left, .groupLeft: "left"
            case .groupRequest: "request"
            case .groupDecision(_, let decision, _): decision.rawValue
            case .refused: "refused"
            case .keyChanged: "key_changed"
            case .deviceMissing: "device_missing"
            case .keysRolledBack: "keys_rolled_back"
            }
        }

        /// What the user did, as the rest of a sentence that starts with their name.
        func sentence(_ user: String) -> String {
            switch self {
            case .online: return "is online"
            case .offline: return "went offline"
            case .joined(let room): return "joined #" + TerminalText.sanitize(room, limit: 80)
            case .left(let room): return "left #" + TerminalText.sanitize(room, limit: 80)
            case .groupRequest(let group):
                let name = Self.group(group)
                return "asks to join \(name): /group approve \(name) \(TerminalText.displayName(user))"
            case .groupDecision(let group, let decision, _):
                switch decision {
                case .approved: return "approved your request to join \(Self.group(group))"
                case .rejected: return "rejected your request to join \(Self.group(group))"
                case .removed: return "removed you from \(Self.group(group))"
                }
            case .groupJoined(let group): return "joined \(Self.group(group))"
            case .groupLeft(let group): return "left \(Self.group(group))"
            case .refused(let reason): return "sent a message that was refused: " + TerminalText.sanitize(reason)
            case .keyChanged:
                let name = TerminalText.displayName(user)
                return "has a new identity key: messages to \(name) stop until you check it (publisher keys \(name)) "
                    + "and accept it (publisher trust \(name))"
            case .deviceMissing(let device):
                return "publishes keys without this device (\(TerminalText.sanitize(device, limit: 40))): what is "
                    + "sealed to \(TerminalText.displayName(user)) does not open here. To use this device too: "
                    + "publisher keys --export FILE on the other one, publisher keys --import FILE here"
            case .keysRolledBack:
                let name = TerminalText.displayName(user)
                return "publishes keys older than ones seen before (an old copy put back?): they are ignored, and "
                    + "messages to \(name) stop until you check it (publisher keys \(name)) and accept them "
                    + "(publisher trust \(name))"
            case .away(let text): return "is away" + (text.isEmpty ? "" : ": " + TerminalText.sanitize(text))
            case .back: return "is back"
            case .topic(let room, let text, _):
                let room = "#" + TerminalText.sanitize(room, limit: 80)
                return text.isEmpty ? "cleared the topic of \(room)" : "set the topic of \(room)"
            }
        }

        static func group(_ group: GroupID) -> String {
            TerminalText.sanitize(group.description, limit: 140)
        }
    }

    public var topic: String
    public var body: Body
    /// The sender the topic names (layout topics); nil on raw topics, where only the payload says.
    public var from: String?
    /// What the payload claimed when it differs from `from`: the message is shown as forged.
    public var claimedFrom: String?
    public var room: String?
    /// The group of a group message.
    public var group: GroupID?
    /// The recipient of a private message or invitation.
    public var to: String?
    /// The broker's ACL proves `from` (false on raw topics and on brokers that do not enforce the layout).
    public var verified: Bool
    /// A private message from someone not yet accepted.
    public var request: Bool
    public var retained: Bool
    /// Name the room on the line (text output): the listener follows several rooms, and not this one's focus.
    public var showRoom: Bool
    /// Decrypted and its signature verified (end-to-end encryption, ChatCrypto).
    public var encrypted = false
    /// Plaintext from someone whose keys were seen: marked `[not encrypted]`.
    public var unexpectedPlaintext = false

    public init(
        topic: String,
        body: Body,
        from: String? = nil,
        claimedFrom: String? = nil,
        room: String? = nil,
        to: String? = nil,
        verified: Bool = false,
        request: Bool = false,
        retained: Bool = false,
        showRoom: Bool = false
    ) {
        self.topic = topic
        self.body = body
        self.from = from
        self.claimedFrom = claimedFrom
        self.room = room
        self.to = to
        self.verified = verified
        self.request = request
        self.retained = retained
        self.showRoom = showRoom
    }

    /// A message on a raw topic: the payload decoded, nothing proven.
    public init(_ message: MQTTMessage) {
        let body: Body
        switch ChatPayload(decoding: message.payload) {
        case .chat(let chat): body = .chat(chat)
        case .raw(let bytes): body = .raw(bytes)
        }
        self.init(topic: message.topic, body: body, retained: message.retained)
    }
}

/// Standard base64 (RFC 4648, with padding), without Foundation.
enum Base64 {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    static func encode(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        out.reserveCapacity((bytes.count + 2) / 3 * 4)
        var index = 0
        while index < bytes.count {
            let chunk = bytes[index..<min(index + 3, bytes.count)]
            var value = UInt32(0)
            for (offset, byte) in chunk.enumerated() { value |= UInt32(byte) << (16 - 8 * offset) }
            for position in 0..<4 {
                if position <= chunk.count {
                    out.append(alphabet[Int((value >> (18 - 6 * position)) & 0x3F)])
                } else {
                    out.append(UInt8(ascii: "="))
                }
            }
            index += 3
        }
        return String(decoding: out, as: UTF8.self)
    }
}

extension ChatLine.Event {
    /// The group an event is about, if any.
    var group: GroupID? {
        switch self {
        case .groupRequest(let group), .groupDecision(let group, _, _), .groupJoined(let group), .groupLeft(let group):
            return group
        default:
            return nil
        }
    }
}
