/// Opens end-to-end encrypted private and group messages for the router, and checks key bundles. ChatCrypto
/// implements it with the user's keys (the tools load the key files and hand the keys in), so ChatProtocol
/// stays free of cryptography and a listener without keys shows the placeholder.
public protocol ChatOpener: Sendable {
    /// What a sealed payload on `topic` (a private or group message) is: the message, verified, or a refusal.
    /// `directory` holds the published key bundles; `now` is the time for the replay window.
    mutating func open(
        _ sealed: SealedPayload,
        topic: ChatTopic,
        directory: ChatDirectory,
        now: ChatTimestamp
    ) -> OpenedMessage

    /// Whether a plaintext message from `user` on `topic` is unexpected (keys were seen for them), and so is
    /// marked not encrypted.
    func expectsSealed(from user: String, topic: ChatTopic, directory: ChatDirectory) -> Bool

    /// `user`'s key bundle changed: the notices it calls for (their identity key changed since it was pinned;
    /// for this user, the bundle lacks this device).
    mutating func keysChanged(of user: String, directory: ChatDirectory) -> [ChatLine.Event]
}

/// What opening a sealed message gave.
public enum OpenedMessage: Sendable, Hashable {
    /// Decrypted, its signature verified, its names bound to this topic, never seen before.
    case message(ChatMessage)
    /// Never shown as a message: one marker line says why (tampered, moved, replayed, forged, changed key).
    case refused(String)
}
