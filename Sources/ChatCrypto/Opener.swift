import ChatProtocol
import Crypto

/// What a user's tools remember between runs, decided here and written by the tools (KeyStore).
public enum KeyRecord: Sendable, Hashable {
    /// The first identity key seen for a user (trust on first use).
    case pinned(user: String, identity: [UInt8])
    /// A message id accepted at a time (milliseconds), for the replay record.
    case seen(id: String, time: Int64)
    /// A group's epoch key this user was handed (kept, so what was said in it still opens later).
    case groupEpoch(GroupID, GroupEpoch)
    /// The newest version of a user's bundle seen (`KeyBundle.isOlder(than:)`).
    case bundleVersion(user: String, version: Int64)
}

/// Seen message ids, kept for the replay window: the operator can republish any sealed message, and the
/// listener's repeat filter only catches repeats within moments. A message older than the window, or dated
/// more than `skew` ahead, is refused too, so the record never needs to be longer than the window.
public struct ReplayRecord: Sendable {
    /// How long the broker keeps a listener's session (what was sent while it was away): 7 days.
    public static let window: Int64 = 7 * 24 * 3600 * 1000
    public static let skew: Int64 = 10 * 60 * 1000

    public private(set) var seen: [String: Int64] = [:]

    public init(_ entries: [(id: String, time: Int64)] = [], now: Int64) {
        for entry in entries where entry.time > now - Self.window { seen[entry.id] = entry.time }
    }

    /// Nil and recorded, or why not.
    mutating func check(id: String, time: Int64, now: Int64) -> String? {
        if time < now - Self.window { return "it is older than the replay window (7 days)" }
        if time > now + Self.skew { return "it is dated in the future" }
        if seen[id] != nil { return "it was replayed (already shown once)" }
        seen[id] = time
        return nil
    }
}

/// The router's opener (`ChatOpener`) for one user on one device: opens sealed messages with this device's
/// key, verifies them with the sender's pinned identity key (pinning the first one seen), and refuses
/// anything moved, tampered with, replayed or signed by a key not (yet) trusted.
public struct KeyOpener: ChatOpener {
    public let keys: UserKeys
    public private(set) var pins: [String: [UInt8]]
    public private(set) var replays: ReplayRecord
    /// Written by the tool (KeyStore); pure callers pass a no-op.
    private let record: @Sendable (KeyRecord) -> Void
    /// Key changes already announced (user -> the new identity).
    private var announced: [String: [UInt8]] = [:]
    /// The version of this user's bundle already announced as lacking this device.
    private var missingAnnounced: Int64?
    /// The newest bundle version seen per user (kept: `KeyRecord.bundleVersion`): an older one is ignored.
    public private(set) var versions: [String: Int64]
    /// The older bundle versions already announced as rolled back, per user.
    private var rollbacksAnnounced: [String: Int64] = [:]
    /// The epochs of each group this user was handed (kept: `KeyRecord.groupEpoch`).
    public private(set) var groupEpochs: [GroupID: [UInt32: GroupEpoch]]
    /// The group keys payload last read from the directory, per group, and why it did not open (if not).
    private var absorbed: [GroupID: (payload: [UInt8], problem: String?)] = [:]

    public init(
        keys: UserKeys,
        pins: [String: [UInt8]],
        replays: ReplayRecord,
        groupEpochs: [GroupID: [GroupEpoch]] = [:],
        versions: [String: Int64] = [:],
        record: @escaping @Sendable (KeyRecord) -> Void = { _ in }
    ) {
        self.keys = keys
        self.pins = pins
        self.versions = versions
        self.replays = replays
        self.groupEpochs = groupEpochs.mapValues { Dictionary($0.map { ($0.number, $0) }) { _, new in new } }
        self.record = record
    }

    /// `user`'s verified bundle in `directory`, unless an older version than one already seen.
    mutating func bundle(of user: String, _ directory: ChatDirectory) -> KeyBundle? {
        guard let payload = directory.keyBundles[user], let bundle = KeyBundle(payload: payload, user: user),
            !bundle.isOlder(than: versions[user])
        else { return nil }
        if versions[user] != bundle.version {
            versions[user] = bundle.version
            record(.bundleVersion(user: user, version: bundle.version))
        }
        return bundle
    }

    /// Pins `identity` for `user` if nothing is pinned yet; returns the pinned key.
    mutating func pin(_ user: String, _ identity: [UInt8]) -> [UInt8] {
        if let pinned = pins[user] { return pinned }
        pins[user] = identity
        record(.pinned(user: user, identity: identity))
        return identity
    }

    public mutating func open(
        _ sealed: SealedPayload,
        topic: ChatTopic,
        directory: ChatDirectory,
        now: ChatTimestamp
    ) -> OpenedMessage {
        guard let envelope = Envelope(decoding: sealed.sealed) else {
            return .refused("it is not a valid sealed message")
        }
        switch topic {
        case .inbox(let user, let sender):
            guard envelope.kind == .direct, envelope.sender == sender, envelope.recipient == user,
                user == keys.user
            else { return .refused("it was sealed for another conversation (moved)") }
            guard let key = Sealing.contentKey(envelope, keys: keys) else {
                return .refused("it was tampered with")
            }
            guard let key else { return .refused("it was not sealed for this device (\(keys.deviceID))") }
            return verified(envelope, key: key, sender: sender, label: Label.directSignature, directory, now)
        case .groupMessage(let group, let sender):
            guard envelope.kind == .group, envelope.sender == sender, envelope.recipient == group.description else {
                return .refused("it was sealed for another conversation (moved)")
            }
            let problem = absorbKeys(of: group, directory)
            guard let epoch = groupEpochs[group]?[envelope.epoch] else {
                return .refused(
                    "this device (\(keys.deviceID)) holds no key of \(group) for epoch \(envelope.epoch)"
                        + (problem.map { ": its keys from \(group.owner) were refused, \($0)" } ?? "")
                )
            }
            // The owner's signed member lists decide who may speak: in the message's epoch and still in the
            // newest one this device holds (so a removed member's old key cannot be used to inject).
            let newest = groupEpochs[group]!.values.max { $0.number < $1.number }!
            guard epoch.members.contains(sender), newest.members.contains(sender) else {
                return .refused("its sender is not a member of \(group) by the owner's signed list (forged)")
            }
            let key = Sealing.groupMessageKey(epoch, envelope)
            return verified(envelope, key: key, sender: sender, label: Label.groupSignature, directory, now)
        default:
            return .refused("it is sealed for a kind of conversation this version cannot open")
        }
    }

    /// The message in `envelope`, if signed by the sender's trusted identity and never seen before.
    private mutating func verified(
        _ envelope: Envelope,
        key: SymmetricKey,
        sender: String,
        label: String,
        _ directory: ChatDirectory,
        _ now: ChatTimestamp
    ) -> OpenedMessage {
        guard let (signature, json) = Sealing.openBody(envelope, key: key) else {
            return .refused("it was tampered with")
        }
        // This user's own words (in a group, from any of their devices): their own identity, nothing pinned.
        let mine = sender == keys.user
        let published = mine ? keys.identityPublicKey : bundle(of: sender, directory)?.identity
        guard let trusted = mine ? published : pins[sender] ?? published else {
            return .refused("no keys of \(sender) are known to check its signature")
        }
        guard Sealing.verify(signature, json, envelope, label: label, identity: trusted) else {
            if let published, published != trusted,
                Sealing.verify(signature, json, envelope, label: label, identity: published)
            {
                return .refused(
                    "it is signed by a new identity key of \(sender) (publisher trust \(sender) to accept it)"
                )
            }
            return .refused("its signature does not verify (forged or tampered with)")
        }
        if !mine { _ = pin(sender, trusted) }
        guard case .chat(let message) = ChatPayload(decoding: json), message.from == sender else {
            return .refused("its signed sender is not \(sender) (forged)")
        }
        let id = hex(envelope.id)
        if let problem = replays.check(id: id, time: envelope.time, now: now.millisecondsSince1970) {
            return .refused(problem)
        }
        record(.seen(id: id, time: envelope.time))
        return .message(message)
    }

    public func expectsSealed(from user: String, topic: ChatTopic, directory: ChatDirectory) -> Bool {
        switch topic {
        case .inbox: pins[user] != nil || directory.keyBundles[user] != nil
        case .groupMessage(let group, _): groupEpochs[group] != nil || directory.groupKeys[group] != nil
        default: false
        }
    }

    /// Takes the epochs of this user's group keys in `directory` (once per payload), kept with those
    /// held before; returns why they did not open, if they did not.
    public mutating func absorbKeys(of group: GroupID, _ directory: ChatDirectory) -> String? {
        guard let payload = directory.groupKeys[group] else { return nil }
        if let last = absorbed[group], last.payload == payload { return last.problem }
        var problem: String?
        do {
            let owner = group.owner
            let (epochs, pin) = try GroupKeys.epochs(
                in: payload,
                of: group,
                keys: keys,
                pinned: pins[owner],
                published: owner == keys.user ? nil : bundle(of: owner, directory)?.identity
            )
            if let pin { _ = self.pin(owner, pin) }
            for epoch in epochs where groupEpochs[group]?[epoch.number] != epoch {
                groupEpochs[group, default: [:]][epoch.number] = epoch
                record(.groupEpoch(group, epoch))
            }
        } catch {
            problem = error.reason
        }
        absorbed[group] = (payload, problem)
        return problem
    }

    public mutating func keysChanged(of user: String, directory: ChatDirectory) -> [ChatLine.Event] {
        if let older = directory.keyBundles[user].flatMap({ KeyBundle(payload: $0, user: user) }),
            older.isOlder(than: versions[user])
        {
            guard rollbacksAnnounced[user] != older.version else { return [] }
            rollbacksAnnounced[user] = older.version
            return [.keysRolledBack]
        }
        guard let bundle = bundle(of: user, directory) else { return [] }
        if user == keys.user {
            // Another machine published its own identity, or this device's publish did not stick: said once.
            guard !bundle.devices.contains(where: { $0.id == keys.deviceID }), missingAnnounced != bundle.version
            else { return [] }
            missingAnnounced = bundle.version
            return [.deviceMissing(keys.deviceID)]
        }
        let pinned = pin(user, bundle.identity)
        guard pinned != bundle.identity, announced[user] != bundle.identity else { return [] }
        announced[user] = bundle.identity
        return [.keyChanged]
    }
}
