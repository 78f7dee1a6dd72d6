/// What Tab completes at the prompt, from the directory the tool already keeps (never the network): command
/// words after `/` (`/jo` -> `/join `), then each argument by its kind in the command table: rooms after
/// `/join`, `/leave`, `/invite USER`, `/who`; people after `/msg`, `/accept`, `/block`, `/invite`; groups
/// (`OWNER/NAME`) after `/group ...`; people after `@` anywhere in text. People online and people in your rooms
/// come first. One match is put in with a space after it; several put in what they share, or are listed.
public struct PromptCompletion: Sendable, Equatable {
    /// The word before the cursor that the completion replaces.
    public var word: String
    /// Every match, in the order to list them.
    public var candidates: [String]

    public init(word: String, candidates: [String]) {
        self.word = word
        self.candidates = candidates
    }

    /// What to put in place of `word`: the one match and a space, or the start all matches share when it is
    /// longer than the word; nil when there is nothing to add (then several matches are listed).
    public var replacement: String? {
        if candidates.count == 1 { return candidates[0] + " " }
        guard var shared = candidates.first?.unicodeScalars.map({ $0 }) else { return nil }
        for candidate in candidates.dropFirst() {
            let scalars = Array(candidate.unicodeScalars)
            shared = Array(zip(shared, scalars).prefix { $0 == $1 }.map(\.0))
        }
        guard shared.count > word.unicodeScalars.count else { return nil }
        var text = String.UnicodeScalarView()
        text.append(contentsOf: shared)
        return String(text)
    }

    /// The completion for the text before the cursor.
    public static func complete(_ before: Substring, directory: ChatDirectory) -> PromptCompletion {
        let word = String(before.reversed().prefix { $0 != " " }.reversed())
        // People after @, in any text (and in a command's text).
        if word.hasPrefix("@") {
            return PromptCompletion(
                word: word,
                candidates: people(directory).map { "@" + $0 }.filter { $0.hasPrefix(word) }
            )
        }
        guard before.hasPrefix("/"), !before.hasPrefix("//") else {
            return PromptCompletion(word: word, candidates: [])
        }
        let done = before.dropFirst().split(separator: " ").map(String.init).dropLast(word.isEmpty ? 0 : 1)
        if done.isEmpty {
            let words = ChatOperations.all.map { $0.words[0] } + ["help", "quit"]
            return PromptCompletion(
                word: word,
                candidates: unique(words.map { "/" + $0 }).filter { $0.hasPrefix(word) }
            )
        }
        if done.count == 1, ChatOperations.headings.contains(where: { $0.word == done[0] }) {
            let verbs = ChatOperations.all.filter { $0.words.count == 2 && $0.words[0] == done[0] }.map { $0.words[1] }
            return PromptCompletion(word: word, candidates: verbs.filter { $0.hasPrefix(word) })
        }
        for count in [2, 1] where done.count >= count {
            guard let operation = ChatOperations.named(Array(done.prefix(count))) else { continue }
            let arguments = operation.promptArguments
            let index = done.count - count
            guard index < arguments.count else { break }
            let names: [String]
            switch arguments[index].kind {
            case .room: names = operation.words == ["leave"] ? directory.rooms(of: directory.me) : directory.knownRooms
            case .user: names = people(directory)
            case .group: names = directory.groups.map(\.description)
            case .groupName, .text: names = []
            }
            return PromptCompletion(word: word, candidates: names.filter { $0.hasPrefix(word) })
        }
        return PromptCompletion(word: word, candidates: [])
    }

    /// Everyone known but oneself: those online or in a room with this user first, each part sorted.
    static func people(_ directory: ChatDirectory) -> [String] {
        let others = directory.knownUsers.filter { $0 != directory.me }
        let near = others.filter { directory.isOnline($0) || directory.sharesRoom(with: $0) }
        return near + others.filter { !near.contains($0) }
    }

    private static func unique(_ words: [String]) -> [String] {
        var seen = Set<String>()
        return words.filter { seen.insert($0).inserted }
    }
}
