import ArgumentParser

#if canImport(Glibc)
import Glibc
#endif

extension AsyncParsableCommand {
    /// Like ArgumentParser's `main()`, but a usage error is one stderr line (`tool: message`) with exit
    /// code 64, as every other failure of the tools is. --help and --version print as usual.
    public static func runWithOneLineErrors(_ tool: String) async {
        do {
            var command = try parseAsRoot()
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
                report(tool, message + (code == .validationFailure ? " (see \(tool) --help)" : ""))
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
