import ChatCLI
import ChatProtocol
import MQTTPaho
import Synchronization

/// The listener over the chat layout: finds out whether the broker proves senders, subscribes once to the
/// state and to everything it may show (the router filters: see `ChatRouter`), says it is online, and reads
/// the state again after every reconnect.
final class ChatListener: Sendable {
    private let client: MQTTClient
    private let sink: MessageSink
    private let layout: ChatLayout
    private let me: String
    private let follow: ChatRouter.Follow
    private let presence: Presence
    private let persistent: Bool
    private let left = Atomic<Bool>(false)
    /// Every task the listener starts (the probe's answer, the snapshot's patience, the presence's renewal,
    /// the check for lapsed presences), all cancelled by `leave()`.
    private let tasks = Mutex<[Task<Void, Never>]>([])
    /// The router's subscriptions and the ones a persistent session drops while away.
    private let filtersDroppedWhileAway: [String]
    private let stateFilters: [String]

    /// How long the snapshot of the broker's state may take before the listener shows what it has.
    static let snapshotPatience: Duration = .seconds(5)

    init(client: MQTTClient, sink: MessageSink, router: ChatRouter) {
        self.client = client
        self.sink = sink
        layout = router.layout
        me = router.me
        follow = router.follow
        filtersDroppedWhileAway = router.filtersDroppedWhileAway
        stateFilters = layout.stateFilters(of: router.me)
        presence = Presence(client: client, layout: layout, me: me, tool: "listener")
        persistent = !client.configuration.cleanStart
    }

    /// Subscribes to `subscriptions` (the router's); returns their filters.
    func start(_ subscriptions: [MQTTSubscription]) async throws(MQTTError) -> [String] {
        // A probe connection takes Paho a second or two to open: it runs beside the rest, and the router holds
        // every chat line until its answer is in.
        let probe = Task { await brokerProvesSenders() }
        if follow == .all {
            guard await !probe.value else {
                throw MQTTError(
                    .notAuthorized,
                    "--all is the workshop host's view and needs the admin account: the broker does not let \(me) act for others."
                )
            }
        }
        let answer = Task { [sink] in
            let verified = await probe.value
            sink.updateRouter { $0.setVerified(verified) }
        }
        try await client.subscribe(subscriptions)
        try await presence.announce()
        let expiring = Task { [sink] in
            // Presences of connections that died with a broker lapse at their expiry, to the second.
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(1))
                sink.updateRouter { ($0.expirePresence(now: .now()), []) }
            }
        }
        try await client.publish(topic: layout.sync(of: me, client: client.configuration.clientID), payload: [])
        let patience = Task { [sink] in
            guard (try? await Task.sleep(for: Self.snapshotPatience)) != nil else { return }
            sink.updateRouter { $0.finishSnapshot() }
        }
        tasks.withLock { $0 = [answer, presence.renewing(), expiring, patience] }
        return subscriptions.map(\.filter)
    }

    /// `listening on #general, #rust, alice/robots and your private messages at HOST:PORT as bob.`, for the
    /// moment the snapshot is in (what the router follows then).
    static func listeningLine(_ router: ChatRouter, target: String) -> String {
        let followed = router.followedRooms.map { "#" + $0 } + router.followedGroups.map(\.description)
        var what = router.follow == .all ? "every room" : followed.joined(separator: ", ")
        if router.follow == .joined { what += (followed.isEmpty ? "" : " and ") + "your private messages" }
        return "listening on \(what) at \(target) as \(router.me)."
    }

    /// Whether the broker refuses a post under another name (PUBACK 0x87 under MQTT 5), in a room nobody
    /// uses, with an empty payload no listener shows. On a connection of its own: mosquitto 2.0.11 closes the
    /// connection after refusing a publish, which would fire this one's will. MQTT 3.1.1 brokers drop refused
    /// posts silently, so nothing can be proven there.
    private func brokerProvesSenders() async -> Bool {
        let probeRoom = "~probe-" + String(UInt64.random(in: 0...UInt64.max), radix: 36)
        let claimed = me == "nobody" ? "somebody" : "nobody"
        var configuration = client.configuration
        configuration.clientID =
            String(configuration.clientID.prefix(12)) + "-probe" + String(UInt16.random(in: 0...0xFFFF), radix: 16)
        (configuration.cleanStart, configuration.sessionExpiry, configuration.will, configuration.reconnect) = (
            true, 0, nil, nil
        )
        configuration.version = client.connectResult?.version ?? .v5
        configuration.allowVersionFallback = false
        var note: String?
        var verified = false
        if configuration.version != .v5 {
            note =
                "MQTT 3.1.1 cannot tell whether the broker enforces mqtt-chat's ACL, so no sender is shown as verified."
        } else {
            do {
                try await MQTTClient.withConnection(configuration) { probe in
                    try await probe.publish(topic: layout.room(probeRoom, sender: claimed), payload: [])
                }
                note =
                    "this broker let \(me) post under another name (no mqtt-chat ACL, or \(me) is its admin), so no "
                    + "sender is shown as verified."
            } catch let error as MQTTError {
                verified = error.code == .notAuthorized
                if !verified { note = "could not check whether the broker proves senders (\(error.message))." }
            } catch {
                note = "could not check whether the broker proves senders."
            }
        }
        if let note, follow != .all { report("listener", "note: " + note) }
        return verified
    }

    /// Back after a lost connection: says it is online again (the will cleared the presence) and reads the
    /// state again, as the broker holds it now (it may have lost or changed some while the listener was away).
    func reconnected() async {
        sink.updateRouter { router in
            router.beginResync()
            return ([], [])
        }
        let subscriptions = stateFilters.map { MQTTSubscription($0, qos: .atLeastOnce) }
        _ = try? await client.subscribe(subscriptions)
        try? await presence.announce()
        _ = try? await client.publish(topic: layout.sync(of: me, client: client.configuration.clientID), payload: [])
    }

    /// Before disconnecting: clears the presence, and leaves in a persistent session only the inbox and the
    /// groups, so the broker keeps private and group messages, not the rooms' traffic, while the user is
    /// away. Once.
    func leave() async {
        guard !left.exchange(true, ordering: .relaxed) else { return }
        tasks.withLock { $0.forEach { $0.cancel() } }
        presence.withdraw()
        guard persistent else { return }
        let unsubscribe = Task { [client, filtersDroppedWhileAway] in
            try? await client.unsubscribe(filtersDroppedWhileAway)
        }
        let bound = Task {
            try? await Task.sleep(for: .seconds(1))
            unsubscribe.cancel()
        }
        await unsubscribe.value
        bound.cancel()
    }
}

/// Writes again the state this user's tools wrote that the broker no longer holds (`StateJournal`), after
/// each snapshot: at start and after every reconnect, so a broker that crashed and came back with an old
/// save gets the user's joins, contacts and group decisions back within seconds of the listener's return.
final class StateRestorer: Sendable {
    private let journal: StateJournalFile
    private let client = Mutex<(any MQTTTransport)?>(nil)

    init(journal: StateJournalFile) {
        self.journal = journal
    }

    func attach(_ client: any MQTTTransport) {
        self.client.withLock { $0 = client }
    }

    /// Called with the router when a snapshot is complete (on the sink's thread: returns at once).
    func restore(_ router: ChatRouter) {
        guard let client = client.withLock({ $0 }) else { return }
        let broker = router.ownState
        Terminal.startDetachedThread { [journal] in
            // The journal is a local folder: read on a thread of our own, not on Paho's nor the pool's.
            let publishes = StateJournal.restorations(journal: journal.load(), broker: broker)
            for (topic, payload) in publishes {
                client.startPublish(topic: topic, payload: payload, qos: .atLeastOnce, retain: true) { _ in }
            }
        }
    }
}
