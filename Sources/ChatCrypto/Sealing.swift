import ChatProtocol
import Crypto

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// Sealing and opening. A private message (age's shape, Signal's Sesame): one random content key seals the
/// signed message (ChaChaPoly), and is itself sealed with HPKE base mode (RFC 9180,
/// X25519/HKDF-SHA256/ChaChaPoly) to each of the recipient's devices. The sender's identity key signs the
/// header and the message inside the ciphertext: HPKE's auth mode would allow key-compromise impersonation
/// (RFC 9180, 9.1.1), a signature does not.
public enum Sealing {
    static let suite = HPKE.Ciphersuite.Curve25519_SHA256_ChachaPoly

    /// `message` sealed for `recipient`'s devices, signed by `keys`; `time` in milliseconds since 1970.
    public static func sealDirect(
        _ message: ChatMessage,
        from keys: UserKeys,
        to recipient: KeyBundle,
        time: Int64
    ) throws -> SealedPayload {
        var envelope = Envelope(
            kind: .direct,
            sender: keys.user,
            recipient: recipient.user,
            epoch: 0,
            id: randomID(),
            time: time
        )
        let contentKey = SymmetricKey(size: .bits256)
        envelope.wraps = try wraps(contentKey, header: envelope.header, for: recipient.devices, label: Label.directWrap)
        envelope.body = try sealBody(
            message.encoded(),
            header: envelope.header,
            label: Label.directSignature,
            keys: keys,
            with: contentKey
        )
        return SealedPayload(from: keys.user, sealed: envelope.encoded())
    }

    /// `message` sealed for the members of `group` with `epoch`'s key, signed by `keys`.
    public static func sealGroup(
        _ message: ChatMessage,
        from keys: UserKeys,
        group: GroupID,
        epoch: GroupEpoch,
        time: Int64
    ) throws -> SealedPayload {
        var envelope = Envelope(
            kind: .group,
            sender: keys.user,
            recipient: group.description,
            epoch: epoch.number,
            id: randomID(),
            time: time
        )
        envelope.body = try sealBody(
            message.encoded(),
            header: envelope.header,
            label: Label.groupSignature,
            keys: keys,
            with: groupMessageKey(epoch, envelope)
        )
        return SealedPayload(from: keys.user, sealed: envelope.encoded())
    }

    /// The key of one group message: derived from the epoch key with the message's id and header, so the
    /// epoch key itself never seals anything (one label per use of a key) and nonces never repeat under it.
    static func groupMessageKey(_ epoch: GroupEpoch, _ envelope: Envelope) -> SymmetricKey {
        HKDF<SHA256>.deriveKey(
            inputKeyMaterial: SymmetricKey(data: epoch.key),
            salt: envelope.id,
            info: Array(Label.groupMessageKey.utf8) + envelope.header,
            outputByteCount: 32
        )
    }

    static func randomID() -> [UInt8] { SymmetricKey(size: .bits128).withUnsafeBytes { Array($0) } }

    /// `contentKey` sealed with HPKE base mode to each of `devices`, the header and the device id
    /// authenticated with it.
    static func wraps(
        _ contentKey: SymmetricKey,
        header: [UInt8],
        for devices: [KeyBundle.Device],
        label: String
    ) throws -> [Envelope.Wrap] {
        try devices.map { device in
            let publicKey = try Curve25519.KeyAgreement.PublicKey(rawRepresentation: device.key)
            var sender = try HPKE.Sender(recipientKey: publicKey, ciphersuite: suite, info: Data(label.utf8))
            let sealedKey = try contentKey.withUnsafeBytes {
                try sender.seal(Array($0), authenticating: header + Array(device.id.utf8))
            }
            return Envelope.Wrap(
                device: device.id,
                encapsulated: Array(sender.encapsulatedKey),
                sealedKey: Array(sealedKey)
            )
        }
    }

    /// The signature over the header and `plain`, then `plain`, sealed with `key`; the header is the AEAD's
    /// associated data.
    static func sealBody(
        _ plain: [UInt8],
        header: [UInt8],
        label: String,
        keys: UserKeys,
        with key: SymmetricKey
    ) throws -> [UInt8] {
        let signature = try keys.identity.signature(for: Array(label.utf8) + header + plain)
        return Array(try ChaChaPoly.seal(Array(signature) + plain, using: key, authenticating: header).combined)
    }

    /// The content key of an envelope with wraps, if one of them is for this device (else `.some(nil)`) and
    /// opens (else nil).
    static func contentKey(
        _ envelope: Envelope,
        keys: UserKeys,
        label: String = Label.directWrap
    ) -> SymmetricKey?? {
        guard let wrap = envelope.wraps.first(where: { $0.device == keys.deviceID }) else { return .some(nil) }
        do {
            var recipient = try HPKE.Recipient(
                privateKey: keys.device,
                ciphersuite: suite,
                info: Data(label.utf8),
                encapsulatedKey: Data(wrap.encapsulated)
            )
            let key = try recipient.open(wrap.sealedKey, authenticating: envelope.header + Array(wrap.device.utf8))
            return SymmetricKey(data: key)
        } catch {
            return nil
        }
    }

    /// The signature and the message inside `envelope`'s body, if it opens with `key` (the header is
    /// authenticated with it).
    static func openBody(_ envelope: Envelope, key: SymmetricKey) -> (signature: [UInt8], message: [UInt8])? {
        guard let box = try? ChaChaPoly.SealedBox(combined: envelope.body),
            let plain = try? ChaChaPoly.open(box, using: key, authenticating: envelope.header), plain.count > 64
        else { return nil }
        let bytes = Array(plain)
        return (Array(bytes[..<64]), Array(bytes[64...]))
    }

    /// Whether `identity` signed `message` under `envelope`'s header, for `label`'s use.
    static func verify(
        _ signature: [UInt8],
        _ message: [UInt8],
        _ envelope: Envelope,
        label: String,
        identity: [UInt8]
    ) -> Bool {
        guard let key = try? Curve25519.Signing.PublicKey(rawRepresentation: identity) else { return false }
        return key.isValidSignature(signature, for: Array(label.utf8) + envelope.header + message)
    }
}
