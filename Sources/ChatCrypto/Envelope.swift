import ChatProtocol
import Crypto

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// A sealed message, binary (SealedPayload carries it in base64), or a member's group keys (`GroupKeys`).
/// Its header names the sender, the recipient (a user's inbox; a group and its epoch; a group's member for
/// their keys), a random message id and the send time; the header
/// is authenticated by every layer (HPKE wraps, the AEAD, the signature), so a message moved to another inbox
/// or group, or tampered with, never opens as a normal one (MLS: bind group, epoch, sender and id).
///
/// ```
/// "MC" 1 kind | sender | recipient | epoch (u32) | id (16) | time (i64, ms)      the header
/// wraps (u16 count) { device id | enc | HPKE(content key) }                        not in group messages
/// ChaChaPoly(signature (64) | chat message JSON)                                    the body
/// ```
/// Every variable field is preceded by its length (u16, big-endian).
struct Envelope: Sendable, Hashable {
    enum Kind: UInt8 {
        case direct = 1
        case group = 2
        /// The epoch keys the owner hands to one member (`GroupKeys`).
        case groupKeys = 3
    }

    struct Wrap: Sendable, Hashable {
        var device: String
        var encapsulated: [UInt8]
        var sealedKey: [UInt8]
    }

    var kind: Kind
    var sender: String
    /// A user (private message), `OWNER/NAME` (group message) or `OWNER/NAME/MEMBER` (a member's group keys).
    var recipient: String
    var epoch: UInt32
    var id: [UInt8]
    var time: Int64
    var wraps: [Wrap] = []
    var body: [UInt8] = []

    var header: [UInt8] {
        var writer = ByteWriter()
        writer.raw([0x4D, 0x43, 1, kind.rawValue])
        writer.field(Array(sender.utf8))
        writer.field(Array(recipient.utf8))
        writer.integer(UInt64(epoch), bytes: 4)
        writer.field(id)
        writer.integer(UInt64(bitPattern: time), bytes: 8)
        return writer.bytes
    }

    func encoded() -> [UInt8] {
        var writer = ByteWriter()
        writer.raw(header)
        if kind != .group {
            writer.integer(UInt64(wraps.count), bytes: 2)
            for wrap in wraps {
                writer.field(Array(wrap.device.utf8))
                writer.field(wrap.encapsulated)
                writer.field(wrap.sealedKey)
            }
        }
        writer.raw(body)
        return writer.bytes
    }

    init(kind: Kind, sender: String, recipient: String, epoch: UInt32, id: [UInt8], time: Int64) {
        (self.kind, self.sender, self.recipient, self.epoch, self.id, self.time) = (
            kind, sender, recipient, epoch, id, time
        )
    }

    /// Nil for anything malformed.
    init?(decoding bytes: [UInt8]) {
        var reader = ByteReader(bytes)
        guard let magic = reader.raw(4), magic[0] == 0x4D, magic[1] == 0x43, magic[2] == 1,
            let kind = Kind(rawValue: magic[3]),
            let sender = reader.field().map({ String(decoding: $0, as: UTF8.self) }),
            let recipient = reader.field().map({ String(decoding: $0, as: UTF8.self) }),
            let epoch = reader.integer(bytes: 4), let id = reader.field(), id.count == 16,
            let time = reader.integer(bytes: 8)
        else { return nil }
        self.init(
            kind: kind,
            sender: sender,
            recipient: recipient,
            epoch: UInt32(epoch),
            id: id,
            time: Int64(bitPattern: time)
        )
        if kind != .group {
            guard let count = reader.integer(bytes: 2) else { return nil }
            for _ in 0..<count {
                guard let device = reader.field(), let encapsulated = reader.field(), let key = reader.field() else {
                    return nil
                }
                wraps.append(
                    Wrap(device: String(decoding: device, as: UTF8.self), encapsulated: encapsulated, sealedKey: key)
                )
            }
        }
        body = reader.rest
    }
}

struct ByteWriter {
    var bytes: [UInt8] = []

    mutating func raw(_ more: [UInt8]) { bytes += more }

    mutating func integer(_ value: UInt64, bytes count: Int) {
        for shift in stride(from: (count - 1) * 8, through: 0, by: -8) {
            bytes.append(UInt8(truncatingIfNeeded: value >> UInt64(shift)))
        }
    }

    mutating func field(_ value: [UInt8]) {
        integer(UInt64(value.count), bytes: 2)
        bytes += value
    }
}

struct ByteReader {
    private let bytes: [UInt8]
    private var index = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    mutating func raw(_ count: Int) -> [UInt8]? {
        guard count <= bytes.count - index else { return nil }
        defer { index += count }
        return Array(bytes[index..<index + count])
    }

    mutating func integer(bytes count: Int) -> UInt64? {
        raw(count)?.reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
    }

    mutating func field() -> [UInt8]? {
        guard let count = integer(bytes: 2) else { return nil }
        return raw(Int(count))
    }

    var rest: [UInt8] { Array(bytes[index...]) }
}
