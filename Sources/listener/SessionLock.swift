#if canImport(Glibc)
    import Glibc
#endif

/// Who on this machine holds a user's listener session. A person's listener uses one client id per user and
/// machine, so the broker keeps their private messages while they are away; a second listener of the same
/// user here (another terminal) must not take that session over (the broker would cut the first one off),
/// so it takes a session of its own. An flock(2) on a file per client id, released when the process ends
/// however it ends, says which one is first.
final class SessionLock {
    private let fd: Int32

    /// The client id of `user`'s listener on this machine.
    static func clientID(for user: String) -> String {
        var name = [CChar](repeating: 0, count: 256)
        var host = "localhost"
        if gethostname(&name, name.count) == 0 {
            host = String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
        // A topic level (presence) carries the id: keep it to characters that cannot widen a filter.
        host = String(host.unicodeScalars.filter { $0.value > 0x20 && $0 != "/" && $0 != "+" && $0 != "#" }.prefix(40))
        return "\(user)@\(host)"
    }

    /// nil when another process holds the lock.
    init?(clientID: String) {
        let base = getenv("XDG_RUNTIME_DIR").map { String(cString: $0) } ?? "/tmp/mqtt-chat-\(getuid())"
        let directory = base + "/mqtt-chat"
        mkdir(base, 0o700)
        mkdir(directory, 0o700)
        // The id is one file name: no slashes (user names have none; the host part was filtered).
        let path = directory + "/" + clientID + ".lock"
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        // A lock that cannot even be created (read-only home, odd environment) does not stop the listener.
        guard fd >= 0 else {
            self.fd = -1
            return
        }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            close(fd)
            return nil
        }
        self.fd = fd
    }

    deinit {
        if fd >= 0 { close(fd) }
    }
}
