import ChatCrypto
import ChatProtocol

#if canImport(Glibc)
    import Glibc
#endif

/// `keys [USER]`: your fingerprint, or USER's pinned one and the safety number you both see; with `--new`,
/// a new identity; with `--export FILE` / `--import FILE`, the identity moved to another device under a
/// passphrase (read from the terminal without echo, or the first line of standard input).
public struct KeysCommand: ChatCommand {
    enum Key {
        static let new = OptionKey.flag("new", help: "Replace your identity key (everyone sees the change).")
        static let export = OptionKey.value(
            "export",
            valueName: "file",
            completion: .file,
            help: "Write your identity key to FILE, protected by a passphrase."
        )
        static let `import` = OptionKey.value(
            "import",
            valueName: "file",
            completion: .file,
            help: "Use the identity key in FILE (from --export) on this device."
        )
    }
    public static let spec = ChatOperations.keys.spec(options: [Key.new.spec, Key.export.spec, Key.import.spec])

    let user: String?
    let new: Bool
    let exportFile: String?
    let importFile: String?
    let connection: ConnectionOptions

    public init(_ arguments: inout ParsedArguments) throws(ValidationError) {
        user = arguments.argument()
        new = try arguments[Key.new]
        exportFile = try arguments[Key.export]
        importFile = try arguments[Key.import]
        connection = try ConnectionOptions(arguments)
    }

    public func validate() throws(ValidationError) {
        try connection.validateLayoutUser()
        if let user { try validateNames([(user, "user name")]) }
        if [new, exportFile != nil, importFile != nil, user != nil].filter({ $0 }).count > 1 {
            throw ValidationError("Give one of USER, --new, --export and --import.")
        }
    }

    public func run() async throws {
        let tool = toolName
        let me = connection.resolvedUsername
        let configuration = try connection.configuration { report(tool, $0) }
        let store = EndToEnd.store(configuration, user: me)
        do {
            if let exportFile {
                let keys = try await EndToEnd.prepare(configuration, user: me, tool: tool)
                let passphrase = try Self.passphrase(confirm: true)
                let text = (try? IdentityExport.seal(keys, passphrase: passphrase)) ?? ""
                try Self.write(text, to: exportFile)
                finish(ExitStatus.ok, tool, saying: "exported \(me)'s identity to \(exportFile).")
            }
            if new || importFile != nil {
                var keys = UserKeys.generate(user: me)
                if let importFile {
                    let identity = try IdentityExport.open(
                        try Self.read(importFile),
                        user: me,
                        passphrase: try Self.passphrase(confirm: false)
                    )
                    keys = UserKeys(user: me, identity: identity, deviceID: keys.deviceID, device: keys.device)
                }
                try store.save(keys)
                if let problem = try await EndToEnd.publish(keys, configuration, store: store, replacing: new) {
                    throw MQTTError(.failure, problem + ".")
                }
                Terminal.writeAll(
                    Array("\(me) \(KeyFingerprint.of(keys.identityPublicKey)) (this device \(keys.deviceID))\n".utf8),
                    to: 1
                )
                finish()
            }
        } catch let error as MQTTError {
            fail(tool, error)
        }
        let request = ChatOperation.KeyRequest.show(user: user)
        await connection.runWithDirectory { actions, directory throws(MQTTError) in
            try await EndToEnd.perform(request, actions: actions, directory: directory)
        }
    }

    /// The passphrase: from the terminal without echo (twice when `confirm`), else standard input's first line.
    static func passphrase(confirm: Bool) throws(MQTTError) -> String {
        func line() -> String {
            var reader = LineReader(fd: 0)
            return reader.next().map { String(decoding: $0, as: UTF8.self) } ?? ""
        }
        guard Terminal.isTerminal(0) else {
            let text = line()
            guard !text.isEmpty else { throw MQTTError(.invalidArgument, "No passphrase on standard input.") }
            return text
        }
        var saved = termios()
        tcgetattr(0, &saved)
        var quiet = saved
        quiet.c_lflag &= ~tcflag_t(ECHO)
        tcsetattr(0, TCSANOW, &quiet)
        defer {
            tcsetattr(0, TCSANOW, &saved)
            _ = Terminal.writeAll(Array("\n".utf8), to: 2)
        }
        _ = Terminal.writeAll(Array("passphrase: ".utf8), to: 2)
        let first = line()
        if confirm {
            _ = Terminal.writeAll(Array("\nagain: ".utf8), to: 2)
            guard line() == first else { throw MQTTError(.invalidArgument, "The passphrases differ.") }
        }
        guard !first.isEmpty else { throw MQTTError(.invalidArgument, "An empty passphrase protects nothing.") }
        return first
    }

    static func read(_ path: String) throws(MQTTError) -> String {
        guard let bytes = PrivateFiles.read(path) else {
            throw MQTTError(.invalidArgument, "Cannot read \(path): \(String(cString: strerror(errno))).")
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// A new file, mode 0600 (never over an existing one).
    static func write(_ text: String, to path: String) throws(MQTTError) {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw MQTTError(.invalidArgument, "Cannot create \(path): \(String(cString: strerror(errno))).")
        }
        defer { close(fd) }
        let bytes = Array(text.utf8)
        guard bytes.withUnsafeBytes({ Glibc.write(fd, $0.baseAddress, $0.count) }) == bytes.count else {
            throw MQTTError(.failure, "Cannot write \(path).")
        }
    }
}

extension EndToEnd {
    /// Runs a key request of a chat command (`keys`, `trust`) with this device's keys; prints its answer.
    public static func perform(
        _ request: ChatOperation.KeyRequest,
        actions: ChatActions,
        directory: ChatDirectory
    ) async throws(MQTTError) {
        let configuration = actions.client.configuration
        let keys = try await prepare(configuration, user: actions.me, tool: toolName)
        let text = try answer(request, keys: keys, store: store(configuration, user: actions.me), directory: directory)
        Terminal.writeAll(Array(text.utf8), to: 1)
    }
}
