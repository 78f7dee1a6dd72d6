import ChatProtocol

#if canImport(Glibc)
    import Glibc
#endif

/// Where a user's tools keep the journal of the state they wrote to one broker (`StateJournal`): a folder
/// per user and broker under `$XDG_STATE_HOME/mqtt-chat/journal/` (else `~/.local/state/...`), mode 0700,
/// one file per topic, mode 0600, written whole and renamed into place so that concurrent tools (a prompt,
/// one-shot commands, a listener) never see half a value and never lose another's topic.
public struct StateJournalFile: Sendable {
    public let directory: String

    public init(user: String, host: String, port: Int) {
        directory = Self.stateFolder("journal") + "/" + Self.fileName("\(user)@\(host):\(port)")
    }

    /// `$XDG_STATE_HOME/mqtt-chat/NAME` (else `~/.local/state/mqtt-chat/NAME`): where the tools keep what they
    /// remember per user and broker (this journal, the prompt's history).
    static func stateFolder(_ name: String) -> String {
        let home = getenv("HOME").map { String(cString: $0) } ?? "/tmp"
        let state = getenv("XDG_STATE_HOME").map { String(cString: $0) }.flatMap { $0.hasPrefix("/") ? $0 : nil }
        return (state ?? home + "/.local/state") + "/mqtt-chat/" + name
    }

    /// The journal of `user`'s state on the broker `configuration` connects to.
    public init(_ configuration: MQTTConfiguration, user: String) {
        self.init(user: user, host: configuration.host, port: configuration.port)
    }

    /// Records the value just written to `topic` (empty: removed). Best effort: a journal that cannot be
    /// written costs only the restore after a broker crash, never the command.
    public func record(_ topic: String, _ payload: [UInt8], at: ChatTimestamp) {
        guard makeDirectory() else { return }
        let path = directory + "/" + Self.fileName(topic)
        let temporary = path + ".\(getpid()).new"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return }
        let entry = [UInt8]("\(topic)\n".utf8) + StateJournal.entry(payload, at: at)
        let written = entry.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) } == entry.count
        close(fd)
        if !written || rename(temporary, path) != 0 { unlink(temporary) }
    }

    /// Every topic's last recorded value (the topic is the file's first line).
    public func load() -> [String: [UInt8]] {
        guard let folder = opendir(directory) else { return [:] }
        defer { closedir(folder) }
        var journal: [String: [UInt8]] = [:]
        while let item = readdir(folder) {
            let name = withUnsafeBytes(of: item.pointee.d_name) {
                String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self)
            }
            guard !name.hasPrefix("."), !name.hasSuffix(".new"),
                let bytes = Self.readFile(directory + "/" + name, limit: 65_536),
                let newline = bytes.firstIndex(of: 0x0A)
            else { continue }
            journal[String(decoding: bytes[..<newline], as: UTF8.self)] = Array(bytes[(newline + 1)...])
        }
        return journal
    }

    /// The whole file at `path`; nil when it cannot be read or is longer than `limit` bytes (never a state
    /// value, for the journal).
    static func readFile(_ path: String, limit: Int) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if count <= 0 { break }
            bytes += buffer[..<count]
            if bytes.count > limit { return nil }
        }
        return bytes
    }

    private func makeDirectory() -> Bool { Self.makeDirectory(directory) }

    /// Creates the folder and its parents, private to the user.
    static func makeDirectory(_ directory: String) -> Bool {
        var path = ""
        for part in directory.split(separator: "/") {
            path += "/" + part
            if mkdir(path, 0o700) != 0 && errno != EEXIST { return false }
        }
        return true
    }

    /// A name without `/` (and without a leading dot) for a topic or a broker: `%` and `/` percent-encoded.
    static func fileName(_ text: String) -> String {
        var name = ""
        for character in text {
            switch character {
            case "%": name += "%25"
            case "/": name += "%2F"
            case "." where name.isEmpty: name += "%2E"
            default: name.append(character)
            }
        }
        return name
    }
}
