import ChatProtocol
import Dispatch

#if canImport(Glibc)
    import Glibc
#endif

extension ChatCommand {
    /// Runs the tool whose root command this is: help, version and generated scripts on request; otherwise
    /// the command the arguments name, with the config file's options (see `ConfigFile`) before the command
    /// line's (`--no-config` skips it). A usage error is one stderr line, `tool: message`, and exit 64, as
    /// every other failure of the tools is one line with its documented code.
    ///
    /// Called from a synchronous `main`, whose thread then only waits for the end of the process. An `async`
    /// main hands its thread to Dispatch, which ends it with `pthread_exit`, and glibc unwinds that thread's
    /// stack through the executable's unwind tables: 0.7 MiB of them resident in every listener
    /// (docs/benchmarks.md).
    public static func runTool(_ tool: String) -> Never {
        Task.detached { await runCommand(tool) }
        DispatchSemaphore(value: 0).wait()
        fatalError("runTool: the tool's task ends the process")
    }

    private static func runCommand(_ tool: String) async -> Never {
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
        let command: any RunnableCommand
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
    static func parse(_ arguments: [String]) throws(ValidationError) -> any RunnableCommand {
        var (node, words) = resolve(arguments)
        while let fallback = node.spec.defaultSubcommand { node = fallback }
        if !node.spec.subcommands.isEmpty {
            let names = node.spec.subcommands.map { $0.spec.name }.joined(separator: ", ")
            throw ValidationError("\(node.spec.name) needs a subcommand: \(names).")
        }
        var parsed = try ParsedArguments(removingWords(words, from: arguments), for: node.spec)
        let command = try node.build(&parsed)
        try command.validate()
        return command
    }

    /// The command the subcommand words of `arguments` name (the root when none), and their positions. A word
    /// counts where an argument would: options before it, and their values, are skipped (`publisher -u bob
    /// join rust`).
    static func resolve(_ arguments: [String]) -> (CommandNode, [Int]) {
        var command = CommandNode(self)
        var words: [Int] = []
        while let (index, subcommand) = subcommand(of: command, in: arguments[(words.last.map { $0 + 1 } ?? 0)...]) {
            command = subcommand
            words.append(index)
        }
        return (command, words)
    }

    /// The subcommand of `command` the first argument among `arguments` names, and its index; nil when that
    /// argument names none, or comes after `--`. Options are read as the command (or its default subcommand)
    /// declares them, so a value is never taken for a subcommand's name.
    private static func subcommand(
        of command: CommandNode,
        in arguments: ArraySlice<String>
    ) -> (Int, CommandNode)? {
        guard !command.spec.subcommands.isEmpty else { return nil }
        let options = (command.spec.defaultSubcommand ?? command).spec.options
        for token in CommandLineTokens(arguments, options: options) {
            switch token {
            case .argument(let word, let index): return command.spec.subcommand(named: word).map { (index, $0) }
            case .endOfOptions: return nil
            default: continue
            }
        }
        return nil
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
        if options.contains("--experimental-dump-options") { return describeTree() }
        if arguments.first == "help" || options.contains("--help") {
            let named = arguments.first == "help" ? Array(arguments.dropFirst()) : arguments
            let (command, words) = resolve(named)
            return HelpText.text(for: command.spec, path: [spec.name] + words.map { named[$0] }, isRoot: words.isEmpty)
        }
        if options.contains("--version") { return (spec.version ?? "") + "\n" }
        return nil
    }

    /// Every command of the tree, one line each: `listener listen: --count/-C= --debug/-d --format= ...`
    /// (sorted; `=` for an option that takes a value).
    static func describeTree() -> String {
        var lines: [String] = []
        func visit(_ command: CommandNode, _ path: String) {
            let described = command.spec.options.map { option in
                "--" + option.long + (option.short.map { "/-\($0)" } ?? "") + (option.takesValue ? "=" : "")
            }
            lines.append(path + ":" + described.sorted().map { " " + $0 }.joined())
            for subcommand in command.spec.subcommands {
                visit(subcommand, path + " " + subcommand.spec.name)
            }
        }
        visit(CommandNode(self), spec.name)
        return lines.map { $0 + "\n" }.joined()
    }
}
