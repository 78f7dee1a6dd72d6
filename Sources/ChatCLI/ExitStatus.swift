import ChatProtocol
import MQTTPaho
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// The documented exit codes (sysexits.h), shared by both tools.
public enum ExitStatus {
    /// Everything worked.
    public static let ok: Int32 = 0
    /// Anything not listed below.
    public static let failure: Int32 = 1
    /// Bad flag, bad topic, bad port (EX_USAGE).
    public static let usage: Int32 = 64
    /// Broker unreachable: refused, DNS, timeout, TLS (EX_UNAVAILABLE).
    public static let unavailable: Int32 = 69
    /// Messages left undelivered (EX_TEMPFAIL).
    public static let undelivered: Int32 = 75
    /// Not authorized: bad credentials, a publish or subscription refused (EX_NOPERM).
    public static let notAuthorized: Int32 = 77

    /// The exit code for a library error.
    public static func code(for error: MQTTError) -> Int32 {
        switch error.code {
        case let code where code.isAuthorizationFailure: return notAuthorized
        case .hostNotFound, .connectionRefused, .connectionClosed, .timedOut, .tlsFailure, .failure, .serverUnavailable,
            .serverBusy:
            return unavailable
        case .invalidArgument, .topicNameInvalid, .topicFilterInvalid: return usage
        default: return failure
        }
    }
}

/// Whether the tool is exiting. Set under the lock by the thread that exits, which keeps it through `exit`: a
/// connection-lost notice from another thread can then neither follow the verdict line nor start a second exit.
private let exiting = Mutex(false)

/// Writes one line to stderr, prefixed with the tool's name; nothing once the tool is exiting.
public func report(_ tool: String, _ message: String) {
    exiting.withLock { exiting in
        if !exiting { writeLine(tool, message) }
    }
}

private func writeLine(_ tool: String, _ message: String) {
    // Above the line being typed, when a prompt is being edited.
    Terminal.show(Array("\(tool): \(message)\n".utf8), on: 2)
}

/// Reports `error` as one line and exits with its documented code.
public func fail(_ tool: String, _ error: MQTTError, hint: String? = nil) -> Never {
    finish(ExitStatus.code(for: error), tool, saying: error.message + (hint.map { " " + $0 } ?? ""))
}

/// Reports whatever a command threw as one line and exits: a usage error with 64, a library error (Paho's loader
/// failing among them) with its documented code, anything else with 1. Every path that runs a command ends here.
public func fail(_ tool: String, thrown error: any Error) -> Never {
    switch error {
    case let error as ValidationError: finish(ExitStatus.usage, tool, saying: error.message)
    case let error as MQTTError: fail(tool, error)
    default: finish(ExitStatus.failure, tool, saying: "\(error)")
    }
}

/// What to add to "cannot connect" so a newcomer knows the next step.
public func connectHint(for error: MQTTError, host: String) -> String? {
    switch error.code {
    case .connectionRefused where host == "localhost" || host == "127.0.0.1" || host == "::1":
        return "Is mosquitto running? Start one with: mosquitto -c mosquitto.conf"
    case .connectionRefused, .timedOut:
        return "Is a broker running there, and is the port right?"
    case .connectionClosed:
        return "Is that port an MQTT broker's? Its log says why it closed the connection."
    case .badUserNameOrPassword where error.topic == nil, .notAuthorized where error.topic == nil:
        // A refused subscription or publish (it names its topic) is the ACL's doing, not the password's.
        return "Check -u and the password (-P, --password-file or MQTT_PASSWORD)."
    default:
        return nil
    }
}

/// Creates a client and connects it. With `retryFor`, an unreachable broker is tried again every half
/// second until that much time has passed (for scripts that start before the broker does).
public func connectClient(
    _ configuration: MQTTConfiguration,
    retryFor: Duration? = nil,
    onMessage: MQTTMessageHandler? = nil
) async throws(MQTTError) -> MQTTClient {
    let deadline = ContinuousClock.now + (retryFor ?? .zero)
    while true {
        let client = try MQTTClient(configuration, onMessage: onMessage)
        do {
            try await client.connect()
            return client
        } catch  where error.code.isUnreachable && ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(500))
        }
    }
}

/// Tells the user on stderr when the connection drops and comes back; returns the task doing it. `onClosed`
/// runs when the client gives up for good (its session taken over, its credentials refused on a reconnect).
public func reportConnectionEvents(
    _ tool: String,
    _ client: MQTTClient,
    resubscribed topics: [String] = [],
    onReconnect: (@Sendable () async -> Void)? = nil,
    onClosed: (@Sendable (MQTTError) -> Void)? = nil
) -> Task<Void, Never> {
    let target = "\(client.configuration.host):\(client.configuration.port)"
    return Task {
        for await event in client.events {
            switch event {
            case .connectionLost(let cause):
                report(tool, "connection to \(target) lost\(cause.map { " (\($0))" } ?? ""); reconnecting…")
            case .reconnected(let result):
                var line = "reconnected to \(target)"
                if result.sessionPresent {
                    line += "; session resumed"
                } else if !topics.isEmpty {
                    line += "; resubscribed to \(topics.joined(separator: ", "))"
                }
                report(tool, line + ".")
                await onReconnect?()
            case .closed(let error):
                onClosed?(error)
            }
        }
    }
}

/// Ends the process after a clean run, without tearing down the client first: destroying Paho's last client
/// waits for its threads in 100 ms sleeps (MQTTAsync_stop), which would double what a one-shot publish costs.
/// Everything was flushed and disconnected already; the kernel releases the rest. `line`, if any, is the last
/// one on stderr: no other thread's report comes after it.
public func finish(_ code: Int32 = ExitStatus.ok, _ tool: String = "", saying line: String? = nil) -> Never {
    exiting.withLock { exiting -> Never in
        if !exiting, let line { writeLine(tool, line) }
        exiting = true
        Glibc.exit(code)
    }
}
