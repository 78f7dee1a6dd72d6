import ChatCrypto
import ChatProtocol

#if canImport(Glibc)
    import Glibc
#endif

/// A user's key files on this machine, per user and broker, under `$XDG_DATA_HOME/mqtt-chat/keys/`
/// (else `~/.local/share/mqtt-chat/keys/`), in a folder of mode 0700 (their text: ChatCrypto's `KeyFiles`):
/// - `identity` and `device`: the private keys, mode 0600; a key file others can read is refused (exit 77);
/// - `known_keys`: the identity key pinned for each user;
/// - `key_versions`: the newest version of each user's bundle seen (an older one put back is refused);
/// - `seen-<client id>`: the replay record of one listener session;
/// - `group_keys`: the groups' epoch keys this user was handed or made (mode 0600);
/// - `published`: the bundle this device last saw the broker keep (so it is published once, not each run).
public struct KeyStore: Sendable {
    public let directory: String
    public let user: String

    public init(user: String, host: String, port: Int) {
        let base = PrivateFiles.folder("XDG_DATA_HOME", else: ".local/share", "keys")
        directory = base + "/" + PrivateFiles.fileName("\(user)@\(host):\(port)")
        self.user = user
    }

    /// This device's keys; nil when there are none yet. Throws (exit 77) when a key file is readable by
    /// others, (exit 1) when one is damaged.
    public func load() throws(MQTTError) -> UserKeys? {
        guard let identity = try readPrivate("identity"), let device = try readPrivate("device") else { return nil }
        guard let keys = KeyFiles.keys(user: user, identity: identity, device: device) else {
            throw MQTTError(.failure, "The key files in \(directory) are damaged: move them away to start anew.")
        }
        return keys
    }

    /// This device's keys, created on first use (`created`).
    public func loadOrCreate() throws(MQTTError) -> (keys: UserKeys, created: Bool) {
        if let keys = try load() { return (keys, false) }
        let keys = UserKeys.generate(user: user)
        try save(keys)
        return (keys, true)
    }

    /// Writes both private keys (replacing them: `keys --new`, `--import`).
    public func save(_ keys: UserKeys) throws(MQTTError) {
        let (identity, device) = KeyFiles.privateFiles(keys)
        try write("identity", identity)
        try write("device", device)
        unlink(path("published"))
    }

    /// The pinned identity keys.
    public func pins() -> [String: [UInt8]] { KeyFiles.pins(text("known_keys") ?? "") }

    /// The newest bundle version seen per user.
    public func versions() -> [String: Int64] { KeyFiles.versions(text("key_versions") ?? "") }

    /// Pins `identity` for `user` and takes `version` as the newest of their bundle, replacing what was
    /// pinned and seen (`trust`: also accepts a bundle older than one seen).
    public func trust(_ user: String, identity: [UInt8], version: Int64) throws(MQTTError) {
        var pins = pins()
        pins[user] = identity
        try write("known_keys", KeyFiles.pinsText(pins))
        var versions = versions()
        versions[user] = version
        try write("key_versions", versions.keys.sorted().map { KeyFiles.versionLine($0, versions[$0]!) }.joined())
    }

    /// The replay record of the listener session `client`.
    public func replays(client: String, now: ChatTimestamp) -> ReplayRecord {
        KeyFiles.replays(text(seen(client)) ?? "", now: now.millisecondsSince1970)
    }

    /// Starts the replay record of `client` anew with what is still in its window (it only grows otherwise).
    public func compactReplays(client: String, _ record: ReplayRecord) {
        try? write(seen(client), KeyFiles.replaysText(record))
    }

    /// Writes what the opener decided to remember (one line appended).
    public func write(_ entry: KeyRecord, client: String) {
        guard PrivateFiles.makeDirectory(directory) else { return }
        switch entry {
        case .pinned(let user, let identity):
            PrivateFiles.append(Array(KeyFiles.pinLine(user, identity).utf8), to: path("known_keys"))
        case .seen(let id, let time):
            PrivateFiles.append(Array(KeyFiles.seenLine(id, time).utf8), to: path(seen(client)))
        case .groupEpoch(let group, let epoch):
            PrivateFiles.append(Array(KeyFiles.groupEpochLine(group, epoch).utf8), to: path("group_keys"))
        case .bundleVersion(let user, let version):
            PrivateFiles.append(Array(KeyFiles.versionLine(user, version).utf8), to: path("key_versions"))
        }
    }

    /// The groups' epoch keys kept here. Refused like a private key file when others may read it.
    public func groupEpochs() throws(MQTTError) -> [GroupID: [GroupEpoch]] {
        KeyFiles.groupEpochs(try readPrivate("group_keys") ?? "")
    }

    public var published: [UInt8]? { PrivateFiles.read(path("published")) }

    public func setPublished(_ payload: [UInt8]) {
        try? write("published", String(decoding: payload, as: UTF8.self))
    }

    private func seen(_ client: String) -> String { "seen-" + PrivateFiles.fileName(client) }

    private func path(_ name: String) -> String { directory + "/" + name }

    private func text(_ name: String) -> String? {
        PrivateFiles.read(path(name)).map { String(decoding: $0, as: UTF8.self) }
    }

    /// A private key file's text; nil when absent. Refused when others may read or write it.
    private func readPrivate(_ name: String) throws(MQTTError) -> String? {
        var info = stat()
        guard stat(path(name), &info) == 0 else { return nil }
        let mode = info.st_mode & 0o777
        guard mode & 0o077 == 0 else {
            throw MQTTError(
                .notAuthorized,
                "The key file \(path(name)) is readable by others (mode \(String(mode, radix: 8))): run chmod 600 "
                    + "\(path(name))."
            )
        }
        return text(name)
    }

    private func write(_ name: String, _ text: String) throws(MQTTError) {
        guard PrivateFiles.makeDirectory(directory), PrivateFiles.write(Array(text.utf8), to: path(name)) else {
            throw MQTTError(.failure, "Cannot write \(path(name)): \(String(cString: strerror(errno))).")
        }
    }
}
