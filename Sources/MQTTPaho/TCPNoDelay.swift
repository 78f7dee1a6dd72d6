import CPahoMQTT
import ChatProtocol

#if canImport(Glibc)
    import Glibc
#endif

/// Paho C has no option for TCP_NODELAY, so a small publish can wait behind an unacknowledged one for
/// Nagle's algorithm (tens of milliseconds for a chat line). After each connect the client sets the option on
/// its own socket, which it reads from Paho's client structure (no call returns it): only with the Paho
/// build whose layout `cpaho_socket_of` mirrors, only when the client id found there is this client's, and
/// only on a TCP socket connected to the broker's port. Anything else is left as Paho made it: no other
/// descriptor of the process is ever touched, not even another client's connection to the same broker.
enum TCPNoDelay {
    /// The Paho builds whose `MQTTAsyncs` and `Clients` layouts the shim mirrors (Debian 12's 1.3.12-1
    /// reports itself as 1.3.11; the two do not differ in these structures).
    static let mirroredVersions: Set<String> = ["1.3.11", "1.3.12"]

    /// Sets TCP_NODELAY on the connection of the client behind `handle`; false when it could not be found.
    @discardableResult
    static func apply(to handle: MQTTAsync, clientID: String, peerPort port: Int) -> Bool {
        guard let fd = socket(of: handle, clientID: clientID, peerPort: port) else { return false }
        var one: Int32 = 1
        return setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size)) == 0
    }

    /// The client's socket, when Paho's structure gives one that is a TCP socket connected to `port`.
    static func socket(of handle: MQTTAsync, clientID: String, peerPort port: Int) -> Int32? {
        guard mirroredVersions.contains(PahoLibrary.version) else { return nil }
        let fd = cpaho_socket_of(handle, clientID)
        guard fd >= 0, peerPort(of: fd) == port else { return nil }
        return fd
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
