import ChatProtocol
import MQTTPaho

#if canImport(Glibc)
    import Glibc
#endif

/// The flags both tools take, spelled like mosquitto_pub/mosquitto_sub so habits carry over.
public struct ConnectionOptions: Sendable {
    /// The options, as every command that connects declares and reads them.
    public enum Key {
        public static let host = OptionKey.value("host", "h", help: "Broker host (default: localhost).")
        public static let port = OptionKey.integer("port", "p", help: "Broker port (default 1883, or 8883 with TLS).")
        public static let username = OptionKey.value(
            "username",
            "u",
            help: "User name; also your name in chat (default: your login name)."
        )
        public static let password = OptionKey.value(
            "password",
            "P",
            help: "Password (visible in ps; prefer --password-file or MQTT_PASSWORD)."
        )
        public static let passwordFile = OptionKey.value(
            "password-file",
            valueName: "file",
            completion: .file,
            help: "Read the password from the first line of FILE."
        )
        public static let id = OptionKey.value("id", "i", help: "Client id (default: user name plus a random suffix).")
        public static let qos = OptionKey.integer(
            "qos",
            "q",
            completion: .choices(["0", "1", "2"]),
            help: "Quality of service: 0, 1 or 2 (default: 1)."
        )
        public static let keepalive = OptionKey.integer(
            "keepalive",
            "k",
            help: "Seconds between keepalive pings (default: 60)."
        )
        public static let mqttVersion = OptionKey.value(
            "mqtt-version",
            "V",
            completion: .choices(["5", "311"]),
            help: "MQTT version: 5 or 311 (default: 5, falling back to 311 if the broker needs it; -V 5: never)."
        )
        public static let url = OptionKey.value(
            "url",
            "L",
            help: "Broker as a URL: mqtt[s]://[user[:pass]@]host[:port][/topic]."
        )
        public static let tls = OptionKey.flag("tls", help: "Use TLS (implied by mqtts:// and by --cafile, --cert).")
        public static let cafile = OptionKey.value(
            "cafile",
            valueName: "file",
            completion: .file,
            help: "PEM file of CAs to trust (default: the system's)."
        )
        public static let cert = OptionKey.value(
            "cert",
            valueName: "file",
            completion: .file,
            help: "PEM client certificate, for brokers that require one."
        )
        public static let key = OptionKey.value(
            "key",
            valueName: "file",
            completion: .file,
            help: "PEM private key for --cert."
        )
        public static let insecure = OptionKey.flag(
            "insecure",
            help: "Do not check that the certificate names the host (the chain is still checked)."
        )
        public static let debug = OptionKey.flag(
            "debug",
            "d",
            help: "Print what happens on the connection to stderr (never the password)."
        )
    }

    public static let options: [OptionSpec] = [
        Key.host.spec, Key.port.spec, Key.username.spec, Key.password.spec, Key.passwordFile.spec, Key.id.spec,
        Key.qos.spec, Key.keepalive.spec, Key.mqttVersion.spec, Key.url.spec, Key.tls.spec, Key.cafile.spec,
        Key.cert.spec, Key.key.spec, Key.insecure.spec, Key.debug.spec,
    ]

    public var host: String?
    public var port: Int?
    public var username: String?
    public var password: String?
    public var passwordFile: String?
    public var id: String?
    public var qos = 1
    public var keepalive = 60
    public var mqttVersion: String?
    public var url: String?
    public var tls = false
    public var cafile: String?
    public var cert: String?
    public var key: String?
    public var insecure = false
    public var debug = false

    public init() {}

    /// The options above as the command line gave them, checked (every command that connects builds one).
    public init(_ arguments: ParsedArguments) throws(ValidationError) {
        host = try arguments[Key.host]
        port = try arguments[Key.port]
        username = try arguments[Key.username]
        password = try arguments[Key.password]
        passwordFile = try arguments[Key.passwordFile]
        id = try arguments[Key.id]
        qos = try arguments[Key.qos] ?? 1
        keepalive = try arguments[Key.keepalive] ?? 60
        mqttVersion = try arguments[Key.mqttVersion]
        url = try arguments[Key.url]
        tls = try arguments[Key.tls]
        cafile = try arguments[Key.cafile]
        cert = try arguments[Key.cert]
        key = try arguments[Key.key]
        insecure = try arguments[Key.insecure]
        debug = try arguments[Key.debug]
        try validate()
    }

    /// The URL's parts, parsed once by `validate()`.
    private var parsedURL: BrokerURL? {
        url.flatMap { try? BrokerURL(parsing: $0) }
    }

    public func validate() throws(ValidationError) {
        if let url { _ = try BrokerURL(parsing: url) }
        if let port, !(1...65_535).contains(port) {
            throw ValidationError("Invalid port \(port): it must be between 1 and 65535.")
        }
        if !(0...2).contains(qos) { throw ValidationError("Invalid QoS \(qos): it must be 0, 1 or 2.") }
        if !(0...65_535).contains(keepalive) {
            throw ValidationError("Invalid keepalive \(keepalive): it must be between 0 and 65535 seconds.")
        }
        if let mqttVersion, !["5", "311", "3.1.1"].contains(mqttVersion) {
            throw ValidationError("Invalid MQTT version \(mqttVersion): use 5 or 311.")
        }
        if password != nil && passwordFile != nil {
            throw ValidationError("Give either --password or --password-file, not both.")
        }
        if key != nil && cert == nil { throw ValidationError("--key needs --cert.") }
        if cert != nil && key == nil { throw ValidationError("--cert needs --key.") }
        for file in [cafile, cert, key, passwordFile].compactMap({ $0 }) where access(file, R_OK) != 0 {
            throw ValidationError("Cannot read \(file): \(String(cString: strerror(errno))).")
        }
        if let id, id.isEmpty || id.utf8.count > 65_535 {
            throw ValidationError("Invalid client id: it must be between 1 and 65535 bytes.")
        }
        if resolvedUsername.isEmpty { throw ValidationError("The user name is empty.") }
    }

    /// The quality of service as the library's type (validated to be 0...2).
    public var qosLevel: MQTTQoS { MQTTQoS(rawValue: Int32(qos)) ?? .atLeastOnce }

    /// The chat name and MQTT user name: -u, else the URL's user, else the login name.
    public var resolvedUsername: String {
        username ?? parsedURL?.username ?? Self.loginName()
    }

    /// The topic given in a -L URL, if any.
    public var urlTopic: String? { parsedURL?.topic }

    /// Whether a client id was chosen (needed for a persistent session).
    public var hasExplicitID: Bool { id != nil }

    public var usesTLS: Bool { tls || cafile != nil || cert != nil || parsedURL?.tls == true }

    /// Builds the connection settings. Reads the password file (warning if others can read it). Loads the Paho
    /// build these settings need: every client of a tool shares them, so one without TLS never loads OpenSSL.
    public func configuration(warn: (String) -> Void) throws -> MQTTConfiguration {
        try PahoLibrary.load(tls: usesTLS)
        let user = resolvedUsername
        let tlsConfiguration =
            usesTLS
            ? MQTTTLSConfiguration(
                caFile: cafile,
                certificateFile: cert,
                privateKeyFile: key,
                skipHostnameVerification: insecure
            )
            : nil
        var configuration = MQTTConfiguration(
            host: host ?? parsedURL?.host ?? "localhost",
            port: port ?? parsedURL?.port,
            clientID: id ?? Self.randomClientID(for: user),
            tls: tlsConfiguration
        )
        if insecure && usesTLS {
            warn("warning: --insecure: the certificate is not checked against the host name \(configuration.host).")
        }
        configuration.username = user
        configuration.password = try resolvePassword(warn: warn)
        configuration.keepAlive = keepalive
        configuration.version = mqttVersion == "311" || mqttVersion == "3.1.1" ? .v3_1_1 : .v5
        // Only the default falls back: an explicit -V 5 fails with the broker's answer instead.
        configuration.allowVersionFallback = mqttVersion == nil
        return configuration
    }

    /// -P, else --password-file, else the URL's password, else MQTT_PASSWORD.
    private func resolvePassword(warn: (String) -> Void) throws -> String? {
        if let password { return password }
        if let passwordFile {
            var status = stat()
            if stat(passwordFile, &status) == 0, status.st_mode & (S_IRWXG | S_IRWXO) != 0 {
                warn("warning: \(passwordFile) can be read by other users; chmod 600 it.")
            }
            guard let file = fopen(passwordFile, "r") else {
                throw ValidationError("Cannot read \(passwordFile): \(String(cString: strerror(errno))).")
            }
            defer { fclose(file) }
            var line: UnsafeMutablePointer<CChar>?
            var capacity = 0
            defer { free(line) }
            guard getline(&line, &capacity, file) >= 0, let line else { return "" }
            var text = String(cString: line)
            while text.hasSuffix("\n") || text.hasSuffix("\r") { text.removeLast() }
            return text
        }
        if let password = parsedURL?.password { return password }
        if let password = getenv("MQTT_PASSWORD") { return String(cString: password) }
        return nil
    }

    /// One line for --debug once connected; and, always, one if the broker needed MQTT 3.1.1.
    public func reportConnected(_ tool: String, _ client: MQTTClient) {
        if let reason = client.connectResult?.versionFallbackReason {
            report(tool, "note: \(reason); using MQTT 3.1.1 (-V 311 skips trying 5).")
        }
        guard debug else { return }
        let configuration = client.configuration
        let version = client.connectResult?.version == .v5 ? "MQTT 5" : "MQTT 3.1.1"
        report(
            tool,
            "connected to \(configuration.host):\(configuration.port) as \(configuration.clientID) (\(version))."
        )
    }

    static func loginName() -> String {
        if let user = getenv("USER"), user.pointee != 0 { return String(cString: user) }
        if let entry = getpwuid(geteuid()), let name = entry.pointee.pw_name { return String(cString: name) }
        return "anonymous"
    }

    /// User name plus a random suffix, so two people (or two windows) never take over each other's session.
    static func randomClientID(for user: String) -> String {
        let suffix = (0..<6).map { _ in String(UInt8.random(in: 0..<16), radix: 16) }.joined()
        // Some brokers limit ids to 23 bytes; keep the user part short enough for them too.
        return String(String.UnicodeScalarView(user.unicodeScalars.prefix(12))) + "-" + suffix
    }
}

extension CommandSpec {
    /// A command that connects: its own options and arguments, then the connection's options.
    public static func connecting(
        _ name: String,
        abstract: String,
        options: [OptionSpec] = [],
        arguments: [ArgumentSpec] = []
    ) -> CommandSpec {
        CommandSpec(name, abstract: abstract, options: options + ConnectionOptions.options, arguments: arguments)
    }
}
