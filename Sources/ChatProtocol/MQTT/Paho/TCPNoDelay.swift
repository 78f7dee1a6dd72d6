#if canImport(Glibc)
    import Glibc
#endif

/// Paho C has no option for TCP_NODELAY, so a small publish can wait behind an unacknowledged one for
/// Nagle's algorithm (tens of milliseconds for a chat line). After each connect the client finds its socket
/// among the process's descriptors (a TCP socket whose peer port is the broker's) and sets the option itself.
enum TCPNoDelay {
    /// Sets TCP_NODELAY on every TCP socket of this process connected to `port`; returns how many.
    @discardableResult
    static func apply(peerPort port: Int) -> Int {
        var changed = 0
        forEachTCPSocket(peerPort: port) { fd in
            var one: Int32 = 1
            if setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size)) == 0 {
                changed += 1
            }
        }
        return changed
    }

    /// Calls `body` with each descriptor of this process that is a TCP socket connected to `port`.
    static func forEachTCPSocket(peerPort port: Int, _ body: (Int32) -> Void) {
        guard let directory = opendir("/proc/self/fd") else { return }
        defer { closedir(directory) }
        let own = dirfd(directory)
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) {
                String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self)
            }
            guard let fd = Int32(name), fd != own, peerPort(of: fd) == port else { continue }
            body(fd)
        }
    }

    /// The remote port of a connected TCP socket; nil for anything else.
    private static func peerPort(of fd: Int32) -> Int? {
        var type: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        guard getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &length) == 0, type == Int32(SOCK_STREAM.rawValue) else {
            return nil
        }
        var address = sockaddr_storage()
        var size = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let found = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getpeername(fd, $0, &size) }
        }
        guard found == 0 else { return nil }
        // sockaddr_in and sockaddr_in6 both keep the port, in network order, right after the family.
        let family = Int32(address.ss_family)
        guard family == AF_INET || family == AF_INET6 else { return nil }
        return withUnsafeBytes(of: address) { Int(UInt16(bigEndian: $0.load(fromByteOffset: 2, as: UInt16.self))) }
    }
}
