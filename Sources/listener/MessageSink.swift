import ChatCLI
import ChatProtocol
import Dispatch
import Synchronization

/// Shows each message as it arrives. Paho's receive thread hands messages over through a bounded queue to a
/// writer thread of our own: the two overlap (reading the socket while rendering and writing), no task switch
/// is paid per message, and a slow terminal or pipe fills the queue and then holds Paho, and so the broker,
/// back through TCP instead of filling memory. Lines are written as soon as no further message is waiting,
/// so a pipe or terminal gets each one at once, while a backlog goes out in large writes.
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
        var view: View
        /// Rendered lines not written yet (only while more messages are waiting).
        var pending: [UInt8] = []
        var repeats = RepeatFilter()
        var check: JoinCheck?
        /// Set once the count is reached, the output has closed, or the listener is stopping.
        var closed = false
    }

    /// Only the writer thread shows messages, so the lock is rarely contended; holding it across the write
    /// keeps `close()` from returning before the output is complete.
    private let state: Mutex<State>
    private let queue = Mutex(Deque())
    /// Free places in the queue, and messages waiting in it.
    private let free = DispatchSemaphore(value: MessageSink.queueDepth)
    private let waiting = DispatchSemaphore(value: 0)
    private let renderer: ChatLineRenderer
    private let count: Int?
    private let stop: StopReason
    /// Set when the listener is stopping: Paho's thread must then never wait for the writer, which may be
    /// stuck writing to an output nobody reads (a paused terminal) while Paho's lock is needed to disconnect.
    private let stopping = Atomic<Bool>(false)
    private let doneContinuation: AsyncStream<Void>.Continuation
    /// What the router asks for (rooms to follow or leave), in order; run by the listener, off this thread.
    private let actionsContinuation: AsyncStream<ChatRouter.Action>.Continuation
    let actions: AsyncStream<ChatRouter.Action>
    /// Yields once when the sink wants no more messages (count reached, or nobody reads the output).
    let done: AsyncStream<Void>

    /// Called on the writer thread when the layout's snapshot is complete, before any line is shown.
    private let onSynced: (@Sendable (ChatRouter) -> Void)?

    init(
        view: View,
        renderer: ChatLineRenderer,
        count: Int?,
        stop: StopReason,
        onSynced: (@Sendable (ChatRouter) -> Void)? = nil
    ) {
        state = Mutex(State(view: view))
        self.onSynced = onSynced
        self.renderer = renderer
        self.count = count
        self.stop = stop
        (done, doneContinuation) = AsyncStream<Void>.makeStream()
        (actions, actionsContinuation) = AsyncStream<ChatRouter.Action>.makeStream()
        Terminal.startDetachedThread { [self] in
            while true {
                waiting.wait()
                let (message, more) = queue.withLock { ($0.removeFirst(), !$0.isEmpty) }
                free.signal()
                show(message, moreWaiting: more)
            }
        }
    }

    /// Messages shown; readable without the lock, which a writer stuck on its output may hold.
    var received: Int { shown.load(ordering: .relaxed) }
    private let shown = Atomic<Int>(0)

    func watch(_ check: JoinCheck) {
        state.withLock { $0.check = check }
    }

    /// Called on Paho's receive thread; waits while the queue is full, unless the listener is stopping.
    func show(_ message: MQTTMessage) {
        repeat {
            if stopping.load(ordering: .relaxed) { return }
        } while free.wait(timeout: .now() + .milliseconds(100)) == .timedOut
        queue.withLock { $0.append(message) }
        waiting.signal()
    }

    private func show(_ message: MQTTMessage, moreWaiting: Bool) {
        state.withLock { state in
            guard !state.closed, !state.repeats.isRepeat(message) else { return }
            state.check?.noteArrival(of: message)
            switch state.view {
            case .raw:
                take([ChatLine(message)], moreWaiting: moreWaiting, &state)
            case .layout(var router):
                state.view = .raw  // holds no second reference, so the router's storage is not copied
                let (lines, actions) = router.route(message)
                state.view = .layout(router)
                if actions.contains(.synced) { onSynced?(router) }
                actions.forEach { actionsContinuation.yield($0) }
                take(lines, moreWaiting: moreWaiting, &state)
            }
        }
    }

    /// Changes the router on the writer's lock (verification result, end of the snapshot); shows its lines.
    func updateRouter(_ change: (inout ChatRouter) -> (lines: [ChatLine], actions: [ChatRouter.Action])) {
        state.withLock { state in
            guard !state.closed, case .layout(var router) = state.view else { return }
            state.view = .raw
            let (lines, actions) = change(&router)
            state.view = .layout(router)
            if actions.contains(.synced) { onSynced?(router) }
            actions.forEach { actionsContinuation.yield($0) }
            take(lines, moreWaiting: false, &state)
        }
    }

    /// Renders lines; chat lines count towards `-C`, notices the listener makes up from state do not.
    private func take(_ lines: [ChatLine], moreWaiting: Bool, _ state: inout State) {
        for line in lines {
            state.pending += renderer.render(line, received: .now())
            if case .event = line.body { continue }
            let received = shown.add(1, ordering: .relaxed).newValue
            if let count, received >= count {
                close(&state)
                return
            }
        }
        if !moreWaiting || state.pending.count >= Self.batchBytes {
            flush(&state)
        }
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

    private func close(_ state: inout State) {
        guard !state.closed else { return }
        state.closed = true
        flush(&state)
        doneContinuation.yield()
        doneContinuation.finish()
        actionsContinuation.finish()
    }
}

/// A first-in first-out queue without the O(n) `removeFirst` of an array.
private struct Deque: ~Copyable {
    private var items: [MQTTMessage?] = []
    private var head = 0

    var isEmpty: Bool { head == items.count }

    mutating func append(_ message: MQTTMessage) {
        items.append(message)
    }

    mutating func removeFirst() -> MQTTMessage {
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
