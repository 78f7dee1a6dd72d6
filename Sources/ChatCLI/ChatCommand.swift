import ArgumentParser

#if canImport(Glibc)
    import Glibc
#endif

extension AsyncParsableCommand {
    /// Like ArgumentParser's `main()`, but a usage error is one stderr line (`tool: message`) with exit
    /// code 64, as every other failure of the tools is. --help and --version print as usual.
    /// The config file's options (see `ConfigFile`) come before the command line's; `--no-config` skips it.
    public static func runWithOneLineErrors(_ tool: String) async {
        let commandLine = Array(CommandLine.arguments.dropFirst())
        if commandLine == ["--experimental-config-options"] {
            // For the test that holds each command's declared options to ArgumentParser's own dump.
            print(CommandOptions.describeTree(self), terminator: "")
            Glibc.exit(0)
        }
        let arguments: [String]
        do {
            arguments = try ConfigFile.arguments(for: self, commandLine) { report(tool, $0) }
        } catch {
            report(tool, error.description + " (--no-config ignores the file)")
            Glibc.exit(ExitStatus.usage)
        }
        do {
            var command = try parseDefaultSubcommand(arguments) ?? parseAsRoot(arguments)
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            let code = exitCode(for: error)
            if code == .success {
                print(fullMessage(for: error))
                Glibc.exit(0)
            }
            // ExitCode thrown after the tool reported its own line: nothing more to say.
            if !(error is ExitCode) {
                let message = self.message(for: error).replacingOccurrences(of: "\n", with: " ")
                let fromFile = arguments.count > commandLine.count ? "; options from the config file were used" : ""
                report(tool, message + (code == .validationFailure ? " (see \(tool) --help\(fromFile))" : ""))
            }
            Glibc.exit(code.rawValue)
        }
    }
}

extension AsyncParsableCommand {
    /// The default subcommand parsed on its own, when the arguments can mean nothing else: no subcommand or
    /// `help` first, no --help, --version or other informational flag. ArgumentParser otherwise reflects
    /// over every subcommand's options several times before parsing (`publisher` started in 18 ms of CPU
    /// instead of 13). Nil when this does not apply or does not parse: the whole tree then parses again and
    /// gives its usual help, version or error.
    static func parseDefaultSubcommand(_ arguments: [String]) -> ParsableCommand? {
        guard let leaf = configuration.defaultSubcommand, !ConfigFile.asksForInformation(arguments) else { return nil }
        if let first = arguments.first, subcommand(named: first) != nil { return nil }
        return try? leaf.parseAsRoot(arguments)
    }
}

extension CommandConfiguration {
    /// For a default subcommand, which `parseDefaultSubcommand` parses as if it were the root: ArgumentParser
    /// then skips its check for `--generate-completion-script` (a second reflection of every option, a
    /// third of the subcommand's parse), as it does for commands installed under another's name. That flag
    /// never reaches this parse, and the name is read only where this command is the root of a parse.
    public func parsedAlone(under tool: String) -> CommandConfiguration {
        var configuration = self
        configuration._superCommandName = tool
        return configuration
    }
}

extension String {
    fileprivate func replacingOccurrences(of target: String, with replacement: String) -> String {
        split(separator: target, omittingEmptySubsequences: false).joined(separator: replacement)
    }
}
