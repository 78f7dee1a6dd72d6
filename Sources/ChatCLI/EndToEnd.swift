import ChatCrypto
import ChatProtocol
import MQTTPaho
import Synchronization

/// The tools' side of end-to-end encryption: loading the key files (KeyStore), publishing this device's
/// keys, reading other users' key bundles, and deciding, before a private message goes, whether it is
/// sealed, sent plaintext, or refused (a changed key). The cryptography is ChatCrypto's.
public enum EndToEnd {
    /// The key store of `user` on the broker `configuration` connects to.
    public static func store(_ configuration: MQTTConfiguration, user: String) -> KeyStore {
        KeyStore(user: user, host: configuration.host, port: configuration.port)
    }

    /// This device's keys, created on first use (local files only: before connecting). Throws for a key
    /// file others can read (exit 77) or a damaged one.
    public static func keys(_ configuration: MQTTConfiguration, user: String) throws(MQTTError) -> UserKeys {
        try store(configuration, user: user).loadOrCreate().keys
    }

    /// Publishes this device's keys unless the broker is known to have them, on a connection of their own
    /// (mosquitto 2.0.11 closes a connection after refusing a publish, and MQTT 3.1.1 refuses silently: the
    /// bundle is read back). A broker that does not keep the bundle costs a note, not the command. Call it
    /// before the tool connects (Paho connects a second client of a process up to a second late); an
    /// unreachable broker is left to the tool's own connection to report.
    public static func publishIfNeeded(
        _ keys: UserKeys,
        _ configuration: MQTTConfiguration,
        tool: String,
        quiet: Bool = false
    ) async {
        let store = store(configuration, user: keys.user)
        guard store.published == nil else { return }
        var problem: String?
        do {
            problem = try await publish(keys, configuration, store: store)
        } catch  where error.code.isUnreachable {
            // The tool's own connection says so next, in its one line.
        } catch {
            problem = "could not publish \(keys.user)'s public keys (\(error.message))"
        }
        if let problem, !quiet {
            report(tool, "note: \(problem); private messages to \(keys.user) stay unencrypted.")
        }
    }

    /// `keys` and `publishIfNeeded` together, for a tool that is already connected.
    public static func prepare(
        _ configuration: MQTTConfiguration,
        user: String,
        tool: String,
        quiet: Bool = false
    ) async throws(MQTTError) -> UserKeys {
        let keys = try keys(configuration, user: user)
        await publishIfNeeded(keys, configuration, tool: tool, quiet: quiet)
        return keys
    }

    /// Publishes this device in the user's bundle (keeping the devices already there under the same
    /// identity); nil when the broker kept it, else the problem. Throws when the connection fails.
    public static func publish(
        _ keys: UserKeys,
        _ configuration: MQTTConfiguration,
        store: KeyStore,
        replacing: Bool = false
    ) async throws(MQTTError) -> String? {
        do {
            return try await onOwnConnection(keys, configuration) { client, reader in
                try await publish(keys, on: client, reader: reader, store: store, replacing: replacing)
            }
        } catch let error as MQTTError {
            throw error
        } catch {
            return "could not sign \(keys.user)'s public keys"
        }
    }

    /// The owner's `updateGroupKeys` for `groups`, on a connection of its own (the listener's: members
    /// left while it listened, or while it was away); a failure is a note.
    public static func updateGroupKeys(
        _ groups: [GroupID],
        keys: UserKeys,
        configuration: MQTTConfiguration,
        tool: String
    ) async {
        do {
            try await onOwnConnection(keys, configuration) { client, reader in
                let sending = EndToEndSending(keys: keys, store: store(configuration, user: keys.user), reader: reader)
                for group in groups { try await sending.updateGroupKeys(group, client: client, layout: ChatLayout()) }
            }
        } catch {
            let names = groups.map(\.description).joined(separator: ", ")
            let reason = (error as? MQTTError)?.message ?? "\(error)"
            report(tool, "note: the keys of \(names) were not renewed (\(reason)).")
        }
    }

    /// Runs `body` on a short connection of its own (clean, no will, no reconnect) whose messages feed a
    /// key reader. Disconnected (and so destroyed) before the tool connects: a second client of Paho's
    /// connects only after its receive thread's next 1000 ms poll ("Paho's fixed waits" in the README).
    private static func onOwnConnection<T>(
        _ keys: UserKeys,
        _ configuration: MQTTConfiguration,
        _ body: (MQTTClient, KeyReader) async throws -> T
    ) async throws -> T {
        var configuration = configuration
        configuration.clientID =
            String(configuration.clientID.prefix(12)) + "-keys" + String(UInt16.random(in: 0...0xFFFF), radix: 16)
        (configuration.cleanStart, configuration.sessionExpiry, configuration.will, configuration.reconnect) = (
            true, 0, nil, nil
        )
        let reader = KeyReader(layout: ChatLayout(), me: keys.user, client: configuration.clientID)
        let client = try MQTTClient(configuration, onMessage: reader.handle)
        try await client.connect()
        do {
            let result = try await body(client, reader)
            await client.disconnect()
            return result
        } catch {
            await client.disconnect()
            throw error
        }
    }

    private static func publish(
        _ keys: UserKeys,
        on client: MQTTClient,
        reader: KeyReader,
        store: KeyStore,
        replacing: Bool
    ) async throws -> String? {
        let layout = ChatLayout()
        let existing = try await reader.read(client, users: [keys.user])[keys.user].flatMap {
            KeyBundle(payload: $0, user: keys.user)
        }
        if let existing, existing.identity != keys.identityPublicKey, !replacing {
            // A second machine that made keys of its own: replacing the user's identity silently would
            // alarm everyone and cut off the first machine.
            return "another identity key is published for \(keys.user) (from another device?); to use this "
                + "device too, copy it here with publisher keys --export FILE there and publisher keys --import "
                + "FILE here, or replace it with publisher keys --new"
        }
        let version = KeyBundle.version(after: existing, now: ChatTimestamp.now().millisecondsSince1970)
        let bundle = keys.bundle(adding: replacing ? nil : existing, version: version)
        if let existing, existing.identity == bundle.identity, existing.devices == bundle.devices {
            store.setPublished(try bundle.payload(signedBy: keys))
            return nil
        }
        let payload = try bundle.payload(signedBy: keys)
        try await ChatActions(client: client, layout: layout, me: keys.user).perform([
            .state(layout.keys(of: keys.user), payload)
        ])
        // Read back: what the broker holds now (MQTT 3.1.1 drops a refused publish silently).
        let kept = try await reader.read(client, users: [])[keys.user].flatMap {
            KeyBundle(payload: $0, user: keys.user)
        }
        guard kept == bundle else { return "the broker did not keep \(keys.user)'s public keys (an older acl.conf?)" }
        store.setPublished(payload)
        return nil
    }

    /// How a private message to `recipient` goes: sealed for their devices (their key pinned on first
    /// use), or plaintext when they have no keys. Refused (exit 77) when their identity key is not the one
    /// pinned, or when keys were seen for them before and none are published now, unless `plaintext`.
    public static func sealer(
        to recipient: String,
        keys: UserKeys,
        store: KeyStore,
        bundles: [String: [UInt8]],
        plaintext: Bool
    ) throws(MQTTError) -> (@Sendable (ChatMessage) -> [UInt8])? {
        if plaintext { return nil }
        let pinned = store.pins()[recipient]
        guard let bundle = bundles[recipient].flatMap({ KeyBundle(payload: $0, user: recipient) }),
            !bundle.devices.isEmpty
        else {
            guard pinned == nil else {
                throw MQTTError(
                    .notAuthorized,
                    "\(recipient) had keys, but publishes none now: not sent. To send it unencrypted anyway, add --plaintext."
                )
            }
            return nil
        }
        try checkVersion(bundle, store: store)
        if let pinned, pinned != bundle.identity {
            throw MQTTError(.notAuthorized, keyChanged(recipient, pinned: pinned, now: bundle.identity))
        }
        if pinned == nil { store.write(.pinned(user: recipient, identity: bundle.identity), client: "") }
        return { message in
            let time = message.time?.millisecondsSince1970 ?? ChatTimestamp.now().millisecondsSince1970
            // Sealing fails only for a malformed device key, which a verified bundle never has.
            return (try? Sealing.sealDirect(message, from: keys, to: bundle, time: time).encoded()) ?? []
        }
    }

    /// Refuses (exit 77) `bundle` when it is older than one seen before for its user, else keeps its
    /// version as the newest seen (also when its identity key changed: an old copy under the key pinned
    /// before must not pass once the new one was seen).
    static func checkVersion(_ bundle: KeyBundle, store: KeyStore) throws(MQTTError) {
        let newest = store.versions()[bundle.user]
        if bundle.isOlder(than: newest) {
            let user = bundle.user
            throw MQTTError(
                .notAuthorized,
                "\(user)'s published keys are older than ones seen before (an old copy put back?): nothing was "
                    + "sent. Check it with \(user) (publisher keys \(user)), then: publisher trust \(user)"
            )
        }
        if newest != bundle.version {
            store.write(.bundleVersion(user: bundle.user, version: bundle.version), client: "")
        }
    }

    /// The one line a changed key gets.
    public static func keyChanged(_ user: String, pinned: [UInt8], now: [UInt8]) -> String {
        "\(user)'s identity key changed (pinned \(KeyFingerprint.of(pinned)), now \(KeyFingerprint.of(now))): "
            + "nothing was sent. Check it with \(user) (publisher keys \(user)), then: publisher trust \(user)"
    }
}

/// Reads retained key bundles on a connection: subscribes to the users' key topics and to the connection's
/// own sync marker, publishes the marker, and answers once it is back (the broker sends a subscription's
/// retained messages before anything published after it). Its `handle` is the client's message handler.
public final class KeyReader: Sendable {
    private struct State {
        var bundles: [String: [UInt8]] = [:]
        /// Groups' retained state and key topics (topic -> payload), for the owner's rekeying.
        var groups: [String: [UInt8]] = [:]
        var markers = 0
        var waiters: [(marker: Int, continuation: CheckedContinuation<Void, Never>)] = []
    }
    private let state = Mutex(State())
    private let layout: ChatLayout
    private let me: String
    private let client: String
    private let subscribed = Mutex(false)

    public init(layout: ChatLayout, me: String, client: String) {
        self.layout = layout
        self.me = me
        self.client = client
    }

    public func handle(_ message: MQTTMessage) {
        let ready = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            switch layout.parse(message.topic) {
            case .keys(let user):
                state.bundles[user] = message.payload.isEmpty ? nil : message.payload
            case .groupInfo, .groupDecision, .groupRequest, .groupKeys:
                state.groups[message.topic] = message.payload.isEmpty ? nil : message.payload
            case .sync(let user, let client) where user == me && client == self.client:
                state.markers += 1
                let ready = state.waiters.filter { $0.marker <= state.markers }.map(\.continuation)
                state.waiters.removeAll { $0.marker <= state.markers }
                return ready
            default:
                break
            }
            return []
        }
        ready.forEach { $0.resume() }
    }

    /// The bundles of `users` (and of anyone read before) as the broker holds them now.
    public func read(_ client: any MQTTTransport, users: [String]) async throws(MQTTError) -> [String: [UInt8]] {
        try await read(client, filters: users.map { layout.keys(of: $0) })
        return state.withLock { $0.bundles }
    }

    /// `group`'s retained state and the key topics this user may read, as the broker holds them now (topic
    /// -> payload, parsed by the layout).
    public func read(_ client: any MQTTTransport, group: GroupID) async throws(MQTTError) -> [ChatTopic: [UInt8]] {
        let prefix = "\(layout.root)/groups/\(group)/"
        try await read(
            client,
            filters: [layout.groupInfo(group)] + ["members", "requests", "keys"].map { prefix + $0 + "/+" }
        )
        let held = state.withLock { $0.groups }.filter { $0.key.hasPrefix(prefix) }
        return Dictionary(held.compactMap { topic, payload in layout.parse(topic).map { ($0, payload) } }) { $1 }
    }

    /// Subscribes to `filters` and waits for the connection's own sync marker: what they hold is here.
    private func read(_ client: any MQTTTransport, filters topics: [String]) async throws(MQTTError) {
        var filters = topics.map { MQTTSubscription($0, qos: .atLeastOnce) }
        if !subscribed.withLock({ $0 }) {
            filters.append(MQTTSubscription(layout.sync(of: me, client: self.client), qos: .atLeastOnce))
            subscribed.withLock { $0 = true }
        }
        if !filters.isEmpty { _ = try await client.subscribe(filters) }
        let marker = state.withLock { $0.markers } + 1
        try await client.publish(topic: layout.sync(of: me, client: self.client), payload: [], qos: .atLeastOnce)
        let timeout = Task { [weak self] in
            try? await Task.sleep(for: .seconds(3))
            self?.giveUp()
        }
        await withCheckedContinuation { continuation in
            let done = state.withLock { state in
                if state.markers >= marker { return true }
                state.waiters.append((marker, continuation))
                return false
            }
            if done { continuation.resume() }
        }
        timeout.cancel()
    }

    private func giveUp() {
        let waiting = state.withLock { state in
            defer { state.waiters.removeAll() }
            return state.waiters.map(\.continuation)
        }
        waiting.forEach { $0.resume() }
    }
}

/// What a tool needs to seal what it sends to inboxes (`ChatActions.perform`): this device's keys, its
/// store (pins), and a reader of key bundles on the tool's connection (its message handler must feed it).
public struct EndToEndSending: Sendable {
    public let keys: UserKeys
    public let store: KeyStore
    public let reader: KeyReader
    public let plaintext: Bool

    public init(keys: UserKeys, store: KeyStore, reader: KeyReader, plaintext: Bool = false) {
        self.keys = keys
        self.store = store
        self.reader = reader
        self.plaintext = plaintext
    }

    /// `publish`'s payload sealed for its recipient when it goes to an inbox and they have keys, or to a
    /// group this device holds a key of; nil: as it is. Throws for a changed key (exit 77).
    func sealed(
        _ publish: ChatPublish,
        client: any MQTTTransport,
        layout: ChatLayout
    ) async throws(MQTTError) -> [UInt8]? {
        guard case .chat(let message) = ChatPayload(decoding: publish.payload) else { return nil }
        switch layout.parse(publish.topic) {
        case .inbox(let recipient, _):
            let bundles = try await reader.read(client, users: [recipient])
            let seal = try EndToEnd.sealer(
                to: recipient,
                keys: keys,
                store: store,
                bundles: bundles,
                plaintext: plaintext
            )
            return seal?(message)
        case .groupMessage(let group, _):
            return try await groupSealer(group, client: client, layout: layout)?(message)
        default:
            return nil
        }
    }

    /// How messages to `group` go: sealed with the newest epoch key this device holds (its owner's tools
    /// first bring the members' keys up to date), or plaintext when it never held one (a group of an older
    /// version, a non-member). `--plaintext` is about private messages only: a group's key is never
    /// withheld from its members.
    public func groupSealer(
        _ group: GroupID,
        client: any MQTTTransport,
        layout: ChatLayout
    ) async throws(MQTTError) -> (@Sendable (ChatMessage) -> [UInt8])? {
        // Only a group that has keys: one without (an older version's, or refused by an older acl.conf) gets
        // them from its owner's next create, approve or remove, not from each message.
        if try store.groupEpochs()[group] != nil {
            try await updateGroupKeys(group, client: client, layout: layout)
        }
        guard let epoch = try await groupEpochs(group, client: client).max(by: { $0.number < $1.number }) else {
            return nil
        }
        let keys = keys
        return { message in
            let time = message.time?.millisecondsSince1970 ?? ChatTimestamp.now().millisecondsSince1970
            return (try? Sealing.sealGroup(message, from: keys, group: group, epoch: epoch, time: time).encoded()) ?? []
        }
    }

    /// The epochs of `group` this device holds: those kept here and those in its keys on the broker (read
    /// now, signed by the owner's trusted identity key; the new ones are kept).
    func groupEpochs(_ group: GroupID, client: any MQTTTransport) async throws(MQTTError) -> [GroupEpoch] {
        let state = try await reader.read(client, group: group)
        var held = Dictionary(try store.groupEpochs()[group, default: []].map { ($0.number, $0) }) { $1 }
        guard let payload = state[.groupKeys(group, member: keys.user)] else { return Array(held.values) }
        let owner = group.owner
        let pinned = store.pins()[owner]
        var published: [UInt8]?
        if pinned == nil, owner != keys.user {
            published = try await reader.read(client, users: [owner])[owner].flatMap {
                KeyBundle(payload: $0, user: owner)
            }?.identity
        }
        guard
            let (epochs, pin) = try? GroupKeys.epochs(
                in: payload,
                of: group,
                keys: keys,
                pinned: pinned,
                published: published
            )
        else { return Array(held.values) }
        if let pin { store.write(.pinned(user: owner, identity: pin), client: "") }
        for epoch in epochs where held[epoch.number] != epoch {
            held[epoch.number] = epoch
            store.write(.groupEpoch(group, epoch), client: "")
        }
        return Array(held.values)
    }

    /// For the owner of `group`: a new epoch if its members changed since the last one, and each member's
    /// keys published again where they are out of date (`GroupRekey`), straight to the broker (retained,
    /// not through the state journal: the next update repairs what a broker lost). Prints a note for each
    /// member who gets no keys. Nothing for anyone else's group.
    ///
    /// The members are the broker's, but nobody is added who is not in the owner's newest epoch or
    /// `approving` now (the operator can write an approval; Matrix's 2022 lesson: the server must not add
    /// members); only when this device knows no epoch of the group (one created by an older version) does
    /// the broker's list stand as it is.
    func updateGroupKeys(
        _ group: GroupID,
        approving: [String] = [],
        client: any MQTTTransport,
        layout: ChatLayout
    ) async throws(MQTTError) {
        let me = keys.user
        guard group.owner == me else { return }
        let state = try await reader.read(client, group: group)
        var directory = ChatDirectory(me: me)
        var published: [String: GroupKeys] = [:]
        for (topic, payload) in state {
            if case .groupKeys(_, let member) = topic {
                published[member] = GroupKeys(payload: payload, group: group, member: member)
            } else {
                _ = directory.apply(topic, payload: payload)
            }
        }
        guard directory.groups.contains(group) else { return }
        var history = Dictionary(try store.groupEpochs()[group, default: []].map { ($0.number, $0) }) { $1 }
        if let own = published[me], case .success(let epochs) = own.open(keys: keys, owner: keys.identityPublicKey) {
            for epoch in epochs { history[epoch.number] = epoch }
        }
        var members = directory.members(of: group)
        if let newest = history.values.max(by: { $0.number < $1.number }) {
            members.removeAll { !newest.members.contains($0) && !approving.contains($0) && $0 != me }
        }
        let raw = try await reader.read(client, users: members)
        let pins = store.pins()
        var bundles: [String: KeyBundle] = [:]
        var changed: [String] = []
        var rolledBack: [String] = []
        for member in members {
            guard let bundle = raw[member].flatMap({ KeyBundle(payload: $0, user: member) }) else { continue }
            if member == me {
                if bundle.identity == keys.identityPublicKey { bundles[me] = bundle }
            } else if (try? EndToEnd.checkVersion(bundle, store: store)) == nil {
                // An old copy may list a device the member dropped.
                rolledBack.append(member)
            } else if let pinned = pins[member], pinned != bundle.identity {
                // Sealing the group's key to a key not trusted would hand it to whoever replaced it.
                changed.append(member)
            } else {
                if pins[member] == nil { store.write(.pinned(user: member, identity: bundle.identity), client: "") }
                bundles[member] = bundle
            }
        }
        // This device at least, when the broker holds no bundle of the owner's.
        if bundles[me] == nil { bundles[me] = keys.bundle(adding: nil, version: 0) }
        let plan: GroupRekey
        do {
            plan = try GroupRekey.plan(
                group: group,
                members: members,
                history: Array(history.values),
                published: published,
                bundles: bundles,
                owner: keys,
                time: ChatTimestamp.now().millisecondsSince1970
            )
        } catch {
            throw MQTTError(.failure, "Could not seal the keys of \(group).")
        }
        for (member, keys) in plan.publishes {
            let topic = layout.groupKeys(group, for: member)
            do {
                try await client.publish(topic: topic, payload: keys?.payload ?? [], qos: .atLeastOnce, retain: true)
            } catch  where error.code == .notAuthorized {
                // A broker with an older acl.conf: the group stays as it was (plaintext if it never had keys).
                report(
                    toolName,
                    "note: the broker refused \(group)'s keys (\(topic); an older acl.conf?): its messages are not "
                        + "encrypted to its members' new keys."
                )
                return
            }
        }
        // Kept once handed out (the owner's own keys, published first unless the group is new, hold it too).
        if let epoch = plan.newEpoch { store.write(.groupEpoch(group, epoch), client: "") }
        for member in changed {
            report(
                toolName,
                "note: \(member)'s identity key changed: \(member) gets no key of \(group) until you check it "
                    + "(publisher keys \(member)) and accept it (publisher trust \(member))."
            )
        }
        for member in rolledBack {
            report(
                toolName,
                "note: \(member)'s published keys are older than ones seen before (an old copy put back?): \(member) "
                    + "gets no new key of \(group) until you check it (publisher keys \(member)) and accept them "
                    + "(publisher trust \(member))."
            )
        }
        for member in plan.keyless where !changed.contains(member) && !rolledBack.contains(member) {
            report(toolName, "note: \(member) publishes no keys: \(member) cannot read \(group)'s messages.")
        }
    }
}

extension EndToEnd {
    /// What `keys [USER]` and `trust USER` print, with the key bundles in `directory`.
    public static func answer(
        _ request: ChatOperation.KeyRequest,
        keys: UserKeys,
        store: KeyStore,
        directory: ChatDirectory
    ) throws(MQTTError) -> String {
        let me = keys.user
        switch request {
        case .show(nil), .show(me):
            let devices = directory.keyBundles[me].flatMap { KeyBundle(payload: $0, user: me) }?.devices.count
            return "\(me) \(KeyFingerprint.of(keys.identityPublicKey)) (this device \(keys.deviceID)"
                + (devices.map { ", \($0) published" } ?? ", not published") + ")\n"
        case .show(let user?):
            let published = directory.keyBundles[user].flatMap { KeyBundle(payload: $0, user: user) }
            var pinned = store.pins()[user]
            if pinned == nil, let published {
                store.write(.pinned(user: user, identity: published.identity), client: "")
                pinned = published.identity
            }
            guard let pinned else {
                throw MQTTError(.refusedByState, "\(user) has published no keys: messages to \(user) go unencrypted.")
            }
            var text = "\(user) \(KeyFingerprint.of(pinned)) (pinned)\n"
            if let published, published.identity != pinned {
                text +=
                    "\(user) \(KeyFingerprint.of(published.identity)) (published now: CHANGED; to accept it: publisher trust \(user))\n"
            }
            let safety = KeyFingerprint.safetyNumber((me, keys.identityPublicKey), (user, pinned))
            return text + "safety number: \(safety)\n"
        case .trust(let user):
            guard let published = directory.keyBundles[user].flatMap({ KeyBundle(payload: $0, user: user) }) else {
                throw MQTTError(.refusedByState, "\(user) has published no keys.")
            }
            try store.trust(user, identity: published.identity, version: published.version)
            return "trusted \(user)'s key \(KeyFingerprint.of(published.identity))\n"
        }
    }
}

/// Keeps the keys of the groups this user owns current from the listener: when members leave while it
/// listens (`ChatRouter.Action.membersLeft`), or left while it was away (the newest epoch kept here names
/// someone who is no longer a member). One update at a time, each on a connection of its own.
public final class GroupKeyKeeper: Sendable {
    private let keys: UserKeys
    private let configuration: MQTTConfiguration
    private let tool: String
    private let last = Mutex<Task<Void, Never>?>(nil)

    public init(keys: UserKeys, configuration: MQTTConfiguration, tool: String) {
        (self.keys, self.configuration, self.tool) = (keys, configuration, tool)
    }

    /// After a snapshot of the state: updates the groups whose members left since the newest epoch kept here.
    /// Returns at once (the key file is read on a thread of its own).
    public func check(_ directory: ChatDirectory) {
        let store = EndToEnd.store(configuration, user: keys.user)
        Terminal.startDetachedThread { [self] in
            let groups = GroupRekey.departed(directory, epochs: (try? store.groupEpochs()) ?? [:])
            if !groups.isEmpty { update(groups) }
        }
    }

    /// Updates the keys of `groups` after those before.
    public func update(_ groups: [GroupID]) {
        last.withLock { last in
            let before = last
            last = Task { [keys, configuration, tool] in
                await before?.value
                await EndToEnd.updateGroupKeys(groups, keys: keys, configuration: configuration, tool: tool)
            }
        }
    }
}
