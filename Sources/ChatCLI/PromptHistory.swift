#if canImport(Glibc)
    import Glibc
#endif

/// The prompt's history of lines, kept per user and broker in `$XDG_STATE_HOME/mqtt-chat/history/USER@HOST:PORT`
/// (else `~/.local/state/...`), mode 0600 in a folder of mode 0700, so Up, Down and Ctrl-R find lines from
/// earlier runs. Bounded: the newest `limit` lines are read back; the file is rewritten with just those when it
/// has grown to twice as many. Each line is appended as it is sent, so two prompts of one user keep both.
/// Not kept: an empty line, one longer than `longestLine` bytes, and one typed with a leading space (as bash's
/// `ignorespace`: a way to keep a line out). The prompt never reads a password or a passphrase.
public struct PromptHistory: Sendable {
    public static let limit = 500
    public static let longestLine = 2_048

    public let path: String
    /// Lines in the file, as far as this process knows.
    private var count = 0

    public init(path: String) {
        self.path = path
    }

    public init(user: String, host: String, port: Int) {
        self.init(
            path: PrivateFiles.folder("XDG_STATE_HOME", else: ".local/state", "history") + "/"
                + PrivateFiles.fileName("\(user)@\(host):\(port)")
        )
    }

    /// Whether `line` goes into the history.
    public static func keeps(_ line: String) -> Bool {
        !line.isEmpty && line.first != " " && line.utf8.count <= longestLine
    }

    /// The newest `limit` lines of a history file's bytes, oldest first.
    public static func lines(_ bytes: [UInt8]) -> [String] {
        let lines = bytes.split(separator: 0x0A).map { String(decoding: $0, as: UTF8.self) }.filter(keeps)
        return Array(lines.suffix(limit))
    }

    /// The lines kept so far, oldest first (rewriting the file when it has grown past twice the bound).
    public mutating func load() -> [String] {
        guard let bytes = read() else { return [] }
        let all = bytes.split(separator: 0x0A).count
        let lines = Self.lines(bytes)
        count = all
        if all >= 2 * Self.limit { rewrite(lines) }
        return lines
    }

    /// Appends `line` if it is one to keep. Best effort: a history that cannot be written costs only the history.
    public mutating func record(_ line: String) {
        guard Self.keeps(line),
            PrivateFiles.makeDirectory(String(path[..<(path.lastIndex(of: "/") ?? path.endIndex)]))
        else { return }
        let fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return }
        let bytes = Array((line + "\n").utf8)
        _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        close(fd)
        count += 1
        if count >= 2 * Self.limit, let bytes = read() { rewrite(Self.lines(bytes)) }
    }

    /// Replaces the file with `lines`, whole (written aside and renamed into place).
    private mutating func rewrite(_ lines: [String]) {
        let temporary = path + ".\(getpid()).new"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return }
        let bytes = Array(lines.map { $0 + "\n" }.joined().utf8)
        let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) } == bytes.count
        close(fd)
        if written && rename(temporary, path) == 0 { count = lines.count } else { unlink(temporary) }
    }

    /// The file; a history is at most twice `limit` lines of `longestLine` bytes (and a little).
    private func read() -> [UInt8]? {
        PrivateFiles.read(path, limit: 2 * Self.limit * (Self.longestLine + 1) + 65_536)
    }
}
