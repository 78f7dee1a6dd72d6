import ArgumentParser
import ChatCLI
import ChatProtocol
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

@main
struct Listener: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "listener",
        abstract: "Show the chat on one or more MQTT topics.",
        discussion: """
            Prints one line per message: `12:01:02 <alice> hello`, notices as `12:01:05 * alice joined`.
            Anything received is shown escaped, so nobody can take over your terminal.

            Examples:
              listener                                  # the "chat" topic on localhost
              listener -h broker.example -u alice -t chat/room1 -t chat/room2
              listener -t 'chat/#' --format json | jq -r '.from + ": " + .message'
              listener --session -i alice-laptop        # get what was said while you were away
              listener -C 1 -W 10                       # wait up to 10 s for one message

            Exit codes: 0 ok, 64 usage, 69 broker unreachable, 75 fewer than --count messages before
            --timeout, 77 not authorized, 1 anything else.
            """,
        version: chatVersion,
        helpNames: [.long]
    )

    static func main() async {
        await runWithOneLineErrors("listener")
    }

    @OptionGroup var connection: ConnectionOptions

    @Option(name: [.short, .long], help: "Topic filter to listen to; repeat for several; + and # allowed. (default: chat)")
    var topic: [String] = []

    @Option(name: .long, help: "Output: text for people, json (one object per line) for scripts.")
    var format: ChatLineRenderer.Format = .text

    @Option(name: [.customShort("C"), .long], help: "Exit after this many messages.")
    var count: Int?

    @Option(name: [.customShort("W"), .long], help: "Exit after this many seconds.")
    var timeout: Double?

    @Flag(name: .long, help: "Keep a persistent session (needs -i), so messages sent while you are away arrive later.")
    var session = false

    /// How long the broker keeps a --session while the listener is away.
    static let sessionExpiry: UInt32 = 7 * 24 * 3600
    /// Without --session, the broker still keeps the session this long so a dropped connection loses nothing;
    /// a clean exit ends it.
    static let reconnectGrace: UInt32 = 300

    var topics: [String] {
        if !topic.isEmpty { return topic }
        return [connection.urlTopic ?? "chat"]
    }

    func validate() throws {
        for filter in topics {
            do { try MQTTClient.validateTopicFilter(filter) } catch { throw ValidationError(error.message) }
        }
        if session && !connection.hasExplicitID {
            throw ValidationError("--session needs a fixed client id (-i), so the broker knows it is you again.")
        }
        if let count, count < 1 { throw ValidationError("Invalid count \(count): it must be at least 1.") }
        if let timeout, !(timeout > 0) { throw ValidationError("Invalid timeout \(timeout): it must be positive.") }
    }

    func run() async throws {
        let tool = "listener"
        var configuration = try connection.configuration { report(tool, $0) }
        configuration.cleanStart = !session
        configuration.sessionExpiry = session ? Self.sessionExpiry : Self.reconnectGrace
        let interactive = Terminal.isTerminal(1) && format == .text
        let renderer = ChatLineRenderer(
            format: format, showTopic: topics.count > 1 || topics.contains { $0.contains("+") || $0.contains("#") },
            colors: Terminal.wantsColor(fd: 1))
        let stop = StopReason()
        let sink = MessageSink(renderer: renderer, count: count, stop: stop)
        let client: MQTTClient
        do {
            client = try await connectAndSubscribe(configuration, onMessage: sink.show)
        } catch {
            fail(tool, error, hint: connectHint(for: error, host: configuration.host))
        }

        connection.reportConnected(tool, client)
        if connection.debug {
            report(tool, "subscribed to \(topics.joined(separator: ", ")) at QoS \(connection.qos).")
        }
        // The tasks below get plain copies, not the (non-Sendable) command.
        let (topics, session, timeout) = (self.topics, self.session, self.timeout)

        // Connection news goes to stderr; a session taken over ends `messages` with the error.
        let eventsTask = reportConnectionEvents(tool, client, resubscribed: topics)
        let interruptTask = Task {
            for await _ in Terminal.interrupts() {
                stop.set(.interrupted)
                sink.stopTaking()
                await client.disconnect(endSession: !session)
                return
            }
        }
        let timeoutTask = Task {
            guard let timeout else { return }
            try await Task.sleep(for: .milliseconds(Int(timeout * 1000)))
            stop.set(.timedOut)
            sink.stopTaking()
            await client.disconnect(endSession: !session)
        }
        let doneTask = Task {
            for await _ in sink.done {
                sink.stopTaking()
                await client.disconnect(endSession: !session)
            }
        }
        Terminal.whenOutputCloses(1) {
            stop.set(.outputClosed)
            sink.close()
        }
        if interactive {
            let check = JoinCheck(client: client, user: configuration.username ?? "", topics: topics)
            sink.watch(check)
            Task { await check.announce(tool: tool) }
        }

        // The sink shows the messages; `messages` ends when the client disconnects or gives up.
        var failure: MQTTError?
        do {
            for try await _ in client.messages {}
        } catch let error as MQTTError {
            failure = error
        }
        sink.close()
        timeoutTask.cancel()
        interruptTask.cancel()
        eventsTask.cancel()
        doneTask.cancel()
        await client.disconnect(endSession: !session)
        let received = sink.received

        if let failure { fail(tool, failure) }
        if stop.reason == .timedOut, let count, received < count {
            report(tool, "timed out after \(received) of \(count) messages.")
            finish(ExitStatus.undelivered)
        }
        finish()
    }
}

extension Listener {
    private func connectAndSubscribe(
        _ configuration: MQTTConfiguration, onMessage: @escaping MQTTMessageHandler
    ) async throws(MQTTError) -> MQTTClient {
        let client = try MQTTClient(configuration, onMessage: onMessage)
        try await client.connect()
        try await client.subscribe(topics.map { ($0, connection.qosLevel) })
        return client
    }
}

/// Why the listener stopped, when it was not the message count.
final class StopReason: Sendable {
    enum Reason: Sendable { case timedOut, interrupted, outputClosed }
    private let state = Mutex<Reason?>(nil)

    func set(_ reason: Reason) {
        state.withLock { if $0 == nil { $0 = reason } }
    }

    var reason: Reason? { state.withLock { $0 } }
}

extension ChatLineRenderer.Format: ExpressibleByArgument {}
