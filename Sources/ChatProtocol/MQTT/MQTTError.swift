/// The one error type of the MQTT client: a code a program can switch on and a message a person can act on.
public struct MQTTError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What went wrong. Negative values are Paho return codes (`MQTTASYNC_*`) or our own (-1000 and below);
    /// positive values are MQTT v5 reason codes (`MQTTREASONCODE_*`). MQTT 3.1.1 CONNACK codes are mapped to
    /// their v5 equivalents, so "bad credentials" is one code whichever protocol version was spoken.
    public struct Code: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
        public var rawValue: Int32
        public init(rawValue: Int32) { self.rawValue = rawValue }

        // MARK: Paho return codes

        /// MQTTASYNC_FAILURE: a generic failure, including a failed TCP or TLS connect.
        public static let failure = Code(rawValue: -1)
        /// MQTTASYNC_PERSISTENCE_ERROR
        public static let persistenceError = Code(rawValue: -2)
        /// MQTTASYNC_DISCONNECTED: the client is not connected.
        public static let disconnected = Code(rawValue: -3)
        /// MQTTASYNC_MAX_MESSAGES_INFLIGHT
        public static let maxMessagesInflight = Code(rawValue: -4)
        /// MQTTASYNC_BAD_UTF8_STRING: a topic, client id or credential is not valid UTF-8.
        public static let badUTF8String = Code(rawValue: -5)
        /// MQTTASYNC_NULL_PARAMETER
        public static let nullParameter = Code(rawValue: -6)
        /// MQTTASYNC_BAD_STRUCTURE: an options struct Paho did not recognise.
        public static let badStructure = Code(rawValue: -8)
        /// MQTTASYNC_BAD_QOS
        public static let badQoS = Code(rawValue: -9)
        /// MQTTASYNC_NO_MORE_MSGIDS: all 65,535 packet identifiers are in use.
        public static let noMoreMessageIDs = Code(rawValue: -10)
        /// MQTTASYNC_OPERATION_INCOMPLETE: the request was discarded before it completed.
        public static let operationIncomplete = Code(rawValue: -11)
        /// MQTTASYNC_MAX_BUFFERED_MESSAGES: Paho's outgoing buffer is full; try again once it drains.
        public static let maxBufferedMessages = Code(rawValue: -12)
        /// MQTTASYNC_SSL_NOT_SUPPORTED
        public static let sslNotSupported = Code(rawValue: -13)
        /// MQTTASYNC_BAD_PROTOCOL: the server URI has an unknown scheme.
        public static let badProtocol = Code(rawValue: -14)
        /// MQTTASYNC_BAD_MQTT_OPTION: an option that does not fit the MQTT version.
        public static let badMQTTOption = Code(rawValue: -15)
        /// MQTTASYNC_WRONG_MQTT_VERSION
        public static let wrongMQTTVersion = Code(rawValue: -16)
        /// MQTTASYNC_0_LEN_WILL_TOPIC
        public static let zeroLengthWillTopic = Code(rawValue: -17)
        /// MQTTASYNC_COMMAND_IGNORED
        public static let commandIgnored = Code(rawValue: -18)
        /// MQTTASYNC_MAX_BUFFERED: maxBufferedMessages was set to zero or less.
        public static let maxBuffered = Code(rawValue: -19)

        // MARK: Our own

        /// The host name did not resolve (getaddrinfo failed).
        public static let hostNotFound = Code(rawValue: -1001)
        /// Nothing accepted a connection at host:port (refused or unreachable).
        public static let connectionRefused = Code(rawValue: -1002)
        /// The broker did not answer within the connect timeout.
        public static let timedOut = Code(rawValue: -1003)
        /// The TLS handshake or certificate check failed.
        public static let tlsFailure = Code(rawValue: -1004)
        /// The connection dropped while the request was outstanding.
        public static let connectionLost = Code(rawValue: -1005)
        /// The client was shut down (or the task cancelled) before the request completed.
        public static let cancelled = Code(rawValue: -1006)
        /// The request is invalid before it reaches the broker (bad topic, bad option).
        public static let invalidArgument = Code(rawValue: -1007)
        /// The broker accepted the TCP connection and closed it before answering the CONNECT.
        public static let connectionClosed = Code(rawValue: -1008)
        /// The chat's state does not allow the action (no such group, not a member, nothing to decide).
        public static let refusedByState = Code(rawValue: -1009)
        /// The Paho library could not be loaded (libpaho-mqtt1.3 is not installed).
        public static let libraryUnavailable = Code(rawValue: -1010)

        // MARK: MQTT v5 reason codes (3.1.1 CONNACK codes map here)

        /// MQTTREASONCODE_UNSPECIFIED_ERROR (0x80)
        public static let unspecifiedError = Code(rawValue: 0x80)
        /// MQTTREASONCODE_MALFORMED_PACKET (0x81)
        public static let malformedPacket = Code(rawValue: 0x81)
        /// MQTTREASONCODE_PROTOCOL_ERROR (0x82)
        public static let protocolError = Code(rawValue: 0x82)
        /// MQTTREASONCODE_IMPLEMENTATION_SPECIFIC_ERROR (0x83)
        public static let implementationSpecificError = Code(rawValue: 0x83)
        /// MQTTREASONCODE_UNSUPPORTED_PROTOCOL_VERSION (0x84); 3.1.1 CONNACK 1.
        public static let unsupportedProtocolVersion = Code(rawValue: 0x84)
        /// MQTTREASONCODE_CLIENT_IDENTIFIER_NOT_VALID (0x85); 3.1.1 CONNACK 2.
        public static let clientIdentifierNotValid = Code(rawValue: 0x85)
        /// MQTTREASONCODE_BAD_USER_NAME_OR_PASSWORD (0x86); 3.1.1 CONNACK 4.
        public static let badUserNameOrPassword = Code(rawValue: 0x86)
        /// MQTTREASONCODE_NOT_AUTHORIZED (0x87); 3.1.1 CONNACK 5.
        public static let notAuthorized = Code(rawValue: 0x87)
        /// MQTTREASONCODE_SERVER_UNAVAILABLE (0x88); 3.1.1 CONNACK 3.
        public static let serverUnavailable = Code(rawValue: 0x88)
        /// MQTTREASONCODE_SERVER_BUSY (0x89)
        public static let serverBusy = Code(rawValue: 0x89)
        /// MQTTREASONCODE_BANNED (0x8A)
        public static let banned = Code(rawValue: 0x8A)
        /// MQTTREASONCODE_SERVER_SHUTTING_DOWN (0x8B)
        public static let serverShuttingDown = Code(rawValue: 0x8B)
        /// MQTTREASONCODE_KEEP_ALIVE_TIMEOUT (0x8D)
        public static let keepAliveTimeout = Code(rawValue: 0x8D)
        /// MQTTREASONCODE_SESSION_TAKEN_OVER (0x8E): another client connected with the same client id.
        public static let sessionTakenOver = Code(rawValue: 0x8E)
        /// MQTTREASONCODE_TOPIC_FILTER_INVALID (0x8F)
        public static let topicFilterInvalid = Code(rawValue: 0x8F)
        /// MQTTREASONCODE_TOPIC_NAME_INVALID (0x90)
        public static let topicNameInvalid = Code(rawValue: 0x90)
        /// MQTTREASONCODE_PACKET_TOO_LARGE (0x95)
        public static let packetTooLarge = Code(rawValue: 0x95)
        /// MQTTREASONCODE_QUOTA_EXCEEDED (0x97)
        public static let quotaExceeded = Code(rawValue: 0x97)
        /// MQTTREASONCODE_ADMINISTRATIVE_ACTION (0x98)
        public static let administrativeAction = Code(rawValue: 0x98)
        /// MQTTREASONCODE_QOS_NOT_SUPPORTED (0x9B)
        public static let qosNotSupported = Code(rawValue: 0x9B)

        /// Maps an MQTT 3.1.1 CONNACK return code (1-5) to the v5 reason code that means the same.
        public static func fromConnack311(_ code: Int32) -> Code {
            switch code {
            case 1: return .unsupportedProtocolVersion
            case 2: return .clientIdentifierNotValid
            case 3: return .serverUnavailable
            case 4: return .badUserNameOrPassword
            case 5: return .notAuthorized
            default: return Code(rawValue: code)
            }
        }

        /// The credentials were refused (bad user name or password, or not authorized to connect).
        public var isAuthorizationFailure: Bool {
            self == .badUserNameOrPassword || self == .notAuthorized || self == .banned
        }

        /// The broker could not be reached at all.
        public var isUnreachable: Bool {
            self == .hostNotFound || self == .connectionRefused || self == .timedOut || self == .failure
                || self == .connectionClosed
        }

        /// The request was cut off by the connection, not answered by the broker: worth applying again.
        public var isConnectionLoss: Bool {
            self == .connectionLost || self == .disconnected || self == .failure || self == .operationIncomplete
        }

        public var description: String {
            rawValue < 0 ? "\(rawValue)" : "0x\(String(rawValue, radix: 16, uppercase: true))"
        }
    }

    public var code: Code
    public var message: String
    /// The topic or filter a refused publish or subscription was for; nil for everything else (a refused
    /// connect among them), so "check the password" is never said of an ACL refusal.
    public var topic: String?

    public init(_ code: Code, _ message: String, topic: String? = nil) {
        self.code = code
        self.message = message
        self.topic = topic
    }

    public var description: String { message }
}
