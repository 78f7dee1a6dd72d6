import ChatProtocol
import Foundation
import Testing

@testable import ChatCrypto

/// Groups' end-to-end encryption without a broker: the owner's epochs and the keys it hands each member,
/// sealing and opening group messages, and every refusal.
@Suite("sealing and opening group messages")
struct GroupSealingTests {
    let alice = UserKeys.generate(user: "alice")
    let bob = UserKeys.generate(user: "bob")
    let carol = UserKeys.generate(user: "carol")
    let mallory = UserKeys.generate(user: "mallory")
    let group = GroupID(owner: "alice", name: "robots")
    let now = ChatTimestamp(millisecondsSince1970: 1_800_000_000_000)

    func bundle(_ keys: UserKeys) -> KeyBundle { keys.bundle(adding: nil, version: 1) }

    /// `me`'s directory: everyone's bundles, and the group keys the owner handed `me` (if any).
    func directory(me: String, groupKeys: GroupKeys? = nil) throws -> ChatDirectory {
        var directory = ChatDirectory(me: me)
        for user in [alice, bob, carol, mallory] {
            _ = directory.apply(.keys(user: user.user), payload: try bundle(user).payload(signedBy: user))
        }
        if let groupKeys {
            _ = directory.apply(.groupKeys(group, member: me), payload: groupKeys.payload)
        }
        return directory
    }

    /// The owner's plan for `members` after `history`.
    func plan(
        _ members: [String],
        history: [GroupEpoch] = [],
        published: [String: GroupKeys] = [:]
    ) throws -> GroupRekey {
        let bundles = Dictionary(uniqueKeysWithValues: [alice, bob, carol].map { ($0.user, bundle($0)) })
        return try GroupRekey.plan(
            group: group,
            members: members,
            history: history,
            published: published,
            bundles: bundles.filter { members.contains($0.key) },
            owner: alice,
            time: now.millisecondsSince1970
        )
    }

    func keys(for member: String, in plan: GroupRekey) throws -> GroupKeys {
        try #require(plan.publishes.first { $0.member == member }?.keys)
    }

    func message(
        _ text: String,
        from sender: UserKeys,
        epoch: GroupEpoch,
        group: GroupID? = nil
    ) throws
        -> SealedPayload
    {
        try Sealing.sealGroup(
            .message(from: sender.user, text),
            from: sender,
            group: group ?? self.group,
            epoch: epoch,
            time: now.millisecondsSince1970
        )
    }

    func opener(_ keys: UserKeys) -> KeyOpener {
        KeyOpener(keys: keys, pins: [:], replays: ReplayRecord(now: now.millisecondsSince1970))
    }

    @Test("a member opens the owner's keys and a member's message, once; a copy is refused as replayed")
    func opensOnce() throws {
        let first = try plan(["alice", "bob"])
        let epoch = try #require(first.newEpoch)
        #expect(epoch.number == 1 && epoch.members == ["alice", "bob"])
        #expect(first.publishes.map(\.member) == ["alice", "bob"])
        let directory = try directory(me: "bob", groupKeys: try keys(for: "bob", in: first))
        var opener = opener(bob)
        let payload = try message("hello robots", from: alice, epoch: epoch)
        let topic = ChatTopic.groupMessage(group, sender: "alice")
        #expect(
            opener.open(payload, topic: topic, directory: directory, now: now)
                == .message(.message(from: "alice", "hello robots"))
        )
        #expect(opener.groupEpochs[group]?[1] == epoch)
        #expect(opener.pins["alice"] == alice.identityPublicKey)
        #expect(
            opener.open(payload, topic: topic, directory: directory, now: now)
                == .refused("it was replayed (already shown once)")
        )
        #expect(opener.expectsSealed(from: "alice", topic: topic, directory: directory))
    }

    @Test("the owner opens its own keys by its own identity; a new owner key is refused, a forged one is forged")
    func ownerKeys() throws {
        let first = try plan(["alice", "bob"])
        let epoch = try #require(first.newEpoch)
        var owner = opener(alice)
        let ownKeys = try directory(me: "alice", groupKeys: try keys(for: "alice", in: first))
        #expect(
            owner.open(try message("mine", from: alice, epoch: epoch), in: group, from: "alice", ownKeys, now: now)
                == .message(.message(from: "alice", "mine"))
        )
        #expect(owner.pins["alice"] == nil)
        // bob pinned alice's first key; keys signed by a new one are refused until trusted.
        let renewed = UserKeys.generate(user: "alice")
        let resealed = try GroupKeys.seal([epoch], group: group, for: bundle(bob), by: renewed, time: 0)
        var directory = try directory(me: "bob", groupKeys: resealed)
        _ = directory.apply(.keys(user: "alice"), payload: try bundle(renewed).payload(signedBy: renewed))
        var member = KeyOpener(
            keys: bob,
            pins: ["alice": alice.identityPublicKey],
            replays: ReplayRecord(now: now.millisecondsSince1970)
        )
        #expect(
            member.absorbKeys(of: group, directory)
                == "they are signed by a new identity key of alice (publisher trust alice to accept it)"
        )
        // Keys signed by neither the pinned nor the published key are a forgery, whatever the bundle says.
        let forger = UserKeys(user: "alice", identity: mallory.identity, deviceID: "f", device: mallory.device)
        let forged = try GroupKeys.seal([epoch], group: group, for: bundle(bob), by: forger, time: 0)
        _ = directory.apply(.groupKeys(group, member: "bob"), payload: forged.payload)
        #expect(member.absorbKeys(of: group, directory) == "they are not signed by the group's owner (forged)")
    }

    @Test("a new epoch only when the members change; a new device gets keys again without one")
    func epochs() throws {
        let first = try plan(["alice", "bob"])
        let epoch1 = try #require(first.newEpoch)
        let published = Dictionary(uniqueKeysWithValues: first.publishes.map { ($0.member, $0.keys!) })
        let same = try plan(["alice", "bob"], history: [epoch1], published: published)
        #expect(same.newEpoch == nil && same.publishes.isEmpty)
        // carol joins: epoch 2, the newcomer's keys last; her keys hold epoch 2 only.
        let joined = try plan(["alice", "bob", "carol"], history: [epoch1], published: published)
        let epoch2 = try #require(joined.newEpoch)
        #expect(epoch2.number == 2 && joined.publishes.map(\.member) == ["alice", "bob", "carol"])
        let carolKeys = try keys(for: "carol", in: joined)
        #expect(try carolKeys.open(keys: carol, owner: alice.identityPublicKey).get() == [epoch2])
        #expect(
            try keys(for: "bob", in: joined).open(keys: bob, owner: alice.identityPublicKey).get() == [epoch1, epoch2]
        )
        // bob is removed: epoch 3; his key topic is cleared, and carol's keys hold 2 and 3.
        var after = published
        for (member, keys) in joined.publishes { after[member] = keys }
        let removed = try plan(["alice", "carol"], history: [epoch1, epoch2], published: after)
        let epoch3 = try #require(removed.newEpoch)
        #expect(epoch3.number == 3 && epoch3.members == ["alice", "carol"])
        #expect(removed.publishes.map(\.member) == ["alice", "carol", "bob"])
        #expect(removed.publishes.last?.keys == nil)
        #expect(
            try keys(for: "carol", in: removed).open(keys: carol, owner: alice.identityPublicKey).get() == [
                epoch2, epoch3,
            ]
        )
        #expect(epoch3.key != epoch2.key && epoch2.key != epoch1.key)
    }

    @Test("a removed member's raw keys open nothing said after the removal")
    func removedMember() throws {
        let joined = try plan(["alice", "bob", "carol"])
        let epoch1 = try #require(joined.newEpoch)
        let removed = try plan(["alice", "carol"], history: [epoch1])
        let epoch2 = try #require(removed.newEpoch)
        let after = try message("bob is gone", from: carol, epoch: epoch2)
        // bob kept everything he was handed: his device key opens none of the new keys, and epoch 1's key
        // does not open the message.
        for published in removed.publishes.compactMap(\.keys) {
            #expect(published.open(keys: bob, owner: alice.identityPublicKey) != .success([epoch2]))
        }
        let envelope = try #require(Envelope(decoding: after.sealed))
        let stolen = GroupEpoch(number: epoch2.number, key: epoch1.key, members: epoch1.members)
        #expect(Sealing.openBody(envelope, key: Sealing.groupMessageKey(stolen, envelope)) == nil)
        // His listener, with epoch 1 kept, refuses it: no key for epoch 2.
        var opener = KeyOpener(
            keys: bob,
            pins: [:],
            replays: ReplayRecord(now: now.millisecondsSince1970),
            groupEpochs: [group: [epoch1]]
        )
        #expect(
            opener.open(
                after,
                in: group,
                from: "carol",
                try directory(me: "bob"),
                now: now
            )
                == .refused("this device (\(bob.deviceID)) holds no key of alice/robots for epoch 2")
        )
    }

    @Test("keys forged by someone else, signed by another owner, moved or tampered with: refused")
    func forgedKeys() throws {
        let epoch = GroupEpoch.next(after: 0, members: ["alice", "bob", "mallory"])
        // mallory seals a key for bob in alice's group, signed with her own identity.
        let forger = UserKeys(
            user: "alice",
            identity: mallory.identity,
            deviceID: mallory.deviceID,
            device: mallory.device
        )
        let forged = try GroupKeys.seal([epoch], group: group, for: bundle(bob), by: forger, time: 0)
        #expect(forged.open(keys: bob, owner: alice.identityPublicKey) == .failure(.forged))
        // The owner's genuine keys for bob, copied to carol's topic or to mallory's group of the same name.
        let genuine = try GroupKeys.seal([epoch], group: group, for: bundle(bob), by: alice, time: 0)
        var copied = genuine
        copied.member = "carol"
        #expect(copied.open(keys: carol, owner: alice.identityPublicKey) == .failure(.moved))
        var elsewhere = genuine
        elsewhere.group = GroupID(owner: "mallory", name: "robots")
        #expect(elsewhere.open(keys: bob, owner: mallory.identityPublicKey) == .failure(.moved))
        #expect(genuine.open(keys: bob.onNewDevice(), owner: alice.identityPublicKey) == .failure(.notForThisDevice))
        for index in stride(from: 4, to: genuine.sealed.count, by: 5) {
            var changed = genuine
            changed.sealed[index] ^= 0x01
            guard case .failure = changed.open(keys: bob, owner: alice.identityPublicKey) else {
                Issue.record("byte \(index) changed and the keys still opened")
                return
            }
        }
        // The listener says why when a message needs them.
        var opener = opener(bob)
        let payload = try message("hi", from: alice, epoch: epoch)
        #expect(
            opener.open(payload, in: group, from: "alice", try directory(me: "bob", groupKeys: forged), now: now)
                == .refused(
                    "this device (\(bob.deviceID)) holds no key of alice/robots for epoch 1: its keys from alice were "
                        + "refused, they are not signed by the group's owner (forged)"
                )
        )
    }

    @Test("a message from a non-member, moved to another group, forged or tampered with: refused")
    func refusals() throws {
        let first = try plan(["alice", "bob", "carol"])
        let epoch = try #require(first.newEpoch)
        let directory = try directory(me: "bob", groupKeys: try keys(for: "bob", in: first))
        // mallory is no member: even holding the key, what she signs is refused.
        var opener = opener(bob)
        #expect(
            opener.open(
                try message("let me in", from: mallory, epoch: epoch),
                in: group,
                from: "mallory",
                directory,
                now: now
            )
                == .refused("its sender is not a member of alice/robots by the owner's signed list (forged)")
        )
        // carol's message moved to another group, or put under alice's name.
        let carols = try message("from carol", from: carol, epoch: epoch)
        #expect(
            opener.open(carols, in: GroupID(owner: "bob", name: "robots"), from: "carol", directory, now: now)
                == .refused("it was sealed for another conversation (moved)")
        )
        #expect(
            opener.open(carols, in: group, from: "alice", directory, now: now)
                == .refused("it was sealed for another conversation (moved)")
        )
        // carol signs a message whose header says alice.
        let forger = UserKeys(user: "alice", identity: carol.identity, deviceID: carol.deviceID, device: carol.device)
        #expect(
            opener.open(
                try message("I am alice", from: forger, epoch: epoch),
                in: group,
                from: "alice",
                directory,
                now: now
            ) == .refused("its signature does not verify (forged or tampered with)")
        )
        for index in stride(from: 4, to: carols.sealed.count, by: 5) {
            var changed = carols
            changed.sealed[index] ^= 0x01
            var fresh = self.opener(bob)
            guard
                case .refused = fresh.open(changed, in: group, from: "carol", directory, now: now)
            else {
                Issue.record("byte \(index) changed and it still opened")
                return
            }
        }
    }

    @Test("a removed member's message sealed with an epoch it was in is refused once the newest list drops it")
    func removedSender() throws {
        let joined = try plan(["alice", "bob", "carol"])
        let epoch1 = try #require(joined.newEpoch)
        let removed = try plan(["alice", "carol"], history: [epoch1])
        let directory = try directory(me: "carol", groupKeys: try keys(for: "carol", in: removed))
        var opener = opener(carol)
        #expect(
            opener.open(
                try message("still here", from: bob, epoch: epoch1),
                in: group,
                from: "bob",
                directory,
                now: now
            ) == .refused("its sender is not a member of alice/robots by the owner's signed list (forged)")
        )
    }

    @Test("the owner's groups whose newest epoch names someone who left need a new key; others' groups never")
    func departed() {
        var directory = ChatDirectory(me: "alice")
        _ = directory.apply(.groupInfo(group), payload: ChatState.groupCreated)
        _ = directory.apply(.groupRequest(group, user: "bob"), payload: ChatState.groupRequest(.requested, id: "r"))
        _ = directory.apply(
            .groupDecision(group, user: "bob"),
            payload: ChatState.groupDecision(.approved, request: "r")
        )
        let both = GroupEpoch.next(after: 0, members: ["alice", "bob"])
        #expect(GroupRekey.departed(directory, epochs: [group: [both]]) == [])
        #expect(GroupRekey.departed(directory, epochs: [:]) == [])
        _ = directory.apply(.groupRequest(group, user: "bob"), payload: ChatState.groupRequest(.left, id: "r"))
        #expect(GroupRekey.departed(directory, epochs: [group: [both]]) == [group])
        let alone = GroupEpoch.next(after: 1, members: ["alice"])
        #expect(GroupRekey.departed(directory, epochs: [group: [both, alone]]) == [])
        var bobs = ChatDirectory(me: "bob")
        _ = bobs.apply(.groupInfo(group), payload: ChatState.groupCreated)
        #expect(GroupRekey.departed(bobs, epochs: [group: [both]]) == [])
    }

    @Test("the epoch keys kept on disk round-trip; a damaged line is skipped")
    func keptEpochs() {
        let epoch = GroupEpoch.next(after: 4, members: ["bob", "alice"])
        let text = KeyFiles.groupEpochLine(group, epoch) + "alice/robots 9 not-base64 alice\n"
        #expect(KeyFiles.groupEpochs(text) == [group: [epoch]])
        #expect(epoch.members == ["alice", "bob"])
    }
}

extension KeyOpener {
    /// `payload` as a message on `sender`'s topic of `group`.
    mutating func open(
        _ payload: SealedPayload,
        in group: GroupID,
        from sender: String,
        _ directory: ChatDirectory,
        now: ChatTimestamp
    ) -> OpenedMessage {
        open(payload, topic: .groupMessage(group, sender: sender), directory: directory, now: now)
    }
}
