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
        let arguments: [String]
        do {
            arguments = try ConfigFile.arguments(for: self, commandLine) { report(tool, $0) }
        } catch {
            report(tool, error.description + " (--no-config ignores the file)")
            Glibc.exit(ExitStatus.usage)
        }
        do {
            var command = try parseAsRoot(arguments)
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

extension String {
    fileprivate func replacingOccurrences(of target: String, with replacement: String) -> String {
        split(separator: target, omittingEmptySubsequences: false).joined(separator: replacement)
    }
}
