import ChatProtocol
import Crypto

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// One label per use of a key (Matrix's 2022 lesson): every signature and every key derivation names what
/// it is for and the format's version, so a signature made for one purpose never verifies for another.
enum Label {
    static let bundle = "mqtt-chat/v1/key-bundle"
    static let directSignature = "mqtt-chat/v1/dm-signature"
    static let directWrap = "mqtt-chat/v1/dm-content-key"
    static let groupSignature = "mqtt-chat/v1/group-signature"
    static let groupMessageKey = "mqtt-chat/v1/group-message-key"
    static let groupKeysSignature = "mqtt-chat/v1/group-keys-signature"
    static let groupKeysWrap = "mqtt-chat/v1/group-keys-content-key"
    static let fingerprint = "mqtt-chat/v1/fingerprint"
    static let safetyNumber = "mqtt-chat/v1/safety-number"
    static let export = "mqtt-chat/v1/identity-export"
}

/// The private keys of one user on one device: the identity key (Ed25519), the same on each of the user's
/// devices (moved by `--export`/`--import`), which signs the key bundle and every message; and this
/// device's key (X25519), to which content keys are sealed with HPKE.
public struct UserKeys: Sendable {
    public let user: String
    public let identity: Curve25519.Signing.PrivateKey
    public let deviceID: String
    public let device: Curve25519.KeyAgreement.PrivateKey

    public init(
        user: String,
        identity: Curve25519.Signing.PrivateKey,
        deviceID: String,
        device: Curve25519.KeyAgreement.PrivateKey
    ) {
        self.user = user
        self.identity = identity
        self.deviceID = deviceID
        self.device = device
    }

    /// New keys: a new identity and a new device.
    public static func generate(user: String) -> UserKeys {
        UserKeys(user: user, identity: .init(), deviceID: newDeviceID(), device: .init())
    }

    /// This identity on a new device (after `--import`).
    public func onNewDevice() -> UserKeys {
        UserKeys(user: user, identity: identity, deviceID: Self.newDeviceID(), device: .init())
    }

    /// 16 hex digits.
    public static func newDeviceID() -> String {
        SymmetricKey(size: .bits128).withUnsafeBytes { hex(Array($0.prefix(8))) }
    }

    public var identityPublicKey: [UInt8] { Array(identity.publicKey.rawRepresentation) }
    public var devicePublicKey: [UInt8] { Array(device.publicKey.rawRepresentation) }

    /// This user's bundle with this device added to `existing` (the user's other devices, when the bundle
    /// on the broker is signed by the same identity), at `version` (milliseconds since 1970, growing).
    public func bundle(adding existing: KeyBundle?, version: Int64) -> KeyBundle {
        var devices = existing.map { $0.identity == identityPublicKey ? $0.devices : [] } ?? []
        devices.removeAll { $0.id == deviceID }
        devices.append(KeyBundle.Device(id: deviceID, key: devicePublicKey))
        devices.sort { $0.id < $1.id }
        return KeyBundle(user: user, identity: identityPublicKey, devices: devices, version: version)
    }
}

/// A user's public keys as published (retained, `chat/users/<user>/keys`): the identity key and the device
/// keys it signs, with a version. The signature binds the user's name, so a bundle copied to another
/// user's topic never verifies; only the identity key can add a device (Matrix's 2022 lesson: the server
/// must not be able to add devices).
public struct KeyBundle: Sendable, Hashable {
    public struct Device: Sendable, Hashable {
        public var id: String
        public var key: [UInt8]
    }

    public var user: String
    public var identity: [UInt8]
    public var devices: [Device]
    public var version: Int64

    /// What the identity key signs.
    var signedBytes: [UInt8] {
        let devices = devices.map { $0.id + ":" + base64($0.key) }.joined(separator: ",")
        return Array("\(Label.bundle)\n\(user)\n\(base64(identity))\n\(version)\n\(devices)\n".utf8)
    }

    /// The retained state payload, signed by `keys.identity` (which must be this bundle's identity).
    public func payload(signedBy keys: UserKeys) throws -> [UInt8] {
        let signature = try keys.identity.signature(for: signedBytes)
        return ChatState.object(members: [
            ("identity", base64(identity)),
            ("devices", devices.map { $0.id + ":" + base64($0.key) }.joined(separator: ",")),
            ("version", String(version)),
            ("signature", base64(Array(signature))),
        ])
    }

    /// The bundle `payload` carries for `user`, if its signature by its own identity key verifies.
    public init?(payload: [UInt8], user: String) {
        guard let members = ChatState.members(payload), let identity = members["identity"].flatMap(unbase64),
            let version = members["version"].flatMap({ Int64($0) }), let devicesText = members["devices"],
            let signature = members["signature"].flatMap(unbase64),
            let key = try? Curve25519.Signing.PublicKey(rawRepresentation: identity)
        else { return nil }
        var devices: [Device] = []
        for entry in devicesText.split(separator: ",") {
            let parts = entry.split(separator: ":", maxSplits: 1)
            guard parts.count == 2, let device = unbase64(String(parts[1])), device.count == 32 else { return nil }
            devices.append(Device(id: String(parts[0]), key: device))
        }
        self.init(user: user, identity: identity, devices: devices, version: version)
        guard key.isValidSignature(signature, for: signedBytes) else { return nil }
    }

    public init(user: String, identity: [UInt8], devices: [Device], version: Int64) {
        self.user = user
        self.identity = identity
        self.devices = devices
        self.version = version
    }

    /// Whether this is an older version than `newest`, the newest seen for the user: the operator put back
    /// an older copy, genuinely signed, which may list a device the user dropped (`keys --new` after losing
    /// a machine) or lack one added since. The tools that saw the newer one refuse it.
    public func isOlder(than newest: Int64?) -> Bool { newest.map { version < $0 } ?? false }

    /// The version for a bundle that replaces `existing`: the time (milliseconds), past the existing
    /// version even when this machine's clock is behind the one that published it.
    public static func version(after existing: KeyBundle?, now: Int64) -> Int64 {
        max(now, (existing?.version ?? 0) + 1)
    }
}

/// How people compare keys out of band.
public enum KeyFingerprint {
    /// An identity key's fingerprint: 32 hex digits in groups of 4 (128 bits of SHA-256).
    public static func of(_ identity: [UInt8]) -> String {
        let digest = Array(SHA256.hash(data: Array(Label.fingerprint.utf8) + identity).prefix(16))
        return stride(from: 0, to: 16, by: 2).map { hex(Array(digest[$0..<$0 + 2])) }.joined(separator: " ")
    }

    /// The safety number two people both see: 60 digits in groups of 5 from both names and identity keys,
    /// in an order that does not depend on who computes it (as Signal's).
    public static func safetyNumber(
        _ a: (user: String, identity: [UInt8]),
        _ b: (user: String, identity: [UInt8])
    )
        -> String
    {
        var input = Array(Label.safetyNumber.utf8)
        for (user, identity) in [a, b].sorted(by: { $0.user < $1.user }) {
            input += Array(user.utf8) + [0] + identity
        }
        let digest = Array(SHA512.hash(data: input))
        return (0..<12).map { group in
            let value = digest[group * 5..<group * 5 + 5].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            let digits = String(value % 100_000)
            return String(repeating: "0", count: 5 - digits.count) + digits
        }.joined(separator: " ")
    }
}

func base64(_ bytes: [UInt8]) -> String { Data(bytes).base64EncodedString() }
func unbase64(_ text: String) -> [UInt8]? { Data(base64Encoded: text).map(Array.init) }
func hex(_ bytes: [UInt8]) -> String {
    let digits = Array("0123456789abcdef".utf8)
    var out: [UInt8] = []
    for byte in bytes { out += [digits[Int(byte >> 4)], digits[Int(byte & 15)]] }
    return String(decoding: out, as: UTF8.self)
}
func unhex(_ text: String) -> [UInt8]? {
    let utf8 = Array(text.utf8)
    guard utf8.count % 2 == 0 else { return nil }
    var out: [UInt8] = []
    for index in stride(from: 0, to: utf8.count, by: 2) {
        guard let byte = UInt8(String(decoding: utf8[index..<index + 2], as: UTF8.self), radix: 16) else { return nil }
        out.append(byte)
    }
    return out
}
