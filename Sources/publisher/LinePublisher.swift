import ChatCLI
import ChatProtocol
import Dispatch
import MQTTPaho
import Synchronization

/// Publishes a stream of chat lines with a bounded number unacknowledged.
///
/// The window keeps outstanding QoS>0 publishes below the broker's Receive Maximum (Paho 1.3.12's send
/// thread sleeps up to 1 s when it is full) and far below 65,535 packet ids, so a million lines go through
/// without loss. It also gives backpressure: when the broker is away, reading stops once the window is
/// full and resumes as acknowledgements come back. No task or continuation per line: the caller's thread
/// blocks on a semaphore, and Paho's callback frees a slot.
///
/// A full window is refilled in bursts: the reader is woken once a quarter of the window is free, not on
/// every acknowledgement. Waking it per ack had it contend for Paho's lock with the very thread delivering
/// the acks, one context switch each way per message. But it never waits long for a quarter: the first
/// acknowledgement wakes it, and it sends what is free after `burstGrace` at the latest. A broker that leaves
/// Nagle's algorithm on (mosquitto without `set_tcp_nodelay`, its default) sends one acknowledgement
/// and holds the rest until our next packet or our delayed ACK, 40 ms later; waiting silently for a quarter
/// made the publisher idle most of its time (docs/performance.md, issue 25).
final class LinePublisher: Sendable {
    /// What a waiting reader is to be woken for.
    private enum ReaderWait {
        case none
        /// The first acknowledgement.
        case firstSlot
        /// A quarter of the window free, after the first acknowledgement woke it.
        case refill
    }
    private struct Window {
        var free: Int
        var reader = ReaderWait.none
    }
    /// How long a reader woken by one acknowledgement waits for the rest of a burst: far shorter than the
    /// shortest delayed ACK (40 ms on Linux), far longer than a burst of acks takes to be read (microseconds).
    static let burstGrace = Duration.milliseconds(1)
    private let client: MQTTClient
    private let topic: String
    private let qos: MQTTQoS
    private let retain: Bool
    private let from: String
    private let window: Mutex<Window>
    /// Free slots at which a waiting reader is woken.
    private let refill: Int
    private let wake = DispatchSemaphore(value: 0)
    /// The first refusal (for example the ACL saying no); it stops the stream.
    private let firstFailure = Mutex<MQTTError?>(nil)

    init(client: MQTTClient, topic: String, qos: MQTTQoS, retain: Bool, from: String, window: Int) {
        self.client = client
        self.topic = topic
        self.qos = qos
        self.retain = retain
        self.from = from
        self.window = Mutex(Window(free: max(window, 1)))
        refill = max(1, window / 4)
    }

    /// The window for a connection: under the broker's receive maximum and never more than `cap`. QoS 0
    /// is held to it too although the broker does not count it: a window of 1,000 measured slower here
    /// (40k against 67k msg/s with 100; Paho keeps its command queue in a list).
    static func window(for result: MQTTConnectResult?, cap: Int) -> Int {
        max(1, min(result?.receiveMaximum ?? 20, cap))
    }

    var failure: MQTTError? { firstFailure.withLock { $0 } }

    /// Sends one chat message (or notice), to the publisher's topic unless another is given. Waits for a free slot for at most `patience`; false when the
    /// window stayed full that long (the broker is not acknowledging) or an earlier publish was refused.
    func send(_ text: String, kind: ChatMessage.Kind = .message, to topic: String? = nil, patience: Duration) -> Bool {
        guard failure == nil else { return false }
        let deadline = DispatchTime.after(patience)
        while !takeSlot() {
            guard wake.wait(timeout: deadline) == .success else {
                // A wake-up signalled just as time ran out stays in the semaphore; the loop above treats such
                // a spurious wake-up as "look again".
                window.withLock { $0.reader = .none }
                return false
            }
            // Woken by the first acknowledgement: the rest of its burst, up to a quarter, for `burstGrace`.
            if window.withLock({ $0.reader == .refill }) {
                _ = wake.wait(timeout: min(deadline, DispatchTime.after(Self.burstGrace)))
                window.withLock { $0.reader = .none }
            }
        }
        publish(text, kind: kind, to: topic)
        return true
    }

    /// `send` for async callers (the prompt, `-m`): a free slot is taken at once; a full window is waited
    /// out on a thread of our own, never on Swift's cooperative threads.
    func send(
        _ text: String,
        kind: ChatMessage.Kind = .message,
        to topic: String? = nil,
        patience: Duration
    ) async -> Bool {
        guard failure == nil, takeSlot(orNoteWaiting: false) else {
            return await Terminal.onOwnThread { self.send(text, kind: kind, to: topic, patience: patience) }
        }
        publish(text, kind: kind, to: topic)
        return true
    }

    /// Publishes in a slot already taken; the slot is freed when the broker has answered.
    private func publish(_ text: String, kind: ChatMessage.Kind, to topic: String?) {
        let payload = ChatMessage(kind: kind, from: from, text: text, time: .now()).encoded()
        client.startPublish(topic: topic ?? self.topic, payload: payload, qos: qos, retain: retain) { result in
            if case .failure(let error) = result {
                self.firstFailure.withLock { if $0 == nil { $0 = error } }
            }
            self.releaseSlot()
        }
    }

    /// Takes a free slot, or (unless told not to) notes that the reader is about to wait for some.
    private func takeSlot(orNoteWaiting noteWaiting: Bool = true) -> Bool {
        window.withLock { window in
            if window.free > 0 {
                window.free -= 1
                return true
            }
            if noteWaiting { window.reader = .firstSlot }
            return false
        }
    }

    /// Called from Paho's callback: frees a slot, and wakes a waiting reader at the first free slot and again
    /// once enough are free.
    private func releaseSlot() {
        let wakeReader = window.withLock { window in
            window.free += 1
            switch window.reader {
            case .firstSlot:
                window.reader = window.free >= refill ? .none : .refill
                return true
            case .refill where window.free >= refill:
                window.reader = .none
                return true
            case .none, .refill:
                return false
            }
        }
        if wakeReader { wake.signal() }
    }

    /// Waits until every message sent has its outcome, for at most `patience`. Returns how many are still
    /// unacknowledged (and abandons them) when time runs out.
    func finish(patience: Duration) async -> Int {
        await withTaskGroup(of: Bool.self) { group in
            group.addTask { [client] in
                await client.waitForPublishes()
                return true
            }
            group.addTask {
                try? await Task.sleep(for: patience)
                return false
            }
            if await group.next() == true {
                group.cancelAll()
                return 0
            }
            // Settling them also releases the waiter above, so the group can end.
            return client.abandonPublishes(MQTTError(.timedOut, "Not acknowledged in time."))
        }
    }
}
