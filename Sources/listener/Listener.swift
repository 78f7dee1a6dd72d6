import ChatCLI
import ChatCrypto
import ChatProtocol
import MQTTPaho
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

@main
struct Listener: CommandGroup {
    static let spec = CommandSpec(
        "listener",
        abstract: "Show the chat: your rooms, your private messages and invitations, who comes and goes.",
        discussion: """
            With no room flags it follows the room "general", every room you joined (live: `publisher join rust` in another terminal shows #rust here at once), your groups, your private messages and invitations (kept for you while you are away), and people in your rooms coming online and leaving. Lines look like `12:01:02 #rust <bob> hi`; the sender is the one the broker proves, never what the message claims. Anything received is shown escaped, so nobody can take over your terminal.

            Examples:
              listener                          # general, your rooms, groups, inbox
              listener --room rust --room go    # just these rooms
              listener who                      # who is online (also: rooms, groups)
              listener --format json | jq -r '.from + ": " + .message'
              listener -t chat                  # a raw topic (the original clients)
              listener -C 1 -W 10               # wait up to 10 s for one message

            Exit codes: 0 ok, 64 usage, 69 broker unreachable, 75 fewer than --count messages before --timeout, 77 not authorized, 1 anything else.
            """,
        version: chatVersion,
        subcommands: [
            CommandNode(Listen.self), CommandNode(WhoCommand.self), CommandNode(RoomsCommand.self),
            CommandNode(GroupsCommand.self),
        ],
        defaultSubcommand: "listen"
    )

    static func main() {
        runTool("listener")
    }
}

struct Listen: ChatCommand {
    static let spec = CommandSpec(
        "listen",
        abstract: "Show messages as they arrive (the default command).",
        options: ListenOptions.options
    )

    let connection: ConnectionOptions
    let topic: [String]
    let room: [String]
    let group: [String]
    let all: Bool
    let format: ChatLineRenderer.Format
    let count: Int?
    let timeout: Double?
    let session: Bool
    let quiet: Bool
    let bell: Bool

    init(_ arguments: inout ParsedArguments) throws(ValidationError) {
        connection = try ConnectionOptions(arguments)
        topic = try arguments[ListenOptions.topic]
        room = try arguments[ListenOptions.room]
        group = try arguments[ListenOptions.group]
        all = try arguments[ListenOptions.all]
        format = try arguments[ListenOptions.format] ?? .text
        count = try arguments[ListenOptions.count]
        timeout = try arguments[ListenOptions.timeout]
        session = try arguments[ListenOptions.session]
        quiet = try arguments[ListenOptions.quiet]
        bell = try arguments[ListenOptions.bell]
    }

    /// How long the broker keeps a persistent session while the listener is away.
    static let sessionExpiry: UInt32 = 7 * 24 * 3600
    /// Without one, the broker still keeps the session this long so a dropped connection loses nothing;
    /// a clean exit ends it.
    static let reconnectGrace: UInt32 = 300

    /// Raw topics (`-t`, or a -L URL's); empty: the chat layout.
    var rawTopics: [String] {
        if !topic.isEmpty { return topic }
        return connection.urlTopic.map { [$0] } ?? []
    }

    var follow: ChatRouter.Follow {
        if all { return .all }
        guard !room.isEmpty || !group.isEmpty else { return .joined }
        return .selected(rooms: room, groups: group.compactMap { try? GroupID(parsing: $0) })
    }

    func validate() throws(ValidationError) {
        for filter in rawTopics {
            do { try MQTTTopic.validateFilter(filter) } catch { throw ValidationError(error.message) }
        }
        if !rawTopics.isEmpty && (!room.isEmpty || !group.isEmpty || all) {
            throw ValidationError("Give either -t (raw topics) or --room/--group/--all, not both.")
        }
        if all && !(room.isEmpty && group.isEmpty) {
            throw ValidationError("Give either --all or --room/--group, not both.")
        }
        for name in group {
            do { _ = try GroupID(parsing: name) } catch { throw ValidationError(error.message) }
        }
        if rawTopics.isEmpty {
            try connection.validateLayoutUser()
            try validateNames(room.map { ($0, "room") })
            if let id = connection.id { try validateNames([(id, "client id")]) }
        }
        if session && !connection.hasExplicitID {
            throw ValidationError("--session needs a fixed client id (-i), so the broker knows it is you again.")
        }
        if let count, count < 1 { throw ValidationError("Invalid count \(count): it must be at least 1.") }
        if let timeout, !(timeout > 0) { throw ValidationError("Invalid timeout \(timeout): it must be positive.") }
    }

    func run() async throws {
        // Taken over before connecting: a SIGTERM that arrives while connecting or subscribing is then a
        // clean stop (handled below), not the default death.
        let interrupts = Terminal.interrupts()
        let tool = "listener"
        var configuration = try connection.configuration { report(tool, $0) }
        let layoutMode = rawTopics.isEmpty
        let me = connection.resolvedUsername
        // The person's own listener keeps a session per user and machine, so private messages wait for it.
        var persistent = session
        var sessionLock: SessionLock?
        if layoutMode && follow == .joined && !connection.hasExplicitID {
            let stable = SessionLock.clientID(for: me)
            if let lock = SessionLock(clientID: stable) {
                sessionLock = lock
                configuration.clientID = stable
                persistent = true
            } else if !quiet {
                report(
                    tool,
                    "note: another listener of \(me) on this machine holds the session \(stable), which receives "
                        + "messages sent while you are away; this one shows live messages only."
                )
            }
        } else if layoutMode && connection.hasExplicitID && follow == .joined {
            persistent = true
        }
        // A listener sends acknowledgements and a little state, nothing a person waits for: Nagle's algorithm
        // may coalesce them. Pushing each PUBACK out at once cost a fifth of a workshop listener's CPU per
        // message (the broker's side of loopback then runs in the listener's write; scripts/bench-workshop).
        configuration.tcpNoDelay = false
        configuration.cleanStart = !persistent
        configuration.sessionExpiry = persistent ? Self.sessionExpiry : Self.reconnectGrace
        let layout = ChatLayout()
        if layoutMode { configuration.will = Presence.will(layout: layout, me: me, clientID: configuration.clientID) }

        let topics = rawTopics
        let interactive = Terminal.isTerminal(1) && format == .text
        let renderer = ChatLineRenderer(
            format: format,
            showTopic: topics.count > 1 || topics.contains { $0.contains("+") || $0.contains("#") },
            colors: Terminal.wantsColor(fd: 1),
            me: me,
            // Never into a pipe or a file.
            bell: bell && Terminal.isTerminal(1)
        )
        let stop = StopReason()
        // Whether the broker proves senders is unknown until the listener's probe answers (ChatListener).
        var keys: UserKeys?
        var router = ChatRouter(layout: layout, me: me, client: configuration.clientID, follow: follow, verified: nil)
        if layoutMode {
            // End-to-end encryption: this device's keys (created and published on first use), the pinned keys
            // and this session's replay record; the router opens sealed messages with them.
            let store = EndToEnd.store(configuration, user: me)
            var groupEpochs: [GroupID: [GroupEpoch]] = [:]
            do {
                keys = try EndToEnd.keys(configuration, user: me)
                groupEpochs = try store.groupEpochs()
            } catch {
                fail(tool, error)
            }
            let clientID = configuration.clientID
            let replays = store.replays(client: clientID, now: .now())
            store.compactReplays(client: clientID, replays)
            router.opener = KeyOpener(
                keys: keys!,
                pins: store.pins(),
                replays: replays,
                groupEpochs: groupEpochs,
                versions: store.versions()
            ) { store.write($0, client: clientID) }
        }
        let target = "\(configuration.host):\(configuration.port)"
        let restorer = StateRestorer(journal: StateJournalFile(configuration, user: me))
        let debug = connection.debug
        // The owner's listener renews a group's key when members leave.
        let keeper = keys.map { GroupKeyKeeper(keys: $0, configuration: configuration, tool: tool) }
        var membersLeft: (@Sendable ([GroupID]) -> Void)?
        if let keeper { membersLeft = { keeper.update($0) } }
        let stateRead: @Sendable (ChatRouter, Bool) -> Void = { router, again in
            restorer.restore(router)
            keeper?.check(router.directory)
            if debug && again { report("listener", "read the broker's state again after the reconnect.") }
        }
        var onSynced: (@Sendable (ChatRouter) -> Void)?
        if !quiet {
            onSynced = { router in report("listener", ChatListener.listeningLine(router, target: target)) }
        }
        let sink = MessageSink(
            view: layoutMode ? .layout(router) : .raw,
            renderer: renderer,
            count: count,
            stop: stop,
            onSynced: onSynced,
            onStateRead: layoutMode ? stateRead : nil,
            onMembersLeft: membersLeft
        )
        if let keys { await EndToEnd.publishIfNeeded(keys, configuration, tool: tool, quiet: quiet) }
        let client: MQTTClient
        do {
            client = try MQTTClient(configuration, onMessage: sink.show)
            try await client.connect()
        } catch {
            fail(tool, error, hint: connectHint(for: error, host: configuration.host))
        }
        connection.reportConnected(tool, client)
        restorer.attach(client)
        let chat = layoutMode ? ChatListener(client: client, sink: sink, router: router) : nil
        let subscribed: [String]
        do {
            if let chat {
                subscribed = try await chat.start(router.subscriptions(roomQoS: connection.qosLevel))
            } else {
                try await client.subscribe(topics.map { ($0, connection.qosLevel) })
                subscribed = topics
            }
        } catch {
            fail(tool, error)
        }
        if connection.debug {
            report(tool, "subscribed to \(subscribed.joined(separator: ", ")) at QoS \(connection.qos).")
        }
        if !quiet && !layoutMode {
            report(
                tool,
                "listening on \(topics.joined(separator: ", ")) at \(client.configuration.host):\(client.configuration.port) as \(me)."
            )
        }
        // The tasks below get plain copies, not the (non-Sendable) command.
        let (timeout, endSession) = (self.timeout, !persistent)

        // Connection news goes to stderr; a session taken over ends `messages` with the error.
        let eventsTask = reportConnectionEvents(tool, client, resubscribed: subscribed) {
            await chat?.reconnected()
        }
        // The one way to stop: say why (the first reason stands), take nothing more from Paho, leave the
        // session as the user expects it, disconnect. `messages` then ends and the run finishes below.
        let shutDown: @Sendable (StopReason.Reason?) async -> Void = { reason in
            if let reason { stop.set(reason) }
            sink.stopTaking()
            await chat?.leave()
            await client.disconnect(endSession: endSession)
        }
        let interruptTask = Task {
            for await _ in interrupts {
                await shutDown(.interrupted)
                return
            }
        }
        let timeoutTask = Task {
            guard let timeout else { return }
            try await Task.sleep(for: .milliseconds(Int(timeout * 1000)))
            await shutDown(.timedOut)
        }
        let doneTask = Task {
            for await _ in sink.done { await shutDown(nil) }
        }
        Terminal.whenOutputCloses(1) {
            stop.set(.outputClosed)
            sink.close()
        }
        if interactive && !layoutMode {
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
        await Terminal.onOwnThread { sink.close() }
        timeoutTask.cancel()
        interruptTask.cancel()
        eventsTask.cancel()
        doneTask.cancel()
        await shutDown(nil)
        withExtendedLifetime(sessionLock) {}
        let received = sink.received

        if let failure { fail(tool, failure) }
        if stop.reason == .timedOut, let count, received < count {
            finish(ExitStatus.undelivered, tool, saying: "timed out after \(received) of \(count) messages.")
        }
        finish()
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
