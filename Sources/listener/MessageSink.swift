import ChatCLI
import ChatProtocol
import Dispatch
import Synchronization

/// Shows each message as it arrives. Paho's receive thread hands messages over through a bounded queue to a
/// writer thread of our own: the two overlap (reading the socket while rendering and writing), no task switch
/// is paid per message, and a slow terminal or pipe fills the queue and then holds Paho, and so the broker,
/// back through TCP instead of filling memory.
final class MessageSink: Sendable {
    /// Messages between Paho's thread and the writer; enough to ride out a short stall of the output.
    static let queueDepth = 1024
    private struct State {
        var received = 0
        var repeats = RepeatFilter()
        var check: JoinCheck?
        /// Set once the count is reached, the output has closed, or the listener is stopping.
        var closed = false
    }

    /// Only the writer thread shows messages, so the lock is rarely contended; holding it across the write
    /// keeps `close()` from returning while a line is half written.
    private let state = Mutex(State())
    private let queue = Mutex(Deque())
    /// Free places in the queue, and messages waiting in it.
    private let free = DispatchSemaphore(value: MessageSink.queueDepth)
    private let waiting = DispatchSemaphore(value: 0)
    private let renderer: ChatLineRenderer
    private let count: Int?
    private let stop: StopReason
    private let doneContinuation: AsyncStream<Void>.Continuation
    /// Yields once when the sink wants no more messages (count reached, or nobody reads the output).
    let done: AsyncStream<Void>

    init(renderer: ChatLineRenderer, count: Int?, stop: StopReason) {
        self.renderer = renderer
        self.count = count
        self.stop = stop
        (done, doneContinuation) = AsyncStream<Void>.makeStream()
        Terminal.startDetachedThread { [self] in
            while true {
                waiting.wait()
                let message = queue.withLock { $0.removeFirst() }
                free.signal()
                write(message)
            }
        }
    }

    var received: Int { state.withLock { $0.received } }

    func watch(_ check: JoinCheck) {
        state.withLock { $0.check = check }
    }

    /// Called on Paho's receive thread; waits while the queue is full.
    func show(_ message: MQTTMessage) {
        free.wait()
        queue.withLock { $0.append(message) }
        waiting.signal()
    }

    private func write(_ message: MQTTMessage) {
        state.withLock { state in
            guard !state.closed, !state.repeats.isRepeat(message) else { return }
            state.check?.noteArrival(of: message)
            guard Terminal.writeAll(renderer.render(message, received: .now()), to: 1) else {
                // The reader went away (`listener | head -1`): that is a normal way to stop.
                stop.set(.outputClosed)
                close(&state)
                return
            }
            state.received += 1
            if let count, state.received >= count { close(&state) }
        }
    }

    /// Shows nothing more; returns once a line being written is complete.
    func close() {
        state.withLock { close(&$0) }
    }

    private func close(_ state: inout State) {
        guard !state.closed else { return }
        state.closed = true
        doneContinuation.yield()
        doneContinuation.finish()
    }
}

/// A first-in first-out queue without the O(n) `removeFirst` of an array.
private struct Deque: ~Copyable {
    private var items: [MQTTMessage?] = []
    private var head = 0

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
