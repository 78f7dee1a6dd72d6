/// The one reading of a command line's words against a command's options: the parser (`ParsedArguments`),
/// subcommand lookup (`ChatCommand.resolve`) and the config file's merge all walk the words through it, so
/// each reads `-dp 1883 join rust` as `-d -p 1883 join rust`.
///
/// Forms: `--name`, `--name=value`, `--name value`; `-x`, short flags together (`-dr`), and the first short
/// option that takes a value takes the rest of the word or else the next word, whatever it looks like (`-p1883`,
/// `-dp 1883`, `-m -5`), as the mosquitto clients do. `-` is an argument; after `--` everything is one.
struct CommandLineTokens: Sequence, IteratorProtocol {
    enum Token: Equatable {
        /// An option the command declares, with its value (nil for a flag).
        case option(OptionSpec, value: String?)
        /// An argument, and its index among the words.
        case argument(String, at: Int)
        /// `--`: only arguments follow.
        case endOfOptions
        /// `--bogus`, `-x`: an option the command does not declare (the rest of a short group is skipped).
        case unknown(String)
        /// An option that takes a value, at the end of the words.
        case missingValue(OptionSpec)
        /// `--flag=value`.
        case unexpectedValue(OptionSpec)
    }

    private let words: ArraySlice<String>
    private let options: [OptionSpec]
    private var index: Int
    /// The rest of a group of short options (`-dr`) being read.
    private var letters: Substring = ""
    private var onlyArguments = false

    init(_ words: ArraySlice<String>, options: [OptionSpec]) {
        self.words = words
        self.options = options
        index = words.startIndex
    }

    mutating func next() -> Token? {
        if !letters.isEmpty { return shortOption() }
        guard index < words.endIndex else { return nil }
        let word = words[index]
        let at = index
        index += 1
        if onlyArguments || word == "-" || !word.hasPrefix("-") { return .argument(word, at: at) }
        if word == "--" {
            onlyArguments = true
            return .endOfOptions
        }
        guard word.hasPrefix("--") else {
            letters = word.dropFirst()
            return shortOption()
        }
        let parts = word.dropFirst(2).split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
        guard let option = options.first(where: { $0.long == parts[0] }) else { return .unknown("--\(parts[0])") }
        if parts.count > 1 {
            return option.takesValue ? .option(option, value: String(parts[1])) : .unexpectedValue(option)
        }
        return option.takesValue ? valueFromNextWord(option) : .option(option, value: nil)
    }

    private mutating func shortOption() -> Token {
        let letter = letters.removeFirst()
        guard let option = options.first(where: { $0.short == letter }) else {
            letters = ""
            return .unknown("-\(letter)")
        }
        guard option.takesValue else { return .option(option, value: nil) }
        guard letters.isEmpty else {
            defer { letters = "" }
            return .option(option, value: String(letters))
        }
        return valueFromNextWord(option)
    }

    private mutating func valueFromNextWord(_ option: OptionSpec) -> Token {
        guard index < words.endIndex else { return .missingValue(option) }
        defer { index += 1 }
        return .option(option, value: words[index])
    }
}
