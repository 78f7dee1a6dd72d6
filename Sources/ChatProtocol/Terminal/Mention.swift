/// Whether a line of chat mentions someone: their name or `@name`, case-insensitively, as a whole word (`bob`,
/// `@Bob:`, `bob's` mention bob; `bobby`, `bob_2` and `alice-bob` do not).
public enum Mention {
    public static func mentions(_ text: String, _ name: String) -> Bool {
        let name = Array(name.lowercased())
        guard !name.isEmpty else { return false }
        let text = Array(text.lowercased())
        guard text.count >= name.count else { return false }
        for start in 0...(text.count - name.count) where text[start..<(start + name.count)].elementsEqual(name) {
            let before = start > 0 ? text[start - 1] : nil
            let after = start + name.count < text.count ? text[start + name.count] : nil
            if !isWordPart(before) && !isWordPart(after) { return true }
        }
        return false
    }

    /// Letters, digits, `_` and `-` continue a name (as in IRC nicknames); anything else ends it.
    private static func isWordPart(_ character: Character?) -> Bool {
        guard let character else { return false }
        return character.isLetter || character.isNumber || character == "_" || character == "-"
    }
}
