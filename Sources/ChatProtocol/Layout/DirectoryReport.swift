/// The answers of the `who` and `rooms` queries, as text for people or one JSON object per line.
public enum DirectoryReport {
    /// Who is online; with `room`, everyone who joined it, online or not.
    public static func who(_ directory: ChatDirectory, room: String?, format: ChatLineRenderer.Format) -> [UInt8] {
        let users = room.map { directory.members(of: $0) } ?? directory.onlineUsers
        var out: [UInt8] = []
        for user in users {
            let online = directory.isOnline(user)
            let connections = directory.connectionCount(of: user)
            // Away only while online: an away user with no connection is offline.
            let away = directory.awayText(of: user)
            let status = away != nil ? "away" : online ? "online" : "offline"
            switch format {
            case .text:
                var line = TerminalText.displayName(user) + " " + status
                if let away, !away.isEmpty { line += ": " + TerminalText.sanitize(away, limit: 200) }
                if connections > 1 { line += " (\(connections) connections)" }
                out += Array((line + "\n").utf8)
            case .json:
                var writer = JSONWriter()
                writer.add("user", user)
                writer.add("status", status)
                if let away { writer.add("away", away) }
                writer.add("connections", connections)
                if let room { writer.add("room", room) }
                out += writer.finishLine()
            }
        }
        if users.isEmpty && format == .text {
            out += Array(
                (room.map { "nobody has joined #\(TerminalText.sanitize($0, limit: 80))" } ?? "nobody is online").utf8
            )
            out.append(0x0A)
        }
        return out
    }

    /// The room's topic, as `/topic` says it.
    public static func topic(_ directory: ChatDirectory, room: String) -> String {
        guard let topic = directory.topic(of: room) else {
            return "#\(TerminalText.sanitize(room, limit: 80)) has no topic\n"
        }
        return ChatLineRenderer().topicText(room: room, topic.text, setter: topic.setter, at: topic.at) + "\n"
    }

    /// The rooms this user is in, and every room with people in it.
    public static func rooms(_ directory: ChatDirectory, format: ChatLineRenderer.Format) -> [UInt8] {
        let mine = Set(directory.rooms(of: directory.me))
        var out: [UInt8] = []
        var listed = Set<String>()
        for (room, members) in directory.roomsWithPeople + mine.sorted().map({ ($0, directory.members(of: $0)) }) {
            guard listed.insert(room).inserted else { continue }
            let online = members.filter { directory.isOnline($0) }.count
            switch format {
            case .text:
                var line = "#" + TerminalText.sanitize(room, limit: 80) + " "
                line += "\(members.count) \(members.count == 1 ? "member" : "members"), \(online) online"
                if !members.isEmpty { line += ": " + members.map(TerminalText.displayName).joined(separator: ", ") }
                if mine.contains(room) { line += " (you are in it)" }
                if let topic = directory.topic(of: room) { line += "; topic: " + TerminalText.sanitize(topic.text) }
                out += Array((line + "\n").utf8)
            case .json:
                var writer = JSONWriter()
                writer.add("room", room)
                writer.add("members", members)
                writer.add("online", online)
                writer.add("joined", mine.contains(room))
                if let topic = directory.topic(of: room) {
                    writer.add("room_topic", topic.text)
                    writer.add("topic_from", topic.setter)
                }
                out += writer.finishLine()
            }
        }
        return out
    }
}

extension DirectoryReport {
    /// Every group with its owner and members; for the groups this user owns, the pending requests too.
    public static func groups(_ directory: ChatDirectory, format: ChatLineRenderer.Format) -> [UInt8] {
        var out: [UInt8] = []
        for group in directory.groups {
            let members = directory.members(of: group)
            let pending = group.owner == directory.me ? directory.pendingRequests(of: group) : nil
            switch format {
            case .text:
                var line =
                    ChatLine.Event.group(group) + " members: "
                    + members.map(TerminalText.displayName).joined(separator: ", ")
                if let pending, !pending.isEmpty {
                    line += "; pending: " + pending.map(TerminalText.displayName).joined(separator: ", ")
                }
                out += Array((line + "\n").utf8)
            case .json:
                var writer = JSONWriter()
                writer.add("owner", group.owner)
                writer.add("name", group.name)
                writer.add("members", members)
                if let pending { writer.add("pending", pending) }
                out += writer.finishLine()
            }
        }
        if directory.groups.isEmpty && format == .text { out += Array("no groups yet\n".utf8) }
        return out
    }
}
