extension ChatState {
    /// A state object of string members in the given order (ChatCrypto's key bundle, among others).
    public static func object(members: [(String, String)]) -> [UInt8] {
        var writer = JSONWriter()
        for (key, value) in members { writer.add(member: key, value) }
        return writer.finish()
    }
}
