/// `-L mqtt[s]://[user[:pass]@]host[:port][/topic]`, as mosquitto_pub reads it.
struct BrokerURL: Equatable {
    var tls: Bool
    var username: String?
    var password: String?
    var host: String
    var port: Int?
    var topic: String?

    init(parsing text: String) throws(ValidationError) {
        let rest: Substring
        if text.hasPrefix("mqtt://") {
            tls = false
            rest = text.dropFirst("mqtt://".count)
        } else if text.hasPrefix("mqtts://") {
            tls = true
            rest = text.dropFirst("mqtts://".count)
        } else {
            throw ValidationError("Invalid URL \(text): it must start with mqtt:// or mqtts://.")
        }
        let authorityEnd = rest.firstIndex(of: "/") ?? rest.endIndex
        var authority = rest[..<authorityEnd]
        if authorityEnd < rest.endIndex {
            let path = rest[rest.index(after: authorityEnd)...]
            topic = path.isEmpty ? nil : String(path)
        }
        if let at = authority.lastIndex(of: "@") {
            let credentials = authority[..<at]
            authority = authority[authority.index(after: at)...]
            if let colon = credentials.firstIndex(of: ":") {
                username = String(credentials[..<colon])
                password = String(credentials[credentials.index(after: colon)...])
            } else {
                username = String(credentials)
            }
        }
        // [v6::addr]:port or host:port
        var hostPart = authority
        var portPart: Substring?
        if authority.hasPrefix("["), let close = authority.firstIndex(of: "]") {
            hostPart = authority[authority.index(after: authority.startIndex)..<close]
            let after = authority[authority.index(after: close)...]
            if after.hasPrefix(":") { portPart = after.dropFirst() }
        } else if let colon = authority.lastIndex(of: ":") {
            hostPart = authority[..<colon]
            portPart = authority[authority.index(after: colon)...]
        }
        guard !hostPart.isEmpty else { throw ValidationError("Invalid URL \(text): no host.") }
        host = String(hostPart)
        if let portPart {
            guard let port = Int(portPart), (1...65_535).contains(port) else {
                throw ValidationError("Invalid URL \(text): the port must be a number between 1 and 65535.")
            }
            self.port = port
        }
    }
}
