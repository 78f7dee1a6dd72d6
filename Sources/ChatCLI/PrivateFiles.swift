#if canImport(Glibc)
    import Glibc
#endif

/// The files the tools keep for a user (the state journal, the key files): folders of mode 0700, files of
/// mode 0600 written whole and renamed into place, so that concurrent tools never see half a file.
public enum PrivateFiles {
    /// `$VARIABLE/mqtt-chat/NAME` when the variable is an absolute path (XDG), else `$HOME/FALLBACK/mqtt-chat/NAME`.
    public static func folder(_ variable: String, else fallback: String, _ name: String) -> String {
        let home = getenv("HOME").map { String(cString: $0) } ?? "/tmp"
        let base = getenv(variable).map { String(cString: $0) }.flatMap { $0.hasPrefix("/") ? $0 : nil }
        return (base ?? home + "/" + fallback) + "/mqtt-chat/" + name
    }

    /// A name without `/` (and without a leading dot) for a topic or a broker: `%` and `/` percent-encoded.
    public static func fileName(_ text: String) -> String {
        var name = ""
        for character in text {
            switch character {
            case "%": name += "%25"
            case "/": name += "%2F"
            case "." where name.isEmpty: name += "%2E"
            default: name.append(character)
            }
        }
        return name
    }

    /// The file's bytes; nil when it cannot be read or is longer than `limit`.
    public static func read(_ path: String, limit: Int = 1 << 20) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if count <= 0 { break }
            bytes += buffer[..<count]
            if bytes.count > limit { return nil }
        }
        return bytes
    }

    /// Creates the folder and its parents, private to the user.
    public static func makeDirectory(_ directory: String) -> Bool {
        var path = ""
        for part in directory.split(separator: "/") {
            path += "/" + part
            if mkdir(path, 0o700) != 0 && errno != EEXIST { return false }
        }
        return true
    }

    /// Writes `bytes` to `path` whole, mode 0600, through a temporary file renamed into place.
    public static func write(_ bytes: [UInt8], to path: String) -> Bool {
        let temporary = path + ".\(getpid()).new"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return false }
        let written = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) } == bytes.count
        fchmod(fd, 0o600)
        close(fd)
        if !written || rename(temporary, path) != 0 {
            unlink(temporary)
            return false
        }
        return true
    }

    /// Appends `bytes` to `path` (created 0600): one line of a record that only grows.
    public static func append(_ bytes: [UInt8], to path: String) {
        let fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return }
        _ = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        close(fd)
    }
}
