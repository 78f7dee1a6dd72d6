import ChatProtocol
import Crypto

/// One epoch of a group (MLS's word): a random key, and who the owner says the members are. The owner makes
/// a new one on every change of membership, so an approval never opens what was said before it and a removal
/// closes what is said after it.
public struct GroupEpoch: Sendable, Hashable {
    public var number: UInt32
    /// 32 random bytes; it only derives message keys (`Sealing.groupMessageKey`).
    public var key: [UInt8]
    /// Sorted.
    public var members: [String]

    public init(number: UInt32, key: [UInt8], members: [String]) {
        self.number = number
        self.key = key
        self.members = members.sorted()
    }

    /// A new epoch after `previous` (a random key).
    public static func next(after previous: UInt32, members: [String]) -> GroupEpoch {
        GroupEpoch(
            number: previous + 1,
            key: SymmetricKey(size: .bits256).withUnsafeBytes { Array($0) },
            members: members
        )
    }
}

/// What the owner of a group hands one member (retained at `chat/groups/<owner>/<name>/keys/<member>`, which
/// only the owner may write): the keys of the epochs the member was in, newest last, sealed with HPKE to each
/// of the member's devices as a private message is (an `Envelope` of kind `groupKeys`, the group and member
/// in its header) and signed by the owner's identity key, so neither the operator nor anyone who may write
/// another topic can hand out a key or add a member. Its visible part says which epoch and which devices, so
/// the owner's tools see what is out of date without opening it.
public struct GroupKeys: Sendable, Hashable {
    /// At most this many epochs go to a member: enough for a device that was away across many changes.
    public static let kept = 32

    public var group: GroupID
    public var member: String
    /// The newest epoch in it.
    public var epoch: UInt32
    /// The devices it was sealed for, sorted.
    public var devices: [String]
    /// The envelope (binary).
    public var sealed: [UInt8]

    /// The retained payload.
    public var payload: [UInt8] {
        ChatState.object(members: [
            ("epoch", String(epoch)), ("devices", devices.joined(separator: ",")), ("sealed", base64(sealed)),
        ])
    }

    /// The visible part of a payload on `group`'s key topic for `member`; nil for anything malformed.
    public init?(payload: [UInt8], group: GroupID, member: String) {
        guard let members = ChatState.members(payload), let epoch = members["epoch"].flatMap({ UInt32($0) }),
            let devices = members["devices"], let sealed = members["sealed"].flatMap(unbase64)
        else { return nil }
        self.init(
            group: group,
            member: member,
            epoch: epoch,
            devices: devices.split(separator: ",").map(String.init),
            sealed: sealed
        )
    }

    init(group: GroupID, member: String, epoch: UInt32, devices: [String], sealed: [UInt8]) {
        (self.group, self.member, self.epoch, self.devices, self.sealed) = (group, member, epoch, devices, sealed)
    }

    /// The epochs of `history` that `bundle`'s user was in (the last `kept`), sealed for their devices and
    /// signed by the owner's `keys`.
    public static func seal(
        _ history: [GroupEpoch],
        group: GroupID,
        for bundle: KeyBundle,
        by keys: UserKeys,
        time: Int64
    ) throws -> GroupKeys {
        let epochs = Array(
            history.filter { $0.members.contains(bundle.user) }.sorted { $0.number < $1.number }.suffix(kept)
        )
        let newest = epochs.last?.number ?? 0
        var envelope = Envelope(
            kind: .groupKeys,
            sender: keys.user,
            recipient: "\(group)/\(bundle.user)",
            epoch: newest,
            id: Sealing.randomID(),
            time: time
        )
        let contentKey = SymmetricKey(size: .bits256)
        envelope.wraps = try Sealing.wraps(
            contentKey,
            header: envelope.header,
            for: bundle.devices,
            label: Label.groupKeysWrap
        )
        envelope.body = try Sealing.sealBody(
            encode(epochs),
            header: envelope.header,
            label: Label.groupKeysSignature,
            keys: keys,
            with: contentKey
        )
        return GroupKeys(
            group: group,
            member: bundle.user,
            epoch: newest,
            devices: bundle.devices.map(\.id).sorted(),
            sealed: envelope.encoded()
        )
    }

    /// The epochs in it, for `keys`' device, if the owner (`owner`: their trusted identity key) signed them
    /// for this member of this group; else why not.
    public func open(keys: UserKeys, owner: [UInt8]) -> Result<[GroupEpoch], Refusal> {
        guard let envelope = Envelope(decoding: sealed), envelope.kind == .groupKeys else {
            return .failure(.malformed)
        }
        guard envelope.sender == group.owner, envelope.recipient == "\(group)/\(member)", member == keys.user,
            envelope.epoch == epoch
        else { return .failure(.moved) }
        guard let contentKey = Sealing.contentKey(envelope, keys: keys, label: Label.groupKeysWrap) else {
            return .failure(.tampered)
        }
        guard let contentKey else { return .failure(.notForThisDevice) }
        guard let (signature, plain) = Sealing.openBody(envelope, key: contentKey) else { return .failure(.tampered) }
        guard Sealing.verify(signature, plain, envelope, label: Label.groupKeysSignature, identity: owner) else {
            return .failure(.forged)
        }
        // The owner hands a member only epochs they were in, the newest one named in the header.
        guard let epochs = Self.decode(plain), epochs.allSatisfy({ $0.members.contains(member) }),
            epochs.map(\.number).max() == epoch
        else { return .failure(.malformed) }
        return .success(epochs)
    }

    /// The epochs in `payload` (this user's keys of `group`) for `keys`' device, checked against the owner's
    /// trusted identity key: this user's own when the group is theirs, else the one `pinned`, else (trust on
    /// first use) the one `published` in the owner's bundle, which the caller then pins (`pin`).
    public static func epochs(
        in payload: [UInt8],
        of group: GroupID,
        keys: UserKeys,
        pinned: [UInt8]?,
        published: [UInt8]?
    ) throws(Problem) -> (epochs: [GroupEpoch], pin: [UInt8]?) {
        guard let held = GroupKeys(payload: payload, group: group, member: keys.user) else {
            throw Refusal.malformed.problem
        }
        let owner = group.owner
        let mine = owner == keys.user
        guard let trusted = mine ? keys.identityPublicKey : pinned ?? published else {
            throw Problem(reason: "no keys of \(owner) are known to check their signature")
        }
        switch held.open(keys: keys, owner: trusted) {
        case .success(let epochs):
            return (epochs, mine || pinned != nil ? nil : trusted)
        case .failure(let refusal):
            // Said only when the owner's published key does sign them: anything else is a forgery.
            if refusal == .forged, !mine, let published, published != trusted,
                case .success = held.open(keys: keys, owner: published)
            {
                throw Problem(
                    reason: "they are signed by a new identity key of \(owner) (publisher trust \(owner) to accept it)"
                )
            }
            throw refusal.problem
        }
    }

    /// Why a member's group keys did not open.
    public enum Refusal: Error, Sendable, Hashable {
        case malformed, moved, tampered, notForThisDevice, forged

        public var reason: String {
            switch self {
            case .malformed: "they are not valid group keys"
            case .moved: "they were sealed for another group or member (moved)"
            case .tampered: "they were tampered with"
            case .notForThisDevice: "they were not sealed for this device"
            case .forged: "they are not signed by the group's owner (forged)"
            }
        }

        public var problem: Problem { Problem(reason: reason) }
    }

    /// Why group keys were not taken, as one phrase.
    public struct Problem: Error, Sendable, Hashable {
        public var reason: String
    }

    static func encode(_ epochs: [GroupEpoch]) -> [UInt8] {
        var writer = ByteWriter()
        writer.integer(UInt64(epochs.count), bytes: 2)
        for epoch in epochs {
            writer.integer(UInt64(epoch.number), bytes: 4)
            writer.field(epoch.key)
            writer.field(Array(epoch.members.joined(separator: ",").utf8))
        }
        return writer.bytes
    }

    static func decode(_ bytes: [UInt8]) -> [GroupEpoch]? {
        var reader = ByteReader(bytes)
        guard let count = reader.integer(bytes: 2) else { return nil }
        var epochs: [GroupEpoch] = []
        for _ in 0..<count {
            guard let number = reader.integer(bytes: 4), let key = reader.field(), key.count == 32,
                let members = reader.field()
            else { return nil }
            let names = String(decoding: members, as: UTF8.self).split(separator: ",").map(String.init)
            epochs.append(GroupEpoch(number: UInt32(number), key: key, members: names))
        }
        guard reader.rest.isEmpty else { return nil }
        return epochs
    }
}

/// What the owner's tools publish so that every member of a group holds the keys they may hold: a new epoch
/// when the members changed, fresh keys for a member whose published keys are out of date (a new epoch, a
/// device added), and nothing any more for someone who is no longer a member. Pure: the tools read the
/// state and the bundles, and publish the result.
public struct GroupRekey: Sendable {
    /// The epoch made, if the members changed.
    public var newEpoch: GroupEpoch?
    /// member -> their new keys (nil: clear what they had).
    public var publishes: [(member: String, keys: GroupKeys?)] = []
    /// Members who get no keys: they publish none, or their identity key changed (not trusted).
    public var keyless: [String] = []

    /// `members`: the group's members now (the owner included); `history`: the epochs the owner knows;
    /// `published`: what each key topic of the group holds now; `bundles`: the members' trusted bundles.
    /// New members' keys go last, so everyone else holds the new epoch before a newcomer can use it.
    public static func plan(
        group: GroupID,
        members: [String],
        history: [GroupEpoch],
        published: [String: GroupKeys],
        bundles: [String: KeyBundle],
        owner keys: UserKeys,
        time: Int64
    ) throws -> GroupRekey {
        var plan = GroupRekey()
        var history = history
        let current = history.max { $0.number < $1.number }
        if current?.members != members.sorted() {
            // Past every number seen, also one published by another device of the owner.
            let highest = max(current?.number ?? 0, published.values.map(\.epoch).max() ?? 0)
            let epoch = GroupEpoch.next(after: highest, members: members)
            history.append(epoch)
            plan.newEpoch = epoch
        }
        let newest = history.max { $0.number < $1.number }!
        let before = Set(current?.members ?? [])
        for member in members.sorted(by: { (before.contains($0) ? 0 : 1, $0) < (before.contains($1) ? 0 : 1, $1) }) {
            guard let bundle = bundles[member], !bundle.devices.isEmpty else {
                plan.keyless.append(member)
                continue
            }
            let held = published[member]
            if held?.epoch == newest.number && held?.devices == bundle.devices.map(\.id).sorted() { continue }
            plan.publishes.append(
                (member, try GroupKeys.seal(history, group: group, for: bundle, by: keys, time: time))
            )
        }
        for member in published.keys.sorted() where !members.contains(member) {
            plan.publishes.append((member, nil))
        }
        return plan
    }

    /// The groups of `directory` owned by its user whose newest epoch in `epochs` names someone who is no
    /// longer a member (they left, or were removed, while the owner's tools did not run): their keys must
    /// change.
    public static func departed(_ directory: ChatDirectory, epochs: [GroupID: [GroupEpoch]]) -> [GroupID] {
        directory.groups(of: directory.me).filter { group in
            guard group.owner == directory.me, let newest = epochs[group]?.max(by: { $0.number < $1.number }) else {
                return false
            }
            let members = Set(directory.members(of: group))
            return newest.members.contains { !members.contains($0) }
        }
    }
}
