import ArgumentParser
import ChatCLI
import ChatProtocol

#if canImport(Glibc)
import Glibc
#endif

@main
struct Publisher: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "publisher",
        abstract: "Send chat messages to an MQTT topic.",
        discussion: """
            With -m, sends one message. With input from a pipe, sends each line as one message and exits
            once the broker has acknowledged them all. On a terminal, it is a chat prompt: type and press
            Enter; `exit` or `/quit` leaves.

            Examples:
              publisher -m "hello"                       # one message to "chat" on localhost
              tail -f app.log | publisher -t ops         # every new log line, nothing lost
              publisher -h broker.example -u alice --password-file ~/.chat-pass -t chat/room1
              publisher --notice "deploy finished" -t ops

            Exit codes: 0 ok, 64 usage, 69 broker unreachable, 75 messages left undelivered after
            --timeout, 77 not authorized, 1 anything else.
            """,
        version: chatVersion,
        helpNames: [.long]
    )

    static func main() async {
        await runWithOneLineErrors("publisher")
    }

    @OptionGroup var connection: ConnectionOptions

    @Option(name: [.short, .long], help: "Topic to publish to; no wildcards. (default: chat)")
    var topic: String?

    @Option(name: [.short, .long], help: "Send this one message and exit.")
    var message: String?

    @Option(name: .long, help: "Send this one notice (shown as `* name text`) and exit.")
    var notice: String?

    @Flag(name: [.short, .long], help: "Ask the broker to retain the message for later subscribers.")
    var retain = false

    @Option(
        name: [.customShort("W"), .long],
        help: "Seconds to wait for acknowledgements (and for the broker, with --wait-for-broker) before giving up.")
    var timeout: Double = 30

    @Flag(name: .long, help: "If the broker is not up yet, keep trying (up to --timeout) instead of failing.")
    var waitForBroker = false

    /// Cap on unacknowledged publishes, below the broker's receive maximum (see LinePublisher).
    static let windowCap = 1_000

    var resolvedTopic: String { topic ?? connection.urlTopic ?? "chat" }

    func validate() throws {
        do { try MQTTClient.validateTopicName(resolvedTopic) } catch { throw ValidationError(error.message) }
        if message != nil && notice != nil { throw ValidationError("Give either -m or --notice, not both.") }
        if !(timeout > 0) { throw ValidationError("Invalid timeout \(timeout): it must be positive.") }
    }

    func run() async throws {
        let tool = "publisher"
        let interactive = message == nil && notice == nil && Terminal.isTerminal(0)
        var configuration = try connection.configuration { report(tool, $0) }
        let user = configuration.username ?? ""
        // A session that outlives a dropped connection, so in-flight messages are resent after reconnecting
        // (exactly once at QoS 2). A clean exit ends it.
        configuration.sessionExpiry = 300
        configuration.maxInflight = Self.windowCap
        if interactive {
            configuration.will = MQTTWill(
                topic: resolvedTopic,
                payload: ChatMessage.notice(from: user, "\(user) left (connection lost)").encoded())
        }
        let patience = Duration.milliseconds(Int(timeout * 1000))
        let client: MQTTClient
        do {
            client = try await connectClient(configuration, retryFor: waitForBroker ? patience : nil)
        } catch {
            fail(tool, error, hint: connectHint(for: error, host: configuration.host))
        }
        connection.reportConnected(tool, client)
        let eventsTask = reportConnectionEvents(tool, client)
        defer { eventsTask.cancel() }
        let publisher = LinePublisher(
            client: client, topic: resolvedTopic, qos: connection.qosLevel, retain: retain, from: user,
            window: LinePublisher.window(for: client.connectResult, cap: Self.windowCap))

        var stalled = 0
        if let text = message ?? notice {
            if !publisher.send(text, kind: message != nil ? .message : .notice, patience: patience) { stalled = 1 }
        } else if interactive {
            runInteractive(publisher, user: user, patience: patience)
        } else {
            var reader = LineReader(fd: 0)
            while let line = reader.next() {
                if line.isEmpty { continue }
                guard publisher.send(String(decoding: line, as: UTF8.self), patience: patience) else {
                    // Gave up waiting: this line and whatever input is already here were not sent.
                    stalled = publisher.failure == nil ? 1 + reader.countAvailableLines() : 0
                    break
                }
            }
        }

        // After a stall the -W wait is already spent: collect what is settled and stop.
        let undelivered = await publisher.finish(patience: stalled > 0 ? .milliseconds(100) : patience) + stalled
        if let failure = publisher.failure, failure.code != .timedOut {
            await client.disconnect(endSession: true)
            fail(tool, failure.code == .notAuthorized
                ? MQTTError(failure.code, "Not authorized to publish to \(resolvedTopic) as \(user).") : failure)
        }
        await client.disconnect(endSession: true)
        if undelivered > 0 {
            let plural = undelivered == 1 ? "message was" : "messages were"
            report(tool, "\(undelivered) \(plural) not delivered: no acknowledgement from the broker within \(timeout) s.")
            finish(ExitStatus.undelivered)
        }
        finish()
    }

    /// The chat prompt: join notice, one message per line, leave notice.
    private func runInteractive(_ publisher: LinePublisher, user: String, patience: Duration) {
        _ = publisher.send("\(user) joined", kind: .notice, patience: patience)
        let prompt = Array("\(user)> ".utf8)
        var reader = LineReader(fd: 0)
        while true {
            Terminal.writeAll(prompt, to: 1)
            guard let line = reader.next() else { break }
            let text = String(decoding: line, as: UTF8.self)
            if text == "exit" || text == "/quit" { break }
            if text.isEmpty { continue }
            guard publisher.send(text, patience: patience) else { break }
        }
        _ = publisher.send("\(user) left", kind: .notice, patience: patience)
    }
}
