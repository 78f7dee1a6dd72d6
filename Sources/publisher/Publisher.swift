import ChatCLI
import ChatCrypto
import ChatProtocol
import MQTTPaho

#if canImport(Glibc)
    import Glibc
#endif

@main
struct Publisher: CommandGroup {
    static let spec = CommandSpec(
        "publisher",
        abstract: "Send chat messages: to a room, to one person, or to a raw MQTT topic.",
        discussion: """
            With -m, sends one message. With input from a pipe, sends each line as one message and exits once the broker has acknowledged them all. On a terminal, it is a chat prompt: type and press Enter; /help lists the commands (/join, /msg, /who...), /quit leaves. Without -t, --room, --to or --group, messages go to the room "general". `publisher send --help` lists every flag of sending.

            Examples:
              publisher -m "hello"              # one message to #general
              publisher --room rust             # a prompt in #rust
              publisher --to bob -m "lunch?"    # a private message
              publisher join rust -u alice      # every listener of alice follows #rust
              publisher invite bob rust         # invite bob to #rust
              publisher who rust --format json  # who joined #rust
              publisher group create robots     # a group you own (publisher group --help)
              tail -f app.log | publisher -t ops    # a raw topic, nothing lost

            Exit codes: 0 ok, 64 usage, 69 broker unreachable, 75 messages left undelivered (after --timeout, or interrupted), 77 not authorized (credentials, or the broker refused a publish), 1 anything else.
            """,
        version: chatVersion,
        // Sending, then the chat commands (ChatOperations).
        subcommands: [CommandNode(Send.self)] + CommandNode.chatCommands(),
        defaultSubcommand: "send"
    )

    static func main() {
        runTool("publisher")
    }
}

/// Sending: one message, lines from a pipe, or the prompt.
struct Send: ChatCommand {
    static let spec = CommandSpec(
        "send",
        abstract: "Send to a room (default), one person (--to) or a raw topic (-t).",
        options: SendOptions.options
    )

    let connection: ConnectionOptions
    let topic: String?
    let room: String?
    let to: String?
    let group: String?
    let message: String?
    let notice: String?
    let me: String?
    let retain: Bool
    let timeout: Double
    let quiet: Bool
    let waitForBroker: Bool
    let plaintext: Bool

    init(_ arguments: inout ParsedArguments) throws(ValidationError) {
        connection = try ConnectionOptions(arguments)
        topic = try arguments[SendOptions.topic]
        room = try arguments[SendOptions.room]
        to = try arguments[SendOptions.to]
        group = try arguments[SendOptions.group]
        message = try arguments[SendOptions.message]
        notice = try arguments[SendOptions.notice]
        me = try arguments[SendOptions.me]
        retain = try arguments[SendOptions.retain]
        timeout = try arguments[SendOptions.timeout] ?? 30
        quiet = try arguments[SendOptions.quiet]
        waitForBroker = try arguments[SendOptions.waitForBroker]
        plaintext = try arguments[SendOptions.plaintext]
    }

    /// Cap on unacknowledged publishes, below the broker's receive maximum (see LinePublisher).
    static let windowCap = 1_000

    /// A raw topic (`-t`, or a -L URL's); nil: the chat layout.
    var rawTopic: String? { topic ?? connection.urlTopic }

    var layout: ChatLayout { ChatLayout() }

    var resolvedRoom: String { room ?? ChatLayout.defaultRoom }

    /// Where the messages go.
    var resolvedTopic: String {
        if let rawTopic { return rawTopic }
        let me = connection.resolvedUsername
        if let to { return layout.inbox(of: to, from: me) }
        if let group, let id = try? GroupID(parsing: group) { return layout.groupMessage(id, sender: me) }
        return layout.room(resolvedRoom, sender: me)
    }

    func validate() throws(ValidationError) {
        if rawTopic != nil && (room != nil || to != nil || group != nil) {
            throw ValidationError("Give either -t (a raw topic) or --room/--to/--group, not both.")
        }
        if [room, to, group].compactMap({ $0 }).count > 1 {
            throw ValidationError("Give one of --room, --to and --group.")
        }
        if let group {
            do { _ = try GroupID(parsing: group) } catch { throw ValidationError(error.message) }
        }
        if rawTopic == nil {
            try connection.validateLayoutUser()
            try validateNames([(resolvedRoom, "room")] + (to.map { [($0, "user name")] } ?? []))
        }
        do { try MQTTTopic.validateName(resolvedTopic) } catch { throw ValidationError(error.message) }
        if message != nil && notice != nil { throw ValidationError("Give either -m or --notice, not both.") }
        if me != nil && (message != nil || notice != nil) {
            throw ValidationError("Give either --me or -m/--notice, not both.")
        }
        if !(timeout > 0) { throw ValidationError("Invalid timeout \(timeout): it must be positive.") }
    }

    func run() async throws {
        let tool = "publisher"
        let interactive = message == nil && notice == nil && me == nil && Terminal.isTerminal(0)
        var configuration = try connection.configuration { report(tool, $0) }
        let user = configuration.username ?? ""
        // A session that outlives a dropped connection, so in-flight messages are resent after reconnecting
        // (exactly once at QoS 2). A clean exit ends it.
        configuration.sessionExpiry = 300
        configuration.maxInflight = Self.windowCap
        // A person's line goes out at once; a pipe's lines may be coalesced by Nagle's algorithm, as
        // mosquitto_pub's are (QoS 0 from a pipe: 31-42k msg/s pushed one by one, 48-59k coalesced).
        configuration.tcpNoDelay = interactive
        if interactive && rawTopic != nil {
            configuration.will = MQTTWill(
                topic: resolvedTopic,
                payload: ChatMessage.notice(from: user, "\(user) left (connection lost)").encoded()
            )
        } else if interactive {
            configuration.will = Presence.will(layout: layout, me: user, clientID: configuration.clientID)
        }
        let patience = Duration.milliseconds(Int(timeout * 1000))
        let watcher = DirectoryWatcher(layout: layout, me: user, client: configuration.clientID)
        // End-to-end encryption: this device's keys (created on first use, published once connected), and the
        // key bundle of the person a private message goes to.
        var keys: UserKeys?
        if rawTopic == nil {
            do { keys = try EndToEnd.keys(configuration, user: user) } catch { fail(tool, error) }
        }
        if let keys { await EndToEnd.publishIfNeeded(keys, configuration, tool: tool, quiet: quiet) }
        let keyReader = KeyReader(layout: layout, me: user, client: configuration.clientID)
        let readsKeys = keys != nil && (to != nil || group != nil || interactive)
        var onMessage: MQTTMessageHandler?
        if interactive {
            onMessage = { message in
                watcher.handle(message)
                if readsKeys { keyReader.handle(message) }
            }
        } else if readsKeys {
            onMessage = keyReader.handle
        }
        let client: MQTTClient
        do {
            client = try await connectClient(
                configuration,
                retryFor: waitForBroker ? patience : nil,
                onMessage: onMessage
            )
        } catch {
            fail(tool, error, hint: connectHint(for: error, host: configuration.host))
        }
        connection.reportConnected(tool, client)
        let presence = Presence(client: client, layout: layout, me: user, tool: "publisher")
        let promptOnline = interactive && rawTopic == nil
        let eventsTask = reportConnectionEvents(
            tool,
            client,
            onReconnect: {
                // The lost connection fired the will, which cleared the prompt's presence: say it again.
                if promptOnline { try? await presence.announce() }
            },
            onClosed: { error in
                // Nothing more can be sent: say so at once instead of waiting out -W.
                let pending = client.unacknowledgedPublishes
                fail(tool, error, hint: pending > 0 ? Self.notDelivered(pending) + "." : nil)
            }
        )
        defer { eventsTask.cancel() }
        let interrupts = Task { [timeout] in
            for await _ in Terminal.interrupts() {
                await Self.interrupted(client, presence: promptOnline ? presence : nil, patience: timeout)
            }
        }
        defer { interrupts.cancel() }
        if interactive && !quiet {
            let place = rawTopic ?? group ?? to.map { "@" + $0 } ?? "#" + resolvedRoom
            report(tool, "talking in \(place) at \(client.configuration.host):\(client.configuration.port) as \(user).")
        }
        // Private and group messages go at QoS 2: exactly once, also to a listener that was away.
        let qos = to != nil || group != nil ? .exactlyOnce : connection.qosLevel
        var seal: (@Sendable (ChatMessage) -> [UInt8])?
        if let keys, readsKeys, !interactive, to != nil || group != nil {
            do {
                let store = EndToEnd.store(configuration, user: user)
                if let to {
                    let bundles = try await keyReader.read(client, users: [to])
                    seal = try EndToEnd.sealer(to: to, keys: keys, store: store, bundles: bundles, plaintext: plaintext)
                } else if let group = group.flatMap({ try? GroupID(parsing: $0) }) {
                    let sending = EndToEndSending(keys: keys, store: store, reader: keyReader, plaintext: plaintext)
                    seal = try await sending.groupSealer(group, client: client, layout: layout)
                }
            } catch {
                await client.disconnect(endSession: true)
                fail(tool, error)
            }
        }
        let publisher = LinePublisher(
            client: client,
            topic: resolvedTopic,
            qos: qos,
            retain: retain,
            from: user,
            window: LinePublisher.window(for: client.connectResult, cap: Self.windowCap),
            seal: seal
        )

        var stalled = 0
        if let to, rawTopic == nil, message != nil || !interactive {
            // Writing to someone accepts their answers.
            do {
                try await ChatActions(client: client, layout: layout, me: user).setContact(to, .accepted)
            } catch {
                fail(tool, error)
            }
        }
        if interactive && rawTopic == nil {
            let place: ChatPlace =
                if let to { .user(to) } else if let group = group.flatMap({ try? GroupID(parsing: $0) }) {
                    .group(group)
                } else { .room(resolvedRoom) }
            var prompt = ChatPrompt(client: client, watcher: watcher, me: user, place: place)
            if let keys {
                let store = EndToEnd.store(configuration, user: user)
                prompt.endToEnd = EndToEndSending(keys: keys, store: store, reader: keyReader, plaintext: plaintext)
            }
            await prompt.run(publisher, patience: patience)
        } else if let text = message ?? notice ?? me.map({ ChatMessage.me(user, $0).text }) {
            if await !publisher.send(text, kind: message != nil ? .message : .notice, patience: patience) {
                stalled = 1
            }
        } else if interactive {
            let history = PromptHistory(user: user, host: configuration.host, port: configuration.port)
            await Terminal.onOwnThread {
                Self.runInteractive(publisher, user: user, history: history, patience: patience)
            }
        } else {
            // Reads and window waits block: the whole loop runs on a thread of its own (no hand-over per line),
            // on one CPU with Paho's threads, which take each line from it.
            stalled = await Terminal.onOwnThread {
                OneCPU.confine()
                var reader = LineReader(fd: 0)
                while let line = reader.next() {
                    if line.isEmpty { continue }
                    guard publisher.send(String(decoding: line, as: UTF8.self), patience: patience) else {
                        // Gave up waiting: this line and whatever input is already here were not sent.
                        return publisher.failure == nil ? 1 + reader.countAvailableLines() : 0
                    }
                }
                return 0
            }
        }

        // After a stall the -W wait is already spent: collect what is settled and stop.
        let undelivered = await publisher.finish(patience: stalled > 0 ? .milliseconds(100) : patience) + stalled
        if let failure = publisher.failure, failure.code != .timedOut {
            await client.disconnect(endSession: true)
            fail(
                tool,
                failure.code == .notAuthorized
                    ? MQTTError(failure.code, "Not authorized to publish to \(resolvedTopic) as \(user).") : failure
            )
        }
        await client.disconnect(endSession: true)
        if undelivered > 0 {
            finish(
                ExitStatus.undelivered,
                tool,
                saying: Self.notDelivered(undelivered) + ": no acknowledgement from the broker within \(timeout) s."
            )
        }
        finish()
    }

    /// "1 message was not delivered", "3 messages were not delivered".
    static func notDelivered(_ count: Int) -> String {
        "\(count) \(count == 1 ? "message was" : "messages were") not delivered"
    }

    /// Ctrl-C or SIGTERM: nothing is lost silently. With every message acknowledged it leaves at once (exit 0);
    /// otherwise it says how many were not delivered and exits 75, as `-W` does.
    static func interrupted(_ client: MQTTClient, presence: Presence?, patience: Double) async {
        let pending = client.unacknowledgedPublishes
        guard pending == 0 else {
            finish(
                ExitStatus.undelivered,
                "publisher",
                saying: "interrupted: " + notDelivered(pending) + " (not acknowledged by the broker)."
            )
        }
        presence?.withdraw()
        await client.disconnect(timeout: .seconds(1), endSession: true)
        finish()
    }

    /// The chat prompt: join notice, one message per line, leave notice.
    private static func runInteractive(
        _ publisher: LinePublisher,
        user: String,
        history: PromptHistory,
        patience: Duration
    ) {
        _ = publisher.send("\(user) joined", kind: .notice, patience: patience)
        let input = PromptInput(history: history)
        defer { input.close() }
        while true {
            guard let text = input.next(prompt: "\(user)> ") else { break }
            if text == "exit" || text == "/quit" { break }
            if text.isEmpty { continue }
            guard publisher.send(text, patience: patience) else { break }
        }
        _ = publisher.send("\(user) left", kind: .notice, patience: patience)
    }
}
