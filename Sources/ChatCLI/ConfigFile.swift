#if canImport(Glibc)
    import Glibc
#endif

/// The tools' defaults file, `$XDG_CONFIG_HOME/mqtt-chat/config` (else `~/.config/mqtt-chat/config`), in the
/// mosquitto clients' options-file form: one long option per line as on the command line (`--host 10.0.0.5`,
/// `--tls`), `#` comments and blank lines ignored. The value is the rest of the line, trimmed (so a room name
/// may contain spaces), with one pair of surrounding quotes removed; a leading `~/` is the home folder.
///
/// Both tools read the same file, so an option only the other tool has (`--format` is the listener's) is
/// accepted and skipped, and so is an option of another subcommand than the one run; an option neither
/// tool has is an error naming the file and line (exit 64). The command line wins: an option given there
/// replaces every value the file gives for it (a repeatable option such as `--room` too: the command line's
/// list replaces the file's), and the options of one group replace each other (`--password` and
/// `--password-file`; `--topic`, `--room`, `--to` and `--all`; `--url` replaces the file's host and port,
/// and its user name and password when it has them).
public struct ConfigFile: Sendable {
    /// One option line of the file.
    public struct Entry: Equatable, Sendable {
        public var line: Int
        public var name: String
        public var value: String?
    }

    /// A problem with the file: the message names it and the line (`FILE:LINE: ...`).
    public struct Problem: Error, Equatable, CustomStringConvertible {
        public let description: String
        init(_ description: String) { self.description = description }
    }

    /// Every long option of the two tools (their subcommands included), so that one file serves both: the
    /// commands' own declarations, which live in this module for that reason. A test checks it against both
    /// tools' `--experimental-dump-options`.
    public static let optionsOfEitherTool = Set(
        (SendOptions.options + ListenOptions.options + WhoCommand.spec.options + RoomsCommand.spec.options
            + GroupsCommand.spec.options + KeysCommand.spec.options).map(\.long)
    )

    /// Options that stand for one setting: any of them on the command line drops all of them from the file.
    static let groups: [Set<String>] = [["password", "password-file"], ["topic", "room", "to", "all", "group"]]

    public let path: String
    public let entries: [Entry]

    /// Parses the text of a config file; `home` expands a leading `~/`.
    public init(path: String, text: String, home: String?) throws(Problem) {
        self.path = path
        var entries: [Entry] = []
        for (index, rawLine) in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).enumerated() {
            let line = rawLine.trimmingWhitespace()
            if line.isEmpty || line.hasPrefix("#") { continue }
            let where_ = "\(path):\(index + 1)"
            guard line.hasPrefix("--"), line.count > 2 else {
                throw Problem("\(where_): expected a long option such as --host HOST, found \"\(line.prefix(40))\"")
            }
            var name = Substring(line.dropFirst(2))
            var value: Substring?
            if let split = name.firstIndex(where: { $0 == " " || $0 == "\t" || $0 == "=" }) {
                value = name[name.index(after: split)...].trimmingWhitespace()[...]
                name = name[..<split]
            }
            if var text = value.map(String.init) {
                if text.count >= 2, let first = text.first, first == "\"" || first == "'", text.last == first {
                    text = String(text.dropFirst().dropLast())
                }
                if let home, text == "~" || text.hasPrefix("~/") { text = home + text.dropFirst() }
                entries.append(Entry(line: index + 1, name: String(name), value: text))
            } else {
                entries.append(Entry(line: index + 1, name: String(name), value: nil))
            }
        }
        self.entries = entries
    }

    /// Where the file is: `$XDG_CONFIG_HOME/mqtt-chat/config` when that is an absolute path, else
    /// `$HOME/.config/mqtt-chat/config`.
    public static func defaultPath(environment: (String) -> String?) -> String? {
        if let base = environment("XDG_CONFIG_HOME"), base.hasPrefix("/") { return base + "/mqtt-chat/config" }
        guard let home = environment("HOME"), !home.isEmpty else { return nil }
        return home + "/.config/mqtt-chat/config"
    }

    /// `arguments` (the command line, without the tool's name) with this file's options inserted where
    /// `root` will parse them: first, or right after a leading subcommand name (found from
    /// the specs' subcommands, recursively), as `--name=value`.
    public func merged(into arguments: [String], root: any ChatCommand.Type) throws(Problem) -> [String] {
        // The command that will run (a default subcommand when the words name none: `publisher -m hi` is
        // `send`), and where its own arguments start.
        var (command, words) = root.resolve(arguments)
        while let fallback = command.spec.defaultSubcommand { command = fallback }
        let start = words.last.map { $0 + 1 } ?? 0
        let dropped = Self.overridden(by: Self.given(root.removingWords(words, from: arguments), to: command.spec))

        var inserted: [String] = []
        for entry in entries {
            guard let option = command.spec.option(entry.name) else {
                if Self.optionsOfEitherTool.contains(entry.name) { continue }
                throw Problem("\(path):\(entry.line): unknown option --\(entry.name)")
            }
            switch (option.takesValue, entry.value) {
            case (true, nil): throw Problem("\(path):\(entry.line): --\(entry.name) needs a value")
            case (false, .some): throw Problem("\(path):\(entry.line): --\(entry.name) takes no value")
            default: break
            }
            if dropped.contains(option.long) { continue }
            inserted.append(entry.value.map { "--\(option.long)=\($0)" } ?? "--\(option.long)")
        }
        return Array(arguments[..<start]) + inserted + Array(arguments[start...])
    }

    /// The options `arguments` gives `command` (by long name, with their values), up to a `--`.
    static func given(_ arguments: [String], to command: CommandSpec) -> [String: [String]] {
        var given: [String: [String]] = [:]
        for token in CommandLineTokens(arguments[...], options: command.options) {
            if case .option(let option, let value) = token { given[option.long, default: []].append(value ?? "") }
            if token == .endOfOptions { break }
        }
        return given
    }

    /// The file's options that the command line's `given` options replace.
    static func overridden(by given: [String: [String]]) -> Set<String> {
        var dropped = Set(given.keys)
        for group in groups where !group.isDisjoint(with: dropped) { dropped.formUnion(group) }
        if let url = given["url"]?.last {
            dropped.formUnion(["host", "port"])
            if let parsed = try? BrokerURL(parsing: url) {
                if parsed.username != nil { dropped.insert("username") }
                if parsed.password != nil { dropped.formUnion(["password", "password-file"]) }
            }
        }
        return dropped
    }

    /// Reads the file at `path`; nil when there is none. Warns (through `warn`) when others may read it.
    public static func load(path: String, home: String?, warn: (String) -> Void) throws(Problem) -> ConfigFile? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 {
            if errno == ENOENT || errno == ENOTDIR { return nil }
            throw Problem("cannot read \(path): \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        var status = stat()
        if fstat(fd, &status) == 0, status.st_mode & (S_IRWXG | S_IRWXO) != 0 {
            warn("warning: \(path) can be read by other users; chmod 600 it.")
        }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = read(fd, &buffer, buffer.count)
            if count < 0 { throw Problem("cannot read \(path): \(String(cString: strerror(errno)))") }
            if count == 0 { break }
            bytes += buffer[0..<count]
            if bytes.count > 1 << 20 { throw Problem("\(path) is larger than 1 MiB; is it the right file?") }
        }
        return try ConfigFile(path: path, text: String(decoding: bytes, as: UTF8.self), home: home)
    }

    /// What `runWithOneLineErrors` parses: the command line with the config file's options, unless the command
    /// line says `--no-config` (removed here) or only asks for help or the version.
    static func arguments(
        for root: any ChatCommand.Type,
        _ arguments: [String],
        warn: (String) -> Void
    )
        throws(Problem) -> [String]
    {
        let options = arguments.prefix { $0 != "--" }
        if let index = options.firstIndex(of: "--no-config") {
            var rest = arguments
            rest.remove(at: index)
            return rest
        }
        if asksForInformation(arguments) { return arguments }
        let environment = { (name: String) in getenv(name).map { String(cString: $0) } }
        guard let path = defaultPath(environment: environment),
            let file = try load(path: path, home: environment("HOME"), warn: warn)
        else { return arguments }
        return try file.merged(into: arguments, root: root)
    }
}

extension ConfigFile {
    /// Whether the arguments ask for help, the version or a generated script rather than a run: `help` first,
    /// or such a flag before any `--`.
    static func asksForInformation(_ arguments: [String]) -> Bool {
        arguments.first == "help"
            || arguments.prefix { $0 != "--" }.contains { argument in
                let name = argument.split(separator: "=", maxSplits: 1).first.map(String.init) ?? argument
                return ["--help", "--version", "--generate-completion-script", "--generate-manual-page"].contains(name)
                    || name.hasPrefix("--experimental-")
            }
    }
}

extension StringProtocol {
    fileprivate func trimmingWhitespace() -> String {
        let isSpace = { (c: Character) in c == " " || c == "\t" || c == "\r" }
        guard let first = firstIndex(where: { !isSpace($0) }), let last = lastIndex(where: { !isSpace($0) }) else {
            return ""
        }
        return String(self[first...last])
    }
}
