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
        let base = PrivateFiles.folder("XDG_STATE_HOME", else: ".local/state", "journal")
        directory = base + "/" + PrivateFiles.fileName("\(user)@\(host):\(port)")
    }

    /// The journal of `user`'s state on the broker `configuration` connects to.
    public init(_ configuration: MQTTConfiguration, user: String) {
        self.init(user: user, host: configuration.host, port: configuration.port)
    }

    /// Records the value just written to `topic` (empty: removed). Best effort: a journal that cannot be
    /// written costs only the restore after a broker crash, never the command.
    public func record(_ topic: String, _ payload: [UInt8], at: ChatTimestamp) {
        guard PrivateFiles.makeDirectory(directory) else { return }
        let entry = [UInt8]("\(topic)\n".utf8) + StateJournal.entry(payload, at: at)
        _ = PrivateFiles.write(entry, to: directory + "/" + PrivateFiles.fileName(topic))
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
                // Never a state value when longer.
                let bytes = PrivateFiles.read(directory + "/" + name, limit: 65_536),
                let newline = bytes.firstIndex(of: 0x0A)
            else { continue }
            journal[String(decoding: bytes[..<newline], as: UTF8.self)] = Array(bytes[(newline + 1)...])
        }
        return journal
    }
}
