/// MQTT quality of service.
public enum MQTTQoS: Int32, Sendable, Hashable, CaseIterable {
    case atMostOnce = 0
    case atLeastOnce = 1
    case exactlyOnce = 2
}

/// The protocol version spoken to the broker.
public enum MQTTVersion: Sendable, Hashable {
    case v5
    case v3_1_1

    /// The value Paho expects (`MQTTVERSION_5`, `MQTTVERSION_3_1_1`).
    var paho: Int32 { self == .v5 ? 5 : 4 }
}

/// A message the broker publishes on the client's behalf when the connection dies without a DISCONNECT.
public struct MQTTWill: Sendable, Hashable {
    public var topic: String
    public var payload: [UInt8]
    public var qos: MQTTQoS
    public var retain: Bool

    public init(topic: String, payload: [UInt8], qos: MQTTQoS = .atLeastOnce, retain: Bool = false) {
        self.topic = topic
        self.payload = payload
        self.qos = qos
        self.retain = retain
    }
}

/// TLS settings, following mosquitto_pub's flags.
public struct MQTTTLSConfiguration: Sendable, Hashable {
    /// PEM file of trusted CAs; nil uses the system trust store.
    public var caFile: String?
    /// PEM client certificate (and its chain) for brokers that require one.
    public var certificateFile: String?
    /// PEM private key for `certificateFile`.
    public var privateKeyFile: String?
    /// Skips the host-name check only: the chain is still verified (mosquitto_pub's `--insecure`).
    public var skipHostnameVerification: Bool

    public init(
        caFile: String? = nil,
        certificateFile: String? = nil,
        privateKeyFile: String? = nil,
        skipHostnameVerification: Bool = false
    ) {
        self.caFile = caFile
        self.certificateFile = certificateFile
        self.privateKeyFile = privateKeyFile
        self.skipHostnameVerification = skipHostnameVerification
    }
}

/// How the client comes back after a lost connection.
public struct MQTTReconnectPolicy: Sendable, Hashable {
    /// The first retry waits this long; each further one doubles it up to `maximumDelay`.
    public var initialDelay: Duration
    public var maximumDelay: Duration

    public init(initialDelay: Duration = .milliseconds(100), maximumDelay: Duration = .seconds(2)) {
        self.initialDelay = initialDelay
        self.maximumDelay = maximumDelay
    }
}

/// Everything needed to connect. The defaults are what a chat tool wants: MQTT 5 with 3.1.1 fallback,
/// in-memory persistence (Paho's file persistence writes folders into the working directory), reconnect on.
public struct MQTTConfiguration: Sendable {
    public var host: String
    public var port: Int
    public var clientID: String
    public var username: String?
    public var password: String?
    /// Seconds between keepalive pings.
    public var keepAlive: Int = 60
    /// Start with an empty session on the first connect. Under MQTT 5 reconnects always resume the session;
    /// under 3.1.1 (no expiry exists) false means a persistent session and true a clean one every time.
    public var cleanStart: Bool = true
    /// How long the broker keeps the session after the connection ends (MQTT 5 only). Zero ends the
    /// session with the connection.
    public var sessionExpiry: UInt32 = 0
    public var will: MQTTWill?
    /// The version to try first.
    public var version: MQTTVersion = .v5
    /// Try MQTT 3.1.1 when the broker refuses version 5.
    public var allowVersionFallback: Bool = true
    public var tls: MQTTTLSConfiguration?
    /// Cap on unacknowledged QoS>0 publishes the client keeps in flight (further ones wait in Paho's buffer).
    public var maxInflight: Int = 64
    /// Paho's queue of messages not yet sent; it applies while connected too.
    public var maxBufferedMessages: Int = 65_535
    /// nil: a lost connection is final.
    public var reconnect: MQTTReconnectPolicy? = MQTTReconnectPolicy()
    public var connectTimeout: Duration = .seconds(10)
    /// With `allowVersionFallback`, how long an MQTT 5 CONNECT may go unanswered before the client tries
    /// 3.1.1 instead (some brokers never answer one), within `connectTimeout`. Whole seconds (Paho's unit).
    public var versionFallbackTimeout: Duration = .seconds(3)
    /// Send each packet at once rather than let Nagle's algorithm hold small ones back (set on the socket
    /// after each connect: Paho has no option for it).
    public var tcpNoDelay: Bool = true

    public init(host: String = "localhost", port: Int? = nil, clientID: String, tls: MQTTTLSConfiguration? = nil) {
        self.host = host
        self.port = port ?? (tls == nil ? 1883 : 8883)
        self.clientID = clientID
        self.tls = tls
    }

    /// The URI Paho connects to. IPv6 literals are bracketed.
    public var serverURI: String {
        let scheme = tls == nil ? "tcp" : "ssl"
        let hostPart = host.contains(":") ? "[\(host)]" : host
        return "\(scheme)://\(hostPart):\(port)"
    }
}

/// One message received on a subscription.
public struct MQTTMessage: Sendable, Hashable {
    public var topic: String
    public var payload: [UInt8]
    public var qos: MQTTQoS
    public var retained: Bool
    /// The broker may have sent it before (QoS 1 redelivery).
    public var duplicate: Bool
    /// Seconds the message has left before the broker would drop it (MQTT 5 message expiry); nil: none.
    public var expiry: UInt32?

    public init(
        topic: String,
        payload: [UInt8],
        qos: MQTTQoS,
        retained: Bool = false,
        duplicate: Bool = false,
        expiry: UInt32? = nil
    ) {
        self.expiry = expiry
        self.topic = topic
        self.payload = payload
        self.qos = qos
        self.retained = retained
        self.duplicate = duplicate
    }
}

/// What the broker said when the connection was accepted.
public struct MQTTConnectResult: Sendable, Hashable {
    public var version: MQTTVersion
    public var sessionPresent: Bool
    /// How many QoS>0 publishes the broker takes unacknowledged (MQTT 5 Receive Maximum; 65,535 when unsaid).
    public var receiveMaximum: Int
    /// Why the client spoke MQTT 3.1.1 after trying 5 (the broker refused, closed or ignored the MQTT 5
    /// CONNECT); nil when it spoke the configured version at once.
    public var versionFallbackReason: String? = nil

    public init(
        version: MQTTVersion,
        sessionPresent: Bool,
        receiveMaximum: Int,
        versionFallbackReason: String? = nil
    ) {
        self.version = version
        self.sessionPresent = sessionPresent
        self.receiveMaximum = receiveMaximum
        self.versionFallbackReason = versionFallbackReason
    }
}

/// Something that happened to the connection, for tools that tell their user.
public enum MQTTConnectionEvent: Sendable, Hashable {
    /// The connection dropped; the client is reconnecting. The cause: the broker's DISCONNECT reason, or
    /// Paho's text, if either was given.
    case connectionLost(cause: String?)
    /// Back online; subscriptions are in place again.
    case reconnected(MQTTConnectResult)
    /// The client stopped for good (session taken over, credentials refused on reconnect, reconnect off).
    case closed(MQTTError)
}

/// One subscription with its MQTT 5 options (ignored under 3.1.1, which has none).
public struct MQTTSubscription: Sendable, Hashable {
    /// When the broker sends the retained messages matching a new subscription.
    public enum RetainHandling: UInt8, Sendable, Hashable {
        /// On every SUBSCRIBE (the MQTT default).
        case always = 0
        /// Only when the subscription did not exist yet (a renewal after a reconnect gets none).
        case ifNew = 1
        /// Never: live traffic only.
        case never = 2
    }

    public var filter: String
    public var qos: MQTTQoS
    /// Do not receive what this client itself publishes.
    public var noLocal: Bool
    public var retainHandling: RetainHandling

    public init(
        _ filter: String,
        qos: MQTTQoS = .atLeastOnce,
        noLocal: Bool = false,
        retainHandling: RetainHandling = .always
    ) {
        self.filter = filter
        self.qos = qos
        self.noLocal = noLocal
        self.retainHandling = retainHandling
    }
}
