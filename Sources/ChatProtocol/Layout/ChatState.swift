/// The retained state messages of the layout: small JSON objects of string members, and an empty payload
/// for "forgotten" (publishing it retained removes the message from the broker).
public enum ChatState {
    public enum Contact: String, Sendable, Hashable {
        case accepted
        case blocked
    }

    public static func membership(joined: Bool) -> [UInt8] { object(["state": joined ? "joined" : "left"]) }
    public static func presence(tool: String, since: ChatTimestamp) -> [UInt8] {
        object(["status": "online", "tool": tool, "since": since.rfc3339])
    }
    public static func contact(_ status: Contact) -> [UInt8] { object(["status": status.rawValue]) }
    public static func focus(room: String) -> [UInt8] { object(["room": room]) }
    /// Away, with what the user said (possibly nothing); "back" removes the message.
    public static func away(_ text: String) -> [UInt8] { object(["status": "away", "away": text]) }
    /// A room's topic as one user set it; an empty text clears the topic (it is the newest word on it).
    public static func roomTopic(_ text: String) -> [UInt8] { object(["topic": text]) }

    /// A group's existence, written by its owner.
    public static let groupCreated: [UInt8] = object(["state": "created"])

    /// What a user says about a group: asking to join (`requested`) or leaving (`left`). Each request has an
    /// id, so an old approval never lets someone who left back in.
    public enum GroupRequest: String, Sendable, Hashable {
        case requested
        case left
    }

    /// What the owner decided about one request.
    public enum GroupDecision: String, Sendable, Hashable {
        case approved
        case rejected
        case removed
    }

    public static func groupRequest(_ status: GroupRequest, id: String) -> [UInt8] {
        object(["status": status.rawValue, "request": id])
    }

    public static func groupDecision(_ status: GroupDecision, request id: String) -> [UInt8] {
        object(["status": status.rawValue, "request": id])
    }

    /// A new request id.
    public static func newRequestID() -> String {
        String(UInt64.random(in: 0...UInt64.max), radix: 36)
    }

    /// What a journal records for state that was removed (`StateJournal`).
    static let cleared: [UInt8] = object(["cleared": "true"])

    /// `payload` (a state object of string members) with the time it was written, `at`, which says which of
    /// two values is newer (`StateJournal`); a payload that is not such an object is returned as it is.
    public static func stamped(_ payload: [UInt8], at: ChatTimestamp) -> [UInt8] {
        guard var members = members(payload) else { return payload }
        members["at"] = at.rfc3339
        var writer = JSONWriter()
        for key in members.keys.sorted() { writer.add(member: key, members[key]!) }
        return writer.finish()
    }

    /// The string members of a state payload, or nil when it is not a JSON object.
    public static func members(_ payload: [UInt8]) -> [String: String]? {
        payload.withUnsafeBufferPointer { bytes in JSONScanner.topLevelObject(bytes)?.strings }
    }

    private static func object(_ members: KeyValuePairs<StaticString, String>) -> [UInt8] {
        var writer = JSONWriter()
        for (key, value) in members { writer.add(key, value) }
        return writer.finish()
    }
}
