import ChatProtocol

#if canImport(Glibc)
    import Glibc
#endif

extension ChatCommand {
    /// Runs the tool whose root command this is: help, version and generated scripts on request; otherwise
    /// the command the arguments name, with the config file's options (see `ConfigFile`) before the command
    /// line's (`--no-config` skips it). A usage error is one stderr line, `tool: message`, and exit 64, as
    /// every other failure of the tools is one line with its documented code.
    public static func runTool(_ tool: String) async -> Never {
        let commandLine = Array(CommandLine.arguments.dropFirst())
        if let text = information(commandLine, tool: tool) {
            Terminal.writeAll(Array(text.utf8), to: 1)
            finish()
        }
        let arguments: [String]
        do {
            arguments = try ConfigFile.arguments(for: self, commandLine) { report(tool, $0) }
        } catch {
            finish(ExitStatus.usage, tool, saying: error.description + " (--no-config ignores the file)")
        }
        let command: any ChatCommand
        do {
            command = try parse(arguments)
        } catch {
            let fromFile = arguments.count > commandLine.count ? "; options from the config file were used" : ""
            finish(ExitStatus.usage, tool, saying: error.message + " (see \(tool) --help\(fromFile))")
        }
        do {
            try await command.run()
        } catch {
            fail(tool, thrown: error)
        }
        finish()
    }

    /// The command `arguments` name, built from them and checked.
    static func parse(_ arguments: [String]) throws(ValidationError) -> any ChatCommand {
        var (type, words) = resolve(arguments)
        while let fallback = type.spec.defaultSubcommand { type = fallback }
        if !type.spec.subcommands.isEmpty {
            let names = type.spec.subcommands.map { $0.spec.name }.joined(separator: ", ")
            throw ValidationError("\(type.spec.name) needs a subcommand: \(names).")
        }
        var parsed = try ParsedArguments(removingWords(words, from: arguments), for: type.spec)
        let command = try type.init(&parsed)
        try command.validate()
        return command
    }

    /// The command the subcommand words of `arguments` name (the root when none), and their positions. A word
    /// counts where an argument would: options before it, and their values, are skipped (`publisher -u bob
    /// join rust`).
    static func resolve(_ arguments: [String]) -> (any ChatCommand.Type, [Int]) {
        var command: any ChatCommand.Type = self
        var words: [Int] = []
        var start = 0
        while let (index, subcommand) = CommandOptions(command.spec.defaultSubcommand ?? command)
            .subcommand(in: arguments[start...], of: command)
        {
            command = subcommand
            words.append(index)
            start = index + 1
        }
        return (command, words)
    }

    /// `arguments` without the subcommand words at `positions`: what the command they name parses.
    static func removingWords(_ positions: [Int], from arguments: [String]) -> [String] {
        arguments.indices.filter { !positions.contains($0) }.map { arguments[$0] }
    }

    /// What to print instead of running, if the arguments ask for information: `help [SUBCOMMAND...]` or
    /// `--help` (the help of the command named so far), `--version`, `--generate-completion-script SHELL`,
    /// and, for scripts/install, `--generate-manual-page DATE` and `--experimental-dump-options` (every
    /// command's options, one line each, for a test of the config file).
    static func information(_ arguments: [String], tool: String) -> String? {
        guard ConfigFile.asksForInformation(arguments) else { return nil }
        let options = arguments.prefix { $0 != "--" }
        func value(of flag: String) -> String? {
            if let index = options.firstIndex(of: flag) { return index + 1 < options.count ? options[index + 1] : "" }
            return options.first { $0.hasPrefix(flag + "=") }.map { String($0.dropFirst(flag.count + 1)) }
        }
        if let shell = value(of: "--generate-completion-script") {
            guard let script = ShellCompletions.script(for: spec, shell: shell) else {
                finish(
                    ExitStatus.usage,
                    tool,
                    saying: "Unknown shell \(shell.isEmpty ? "(none given)" : shell): use bash, zsh or fish."
                )
            }
            return script
        }
        if let date = value(of: "--generate-manual-page") { return ManualPage.page(for: spec, date: date) }
        if options.contains("--experimental-dump-options") { return CommandOptions.describeTree(self) }
        if arguments.first == "help" || options.contains("--help") {
            let named = arguments.first == "help" ? Array(arguments.dropFirst()) : arguments
            let (command, words) = resolve(named)
            return HelpText.text(for: command.spec, path: [spec.name] + words.map { named[$0] }, isRoot: words.isEmpty)
        }
        if options.contains("--version") { return (spec.version ?? "") + "\n" }
        return nil
    }
}
