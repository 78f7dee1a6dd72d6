import ChatProtocol
import Crypto
import _CryptoExtras

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// The identity key in a file of its own, protected by a passphrase, to move it to another device
/// (`keys --export FILE`, `--import FILE`): scrypt (N = 2^15, r = 8, p = 1) derives the key that seals it
/// with ChaChaPoly; the user's name is authenticated with it.
public enum IdentityExport {
    static let header = "mqtt-chat identity export v1"

    public static func seal(_ keys: UserKeys, passphrase: String) throws -> String {
        let salt = SymmetricKey(size: .bits128).withUnsafeBytes { Array($0) }
        let key = try derive(passphrase, salt: salt)
        let box = try ChaChaPoly.seal(
            keys.identity.rawRepresentation,
            using: key,
            authenticating: Array((Label.export + "\n" + keys.user).utf8)
        )
        return "\(header)\n\(keys.user)\n\(base64(salt))\n\(base64(Array(box.combined)))\n"
    }

    /// The identity key in `text` for `user`; throws a one-line error for a wrong passphrase or another file.
    public static func open(
        _ text: String,
        user: String,
        passphrase: String
    ) throws(MQTTError)
        -> Curve25519.Signing.PrivateKey
    {
        let lines = text.split(separator: "\n").map(String.init)
        guard lines.count == 4, lines[0] == header, let salt = unbase64(lines[2]), let sealed = unbase64(lines[3])
        else { throw MQTTError(.invalidArgument, "This is not an exported mqtt-chat identity.") }
        guard lines[1] == user else {
            throw MQTTError(.invalidArgument, "This file holds \(lines[1])'s identity, not \(user)'s.")
        }
        do {
            let key = try derive(passphrase, salt: salt)
            let box = try ChaChaPoly.SealedBox(combined: sealed)
            let raw = try ChaChaPoly.open(box, using: key, authenticating: Array((Label.export + "\n" + user).utf8))
            return try Curve25519.Signing.PrivateKey(rawRepresentation: raw)
        } catch {
            throw MQTTError(.notAuthorized, "Wrong passphrase (or a damaged file): the identity was not imported.")
        }
    }

    private static func derive(_ passphrase: String, salt: [UInt8]) throws -> SymmetricKey {
        try KDF.Scrypt.deriveKey(
            from: Array(passphrase.utf8),
            salt: salt,
            outputByteCount: 32,
            rounds: 1 << 15,
            blockSize: 8,
            parallelism: 1
        )
    }
}
