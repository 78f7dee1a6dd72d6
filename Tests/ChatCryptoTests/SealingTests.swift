import ChatProtocol
import Foundation
import Synchronization
import Testing

@testable import ChatCrypto

/// The pure side of end-to-end encryption, without a broker: every refusal of `KeyOpener`, bundles, and the
/// numbers people compare.
@Suite("sealing and opening private messages")
struct SealingTests {
    let alice = UserKeys.generate(user: "alice")
    let bob = UserKeys.generate(user: "bob")
    let carol = UserKeys.generate(user: "carol")
    let now = ChatTimestamp(millisecondsSince1970: 1_800_000_000_000)

    /// A directory holding the users' published bundles.
    func directory(_ keys: [UserKeys], me: String = "bob") throws -> ChatDirectory {
        var directory = ChatDirectory(me: me)
        for user in keys {
            let payload = try user.bundle(adding: nil, version: 1).payload(signedBy: user)
            _ = directory.apply(.keys(user: user.user), payload: payload)
        }
        return directory
    }

    func sealed(
        _ text: String,
        from sender: UserKeys,
        to recipient: UserKeys,
        time: Int64? = nil
    ) throws -> SealedPayload {
        try Sealing.sealDirect(
            .message(from: sender.user, text),
            from: sender,
            to: recipient.bundle(adding: nil, version: 1),
            time: time ?? now.millisecondsSince1970
        )
    }

    func opener(_ keys: UserKeys, pins: [String: [UInt8]] = [:]) -> KeyOpener {
        KeyOpener(keys: keys, pins: pins, replays: ReplayRecord(now: now.millisecondsSince1970))
    }

    @Test("a sealed message opens for its recipient, once; a copy is refused as replayed")
    func opensOnce() throws {
        let directory = try directory([alice, bob])
        var opener = opener(bob)
        let payload = try SealedPayload(decoding: sealed("hi", from: alice, to: bob).encoded()).unwrap()
        let topic = ChatTopic.inbox(user: "bob", sender: "alice")
        #expect(
            opener.open(payload, topic: topic, directory: directory, now: now)
                == .message(.message(from: "alice", "hi"))
        )
        #expect(opener.pins["alice"] == alice.identityPublicKey)
        #expect(
            opener.open(payload, topic: topic, directory: directory, now: now)
                == .refused("it was replayed (already shown once)")
        )
    }

    @Test("moved to another inbox, or under another sender's name: refused")
    func moved() throws {
        let directory = try directory([alice, bob, carol], me: "carol")
        let payload = try sealed("hi", from: alice, to: bob)
        var carolOpener = opener(carol)
        #expect(
            carolOpener.open(payload, topic: .inbox(user: "carol", sender: "alice"), directory: directory, now: now)
                == .refused("it was sealed for another conversation (moved)")
        )
        var bobOpener = opener(bob)
        #expect(
            bobOpener.open(payload, topic: .inbox(user: "bob", sender: "carol"), directory: directory, now: now)
                == .refused("it was sealed for another conversation (moved)")
        )
    }

    @Test("any byte changed: refused as tampered (or invalid), never opened")
    func tampered() throws {
        let directory = try directory([alice, bob])
        let payload = try sealed("hi", from: alice, to: bob)
        let topic = ChatTopic.inbox(user: "bob", sender: "alice")
        for index in stride(from: 4, to: payload.sealed.count, by: 7) {
            var changed = payload
            changed.sealed[index] ^= 0x01
            var opener = opener(bob)
            guard case .refused = opener.open(changed, topic: topic, directory: directory, now: now) else {
                Issue.record("byte \(index) changed and it still opened")
                return
            }
        }
    }

    @Test("a forged sender: sealed by carol with her key but claiming alice's name is refused")
    func forged() throws {
        let directory = try directory([alice, bob, carol])
        // carol builds a message whose header says alice, signed with her own identity.
        let forger = UserKeys(user: "alice", identity: carol.identity, deviceID: carol.deviceID, device: carol.device)
        let payload = try sealed("I am alice", from: forger, to: bob)
        var opener = opener(bob, pins: ["alice": alice.identityPublicKey])
        #expect(
            opener.open(payload, topic: .inbox(user: "bob", sender: "alice"), directory: directory, now: now)
                == .refused("its signature does not verify (forged or tampered with)")
        )
    }

    @Test("a new identity key: one notice, its messages refused until trusted")
    func keyChange() throws {
        let renewed = UserKeys.generate(user: "alice")
        let directory = try directory([renewed, bob])
        var opener = opener(bob, pins: ["alice": alice.identityPublicKey])
        #expect(opener.keysChanged(of: "alice", directory: directory) == [.keyChanged])
        #expect(opener.keysChanged(of: "alice", directory: directory) == [])
        #expect(
            opener.open(
                try sealed("new me", from: renewed, to: bob),
                topic: .inbox(user: "bob", sender: "alice"),
                directory: directory,
                now: now
            ) == .refused("it is signed by a new identity key of alice (publisher trust alice to accept it)")
        )
    }

    @Test("this user's published keys without this device (another machine's identity): one notice")
    func deviceMissing() throws {
        let otherMachine = UserKeys.generate(user: "bob")
        let elsewhere = try directory([otherMachine])
        var opener = opener(bob)
        #expect(opener.keysChanged(of: "bob", directory: elsewhere) == [.deviceMissing(bob.deviceID)])
        #expect(opener.keysChanged(of: "bob", directory: elsewhere) == [])
        #expect(opener.pins["bob"] == nil)
        var fresh = self.opener(bob)
        #expect(fresh.keysChanged(of: "bob", directory: try directory([bob])) == [])
    }

    @Test("a bundle older than one seen (an old copy put back): one notice, ignored, also after a restart")
    func rollback() throws {
        let old = try alice.bundle(adding: nil, version: 5).payload(signedBy: alice)
        // The version is signed: an old copy cannot be made to look new.
        let relabelled = String(decoding: old, as: UTF8.self).replacingOccurrences(of: "\"5\"", with: "\"9\"")
        #expect(relabelled != String(decoding: old, as: UTF8.self))
        #expect(KeyBundle(payload: Array(relabelled.utf8), user: "alice") == nil)
        let recorded = Mutex<[KeyRecord]>([])
        var opener = KeyOpener(
            keys: bob,
            pins: ["alice": alice.identityPublicKey],
            replays: ReplayRecord(now: now.millisecondsSince1970),
            versions: ["alice": 7]
        ) { entry in recorded.withLock { $0.append(entry) } }
        var directory = ChatDirectory(me: "bob")
        _ = directory.apply(.keys(user: "alice"), payload: old)
        #expect(opener.keysChanged(of: "alice", directory: directory) == [.keysRolledBack])
        #expect(opener.keysChanged(of: "alice", directory: directory) == [])
        #expect(opener.bundle(of: "alice", directory) == nil)
        // A newer one is taken, and its version kept.
        _ = directory.apply(
            .keys(user: "alice"),
            payload: try alice.bundle(adding: nil, version: 8).payload(signedBy: alice)
        )
        #expect(opener.keysChanged(of: "alice", directory: directory) == [])
        #expect(opener.versions["alice"] == 8)
        #expect(recorded.withLock { $0 } == [.bundleVersion(user: "alice", version: 8)])
        // The kept versions, the highest per user; a damaged line is skipped.
        #expect(KeyFiles.versions("alice 7\nalice 8\nbob x\nalice 3\n") == ["alice": 8])
        // A machine whose clock is behind still publishes past the version on the broker.
        let existing = alice.bundle(adding: nil, version: 2_000)
        #expect(KeyBundle.version(after: existing, now: 1_000) == 2_001)
        #expect(KeyBundle.version(after: existing, now: 3_000) == 3_000)
    }

    @Test("outside the replay window, or from the future: refused")
    func window() throws {
        let directory = try directory([alice, bob])
        let topic = ChatTopic.inbox(user: "bob", sender: "alice")
        var opener = opener(bob)
        let old = try sealed("old", from: alice, to: bob, time: now.millisecondsSince1970 - ReplayRecord.window - 1)
        #expect(
            opener.open(old, topic: topic, directory: directory, now: now)
                == .refused("it is older than the replay window (7 days)")
        )
        let future = try sealed("soon", from: alice, to: bob, time: now.millisecondsSince1970 + ReplayRecord.skew + 1)
        #expect(
            opener.open(future, topic: topic, directory: directory, now: now) == .refused("it is dated in the future")
        )
    }

    @Test("a device added after sending cannot open it; the persisted replay record outlives a restart")
    func devicesAndRecord() throws {
        let directory = try directory([alice, bob])
        let payload = try sealed("hi", from: alice, to: bob)
        var other = opener(bob.onNewDevice())
        guard
            case .refused(let reason) = other.open(
                payload,
                topic: .inbox(user: "bob", sender: "alice"),
                directory: directory,
                now: now
            )
        else {
            Issue.record("opened on a device it was not sealed for")
            return
        }
        #expect(reason.hasPrefix("it was not sealed for this device"))
        let envelope = try #require(Envelope(decoding: payload.sealed))
        var restarted = KeyOpener(
            keys: bob,
            pins: [:],
            replays: ReplayRecord([(hex(envelope.id), envelope.time)], now: now.millisecondsSince1970)
        )
        #expect(
            restarted.open(payload, topic: .inbox(user: "bob", sender: "alice"), directory: directory, now: now)
                == .refused("it was replayed (already shown once)")
        )
    }

    @Test("bundles: a copy under another name, or a changed device list, does not verify")
    func bundles() throws {
        let payload = try alice.bundle(adding: nil, version: 5).payload(signedBy: alice)
        #expect(KeyBundle(payload: payload, user: "alice")?.devices.count == 1)
        #expect(KeyBundle(payload: payload, user: "mallory") == nil)
        let forged = String(decoding: payload, as: UTF8.self).replacingOccurrences(
            of: alice.deviceID,
            with: carol.deviceID
        )
        #expect(KeyBundle(payload: Array(forged.utf8), user: "alice") == nil)
        // A second device of the same identity is added; another identity's devices are dropped.
        let second = alice.onNewDevice().bundle(adding: KeyBundle(payload: payload, user: "alice"), version: 6)
        #expect(second.devices.count == 2)
        #expect(carol.bundle(adding: second, version: 7).devices.count == 1)
    }

    @Test("safety numbers are the same on both sides; fingerprints are 8 groups of 4 hex digits")
    func numbers() {
        let a = KeyFingerprint.safetyNumber(("alice", alice.identityPublicKey), ("bob", bob.identityPublicKey))
        let b = KeyFingerprint.safetyNumber(("bob", bob.identityPublicKey), ("alice", alice.identityPublicKey))
        #expect(a == b)
        #expect(a.split(separator: " ").count == 12 && a.split(separator: " ").allSatisfy { $0.count == 5 })
        #expect(KeyFingerprint.of(alice.identityPublicKey).split(separator: " ").count == 8)
    }

    @Test("an exported identity opens with its passphrase only")
    func export() throws {
        let text = try IdentityExport.seal(alice, passphrase: "correct horse")
        #expect(
            try IdentityExport.open(text, user: "alice", passphrase: "correct horse").rawRepresentation
                == alice.identity.rawRepresentation
        )
        #expect(throws: MQTTError.self) { try IdentityExport.open(text, user: "alice", passphrase: "wrong") }
        #expect(throws: MQTTError.self) { try IdentityExport.open(text, user: "bob", passphrase: "correct horse") }
    }
}

extension Optional {
    func unwrap() throws -> Wrapped {
        guard let self else { throw OptionalError() }
        return self
    }
}

struct OptionalError: Error {}
