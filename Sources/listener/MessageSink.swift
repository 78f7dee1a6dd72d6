import ChatCLI
import ChatProtocol
import Dispatch
import Synchronization

/// Shows each message as it arrives. At a chat's pace Paho's receive thread shows a message itself: when
/// nothing is waiting before it and the output takes a line at once, that beats waking another thread for
/// every message (two context switches each; at 100 workshop participants the hand-over put latency p50 at
/// 11.5 ms against 6.4), and so are the short bursts of a machine too busy to run the listener at once. A
/// stream of back-to-back messages (a backlog, `streamLength` in a row), or an output that is slow, goes
/// through a bounded queue to a writer thread of our own: the two overlap (reading the socket while
/// rendering and writing), and a slow terminal or pipe fills the queue and then holds Paho, and so the
/// broker, back through TCP instead of filling memory; Paho's thread never waits on the output itself. Lines
/// are written as soon as no further message is waiting, so a pipe or terminal gets each one at once, while
/// a backlog goes out in large writes.
final class MessageSink: Sendable {
    /// Messages between Paho's thread and the writer; enough to ride out a short stall of the output.
    static let queueDepth = 1024
    /// Output held back at most while more messages are waiting.
    static let batchBytes = 64 * 1024

    /// How messages become lines: one topic's payload each (`-t`), or the chat layout's router.
    enum View: Sendable {
        case raw
        case layout(ChatRouter)
    }

    private struct State {
        /// What the listener decides (lines, repeats, the count): owned by whoever holds this lock, Paho's
        /// receive thread or the writer, one at a time and in arrival order (see above for why not one thread).
        var model: ListenerModel
        /// Rendered lines not written yet (while more messages are waiting, or a line too long for Paho's
        /// thread to write waits for the writer).
        var pending: [UInt8] = []
        var check: JoinCheck?
        /// Set once the count is reached, the output has closed, or the listener is stopping.
        var closed = false
    }

    /// The lock is rarely contended (one of two threads shows a message, in order); holding it across the
    /// write keeps `close()` from returning before the output is complete.
    private let state: Mutex<State>
    private let queue = Mutex(Deque())
    /// Queue entries not done yet (taken or not): while there are any, a message must queue behind them.
    private let handedOver = Atomic<Int>(0)
    /// When the last message came from Paho, and how many came right after the one before (only Paho's
    /// receive thread takes this lock).
    private let arrivals = Mutex((last: ContinuousClock.now, streak: 0))
    /// Messages closer together than this follow one another...
    static let chatPace: Duration = .milliseconds(1)
    /// ...and this many of them in a row are a stream (a backlog), not a burst (a saturated machine that
    /// ran the listener late).
    static let streamLength = 32
    /// Free places in the queue, and messages waiting in it.
    private let free = DispatchSemaphore(value: MessageSink.queueDepth)
    private let waiting = DispatchSemaphore(value: 0)
    /// Standard output is a file or `/dev/null`: any write returns at once, so Paho's thread need not ask
    /// (one `poll` less per message) nor leave long lines to the writer.
    private let outputNeverBlocks = Terminal.neverBlocks(1)
    private let stop: StopReason
    /// Set when the listener is stopping: Paho's thread must then never wait for the writer, which may be
    /// stuck writing to an output nobody reads (a paused terminal) while Paho's lock is needed to disconnect.
    private let stopping = Atomic<Bool>(false)
    private let doneContinuation: AsyncStream<Void>.Continuation
    /// Yields once when the sink wants no more messages (count reached, or nobody reads the output).
    let done: AsyncStream<Void>

    /// Called on the writer thread when the layout's snapshot is complete, before any line is shown.
    private let onSynced: (@Sendable (ChatRouter) -> Void)?
    /// Called when the state was read, at start and again after a reconnect (`true`); returns at once.
    private let onStateRead: (@Sendable (ChatRouter, Bool) -> Void)?
    /// Called when members left groups this user owns (live); returns at once.
    private let onMembersLeft: (@Sendable ([GroupID]) -> Void)?

    init(
        view: View,
        renderer: ChatLineRenderer,
        count: Int?,
        stop: StopReason,
        onSynced: (@Sendable (ChatRouter) -> Void)? = nil,
        onStateRead: (@Sendable (ChatRouter, Bool) -> Void)? = nil,
        onMembersLeft: (@Sendable ([GroupID]) -> Void)? = nil
    ) {
        self.onStateRead = onStateRead
        self.onMembersLeft = onMembersLeft
        var router: ChatRouter?
        if case .layout(let layoutRouter) = view { router = layoutRouter }
        state = Mutex(State(model: ListenerModel(router: router, renderer: renderer, count: count)))
        self.onSynced = onSynced
        self.stop = stop
        (done, doneContinuation) = AsyncStream<Void>.makeStream()
        Terminal.startDetachedThread { [self] in
            while true {
                waiting.wait()
                let (entry, more) = queue.withLock { ($0.removeFirst(), !$0.isEmpty) }
                free.signal()
                switch entry {
                case .message(let message):
                    state.withLock { show(message, moreWaiting: more, writeLimit: .max, &$0) }
                case .flush:
                    state.withLock { flush(&$0) }
                }
                handedOver.subtract(1, ordering: .releasing)
            }
        }
    }

    /// Messages shown; readable without the lock, which a writer stuck on its output may hold.
    var received: Int { shown.load(ordering: .relaxed) }
    private let shown = Atomic<Int>(0)

    func watch(_ check: JoinCheck) {
        state.withLock { $0.check = check }
    }

    /// Called on Paho's receive thread. Shows the message there when nothing is queued before it, nobody else
    /// holds the lock and the output takes a line without blocking; otherwise queues it for the writer,
    /// waiting while the queue is full, unless the listener is stopping.
    func show(_ message: MQTTMessage) {
        if stopping.load(ordering: .relaxed) { return }
        let now = ContinuousClock.now
        let streak = arrivals.withLock { arrivals in
            arrivals.streak = now - arrivals.last > Self.chatPace ? 0 : arrivals.streak + 1
            arrivals.last = now
            return arrivals.streak
        }
        // A stream of messages (a backlog) goes to the writer, which overlaps with this thread and writes
        // them in large batches; at a chat's pace, and in the short bursts of a machine too busy to run the
        // listener at once, each one is shown here (a hand-over would wait for the writer to be run too).
        if streak < Self.streamLength, handedOver.load(ordering: .acquiring) == 0,
            outputNeverBlocks || Terminal.canWrite(1),
            let leftForWriter = state.withLockIfAvailable({ state in
                show(
                    message,
                    moreWaiting: false,
                    writeLimit: outputNeverBlocks ? .max : Terminal.writableAtOnce,
                    &state
                )
                return !state.pending.isEmpty
            })
        {
            // A line longer than a write that cannot block is the writer's to write.
            if leftForWriter { hand(.flush) }
            return
        }
        hand(.message(message))
    }

    private func hand(_ entry: Deque.Entry) {
        repeat {
            if stopping.load(ordering: .relaxed) { return }
        } while free.wait(timeout: .now() + .milliseconds(100)) == .timedOut
        handedOver.add(1, ordering: .relaxed)
        queue.withLock { $0.append(entry) }
        waiting.signal()
    }

    private func show(_ message: MQTTMessage, moreWaiting: Bool, writeLimit: Int, _ state: inout State) {
        guard !state.closed else { return }
        state.check?.noteArrival(of: message)
        take(state.model.receive(message), moreWaiting: moreWaiting, writeLimit: writeLimit, &state)
    }

    /// Changes the router on the writer's lock (verification result, end of the snapshot); shows its lines.
    func updateRouter(_ change: (inout ChatRouter) -> (lines: [ChatLine], actions: [ChatRouter.Action])) {
        state.withLock { state in
            guard !state.closed else { return }
            take(state.model.update(change), moreWaiting: false, writeLimit: .max, &state)
        }
    }

    /// Acts on what the model gave out: the router's actions, then its lines, written unless more messages
    /// are waiting, and only if they fit in `writeLimit` bytes (else left pending).
    private func take(_ output: ListenerModel.Output, moreWaiting: Bool, writeLimit: Int, _ state: inout State) {
        if let router = state.model.router, !output.actions.isEmpty {
            if output.actions.contains(.synced) { onSynced?(router) }
            if output.actions.contains(.synced) || output.actions.contains(.resynced) {
                onStateRead?(router, output.actions.contains(.resynced))
            }
            let left = output.actions.compactMap { action -> GroupID? in
                guard case .membersLeft(let group) = action else { return nil }
                return group
            }
            if !left.isEmpty { onMembersLeft?(left) }
        }
        state.pending += output.bytes
        if output.chatLines > 0 { shown.add(output.chatLines, ordering: .relaxed) }
        if state.model.finished { state.closed = true }
        if (!moreWaiting || state.closed || state.pending.count >= Self.batchBytes)
            && state.pending.count <= writeLimit
        {
            flush(&state)
        }
        if state.closed { finish() }
    }

    /// Writes what is pending; a reader gone away (`listener | head -1`) is a normal way to stop.
    private func flush(_ state: inout State) {
        guard !state.pending.isEmpty else { return }
        let written = Terminal.writeAll(state.pending, to: 1)
        state.pending.removeAll(keepingCapacity: true)
        if !written {
            stop.set(.outputClosed)
            close(&state)
        }
    }

    /// Stops taking messages from Paho without waiting for the writer (call before disconnecting).
    func stopTaking() {
        stopping.store(true, ordering: .relaxed)
    }

    /// Writes what is pending and shows nothing more; returns once the output is complete, or after
    /// `limit` if the output does not take it (nobody reads it), so the listener can still exit.
    func close(within limit: Duration = .seconds(2)) {
        stopTaking()
        let closed = DispatchSemaphore(value: 0)
        Terminal.startDetachedThread { [self] in
            state.withLock { close(&$0) }
            closed.signal()
        }
        _ = closed.wait(timeout: .after(limit))
    }

    /// Writes what is pending (also what a closed sink still holds) and shows nothing more.
    private func close(_ state: inout State) {
        flush(&state)
        guard !state.closed else { return }
        state.closed = true
        finish()
    }

    private func finish() {
        doneContinuation.yield()
        doneContinuation.finish()
    }
}

/// A first-in first-out queue without the O(n) `removeFirst` of an array.
private struct Deque: ~Copyable {
    /// A message to show, or lines Paho's thread rendered but left to the writer to write.
    enum Entry {
        case message(MQTTMessage)
        case flush
    }

    private var items: [Entry?] = []
    private var head = 0

    var isEmpty: Bool { head == items.count }

    mutating func append(_ entry: Entry) {
        items.append(entry)
    }

    mutating func removeFirst() -> Entry {
        let message = items[head].take()!
        head += 1
        if head == items.count {
            items.removeAll(keepingCapacity: true)
            head = 0
        } else if head >= 4096 && head * 2 >= items.count {
            items.removeFirst(head)
            head = 0
        }
        return message
    }
}
