import ChatProtocol
import Crypto

/// The text of a user's key files (KeyStore, in ChatCLI, reads and writes them): pure, so the formats are
/// tested without files.
public enum KeyFiles {
    /// `identity` and `device`: the private keys.
    public static func privateFiles(_ keys: UserKeys) -> (identity: String, device: String) {
        (
            "mqtt-chat identity v1\n\(base64(Array(keys.identity.rawRepresentation)))\n",
            "mqtt-chat device v1\n\(keys.deviceID)\n\(base64(Array(keys.device.rawRepresentation)))\n"
        )
    }

    /// The keys the two files hold; nil when either is damaged.
    public static func keys(user: String, identity: String, device: String) -> UserKeys? {
        let identityLines = identity.split(separator: "\n").map(String.init)
        let deviceLines = device.split(separator: "\n").map(String.init)
        guard identityLines.count == 2, identityLines[0] == "mqtt-chat identity v1",
            let identityBytes = unbase64(identityLines[1]),
            let identity = try? Curve25519.Signing.PrivateKey(rawRepresentation: identityBytes),
            deviceLines.count == 3, deviceLines[0] == "mqtt-chat device v1",
            let deviceBytes = unbase64(deviceLines[2]),
            let device = try? Curve25519.KeyAgreement.PrivateKey(rawRepresentation: deviceBytes)
        else { return nil }
        return UserKeys(user: user, identity: identity, deviceID: deviceLines[1], device: device)
    }

    /// `known_keys`: one `user base64` line per pinned identity, like SSH's known_hosts.
    public static func pins(_ text: String) -> [String: [UInt8]] {
        var pins: [String: [UInt8]] = [:]
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: " ")
            guard parts.count == 2, let key = unbase64(String(parts[1])) else { continue }
            pins[String(parts[0])] = key
        }
        return pins
    }

    public static func pinsText(_ pins: [String: [UInt8]]) -> String {
        pins.keys.sorted().map { pinLine($0, pins[$0]!) }.joined()
    }

    public static func pinLine(_ user: String, _ identity: [UInt8]) -> String { "\(user) \(base64(identity))\n" }

    /// `key_versions`: one `user version` line per newer bundle version seen; the highest wins.
    public static func versions(_ text: String) -> [String: Int64] {
        var versions: [String: Int64] = [:]
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: " ")
            guard parts.count == 2, let version = Int64(parts[1]) else { continue }
            versions[String(parts[0])] = max(version, versions[String(parts[0])] ?? .min)
        }
        return versions
    }

    public static func versionLine(_ user: String, _ version: Int64) -> String { "\(user) \(version)\n" }

    /// `seen-<client>`: one `id time` line per message accepted.
    public static func replays(_ text: String, now: Int64) -> ReplayRecord {
        let entries = text.split(separator: "\n").compactMap { line -> (id: String, time: Int64)? in
            let parts = line.split(separator: " ")
            guard parts.count == 2, let time = Int64(parts[1]) else { return nil }
            return (String(parts[0]), time)
        }
        return ReplayRecord(entries, now: now)
    }

    public static func replaysText(_ record: ReplayRecord) -> String {
        record.seen.sorted { $0.value < $1.value }.map { seenLine($0.key, $0.value) }.joined()
    }

    public static func seenLine(_ id: String, _ time: Int64) -> String { "\(id) \(time)\n" }

    /// `group_keys`: one `OWNER/NAME epoch key members` line per epoch key handed to this user (or made,
    /// by an owner); a later line for the same epoch wins.
    public static func groupEpochs(_ text: String) -> [GroupID: [GroupEpoch]] {
        var epochs: [GroupID: [UInt32: GroupEpoch]] = [:]
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: " ", omittingEmptySubsequences: false).map(String.init)
            guard parts.count == 4, let group = try? GroupID(parsing: parts[0]), let number = UInt32(parts[1]),
                let key = unbase64(parts[2]), key.count == 32
            else { continue }
            let members = parts[3].split(separator: ",").map(String.init)
            epochs[group, default: [:]][number] = GroupEpoch(number: number, key: key, members: members)
        }
        return epochs.mapValues { $0.values.sorted { $0.number < $1.number } }
    }

    public static func groupEpochLine(_ group: GroupID, _ epoch: GroupEpoch) -> String {
        "\(group) \(epoch.number) \(base64(epoch.key)) \(epoch.members.joined(separator: ","))\n"
    }
}
