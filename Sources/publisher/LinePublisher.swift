import ChatCLI
import ChatProtocol
import DequeModule
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
///
/// At QoS 0 a slot frees as soon as Paho has written the message, on Paho's send thread. There the reader
/// queues what it reads (a window's worth at most) and whoever frees a slot sends the next message: Paho's
/// send thread, from its own callback, so the reader no longer contends with it for Paho's locks. At QoS 1
/// and 2 the same measured slower (each acknowledgement then wakes Paho's send thread for one message); they
/// keep the bursts (docs/performance.md).
final class LinePublisher: Sendable {
    /// What a waiting reader is to be woken for.
    private enum ReaderWait {
        case none
        /// The first acknowledgement.
        case firstSlot
        /// A quarter of the window free, after the first acknowledgement woke it.
        case refill
        /// Room in the queue (QoS 0): half of it.
        case room
    }
    /// A message read and encoded, to be published.
    private struct Outgoing: Sendable {
        let topic: String
        let payload: [UInt8]
    }
    private struct Window {
        var free: Int
        var reader = ReaderWait.none
        /// QoS 0: messages waiting for a slot, oldest first; at most `capacity`. Each is reserved with the
        /// client (`MQTTClient.reservePublish`), so flushes and Ctrl-C count it.
        var queue = Deque<Outgoing>()
        /// Someone is sending from `queue` (`pump`); a thread that finds this set leaves the work to them.
        var pumping = false
        /// `finish` gave up: nothing more is sent.
        var closed = false
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
    /// The queue's length at most (QoS 0): the window's size.
    private let capacity: Int
    /// Whether lines go through the queue: QoS 0.
    private var queues: Bool { qos == .atMostOnce }
    private let wake = DispatchSemaphore(value: 0)
    /// Seals each message end to end (`EndToEnd.sealer`); nil: plaintext.
    private let seal: (@Sendable (ChatMessage) -> [UInt8])?
    /// The first refusal (for example the ACL saying no); it stops the stream.
    private let firstFailure = Mutex<MQTTError?>(nil)

    init(
        client: MQTTClient,
        topic: String,
        qos: MQTTQoS,
        retain: Bool,
        from: String,
        window: Int,
        seal: (@Sendable (ChatMessage) -> [UInt8])? = nil
    ) {
        self.seal = seal
        self.client = client
        self.topic = topic
        self.qos = qos
        self.retain = retain
        self.from = from
        self.window = Mutex(Window(free: max(window, 1)))
        refill = max(1, window / 4)
        capacity = max(window, 1)
    }

    /// The window for a connection: under the broker's receive maximum and never more than `cap`. QoS 0
    /// is held to it too although the broker does not count it: a window of 1,000 measured slower here
    /// (40k against 67k msg/s with 100; Paho keeps its command queue in a list).
    static func window(for result: MQTTConnectResult?, cap: Int) -> Int {
        max(1, min(result?.receiveMaximum ?? 20, cap))
    }

    var failure: MQTTError? { firstFailure.withLock { $0 } }

    /// Sends one chat message (or notice), to the publisher's topic unless another is given. Waits for a free
    /// slot (QoS 0: room in the queue) for at most `patience`; false when the window stayed full that long (the
    /// broker is not acknowledging, or not reading) or an earlier publish was refused.
    func send(_ text: String, kind: ChatMessage.Kind = .message, to topic: String? = nil, patience: Duration) -> Bool {
        guard failure == nil else { return false }
        let message = outgoing(text, kind: kind, to: topic)
        return queues ? enqueue(message, patience: patience) : publishInSlot(message, patience: patience)
    }

    /// `send` for async callers (the prompt, `-m`): a free slot (or room in the queue) is taken at once; a
    /// full window is waited out on a thread of our own, never on Swift's cooperative threads.
    func send(
        _ text: String,
        kind: ChatMessage.Kind = .message,
        to topic: String? = nil,
        patience: Duration
    ) async -> Bool {
        if failure == nil {
            let message = outgoing(text, kind: kind, to: topic)
            if queues, enqueue(message, patience: nil) { return true }
            if !queues, takeSlot(orNoteWaiting: false) {
                publish(message)
                return true
            }
        }
        return await Terminal.onOwnThread { self.send(text, kind: kind, to: topic, patience: patience) }
    }

    /// The chat message for a line, encoded: sealed end to end when going to the publisher's own private topic
    /// and its recipient has keys.
    private func outgoing(_ text: String, kind: ChatMessage.Kind, to topic: String?) -> Outgoing {
        let message = ChatMessage(kind: kind, from: from, text: text, time: .now())
        let payload = topic == nil ? seal?(message) ?? message.encoded() : message.encoded()
        return Outgoing(topic: topic ?? self.topic, payload: payload)
    }

    /// QoS 1 and 2: waits for a free slot and publishes in it.
    private func publishInSlot(_ message: Outgoing, patience: Duration) -> Bool {
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
        publish(message)
        return true
    }

    /// QoS 0: queues the message, waiting for room for at most `patience` (nil: not at all), and sends what
    /// free slots allow.
    private func enqueue(_ message: Outgoing, patience: Duration?) -> Bool {
        let deadline = patience.map { DispatchTime.after($0) }
        // Reserved before anyone can take it from the queue, and so finish its reservation.
        client.reservePublish()
        while true {
            let queued = window.withLock { window in
                guard window.queue.count < capacity, !window.closed else {
                    if deadline != nil { window.reader = .room }
                    return false
                }
                window.queue.append(message)
                return true
            }
            if queued { break }
            guard let deadline else {
                client.endReservation()
                return false
            }
            guard failure == nil, wake.wait(timeout: deadline) == .success, failure == nil else {
                window.withLock { $0.reader = .none }
                client.endReservation()
                return false
            }
        }
        pump(fromCallback: false)
        return true
    }

    /// Publishes in a slot already taken; the slot is freed when the broker has answered (QoS 0: Paho has
    /// written it).
    private func publish(_ message: Outgoing, fromCallback: Bool = false) {
        client.startPublish(
            topic: message.topic,
            payload: message.payload,
            qos: qos,
            retain: retain,
            fromCallback: fromCallback
        ) { result in
            if case .failure(let error) = result {
                self.firstFailure.withLock { if $0 == nil { $0 = error } }
            }
            if self.queues {
                self.window.withLock { $0.free += 1 }
                self.pump(fromCallback: true)
            } else {
                self.releaseSlot()
            }
        }
    }

    /// QoS 0: sends queued messages while slots are free. One thread at a time, so they keep their order:
    /// another that finds it under way returns, and the one at it looks again after each message.
    private func pump(fromCallback: Bool) {
        let first = window.withLock { window in
            guard !window.pumping else { return false }
            window.pumping = true
            return true
        }
        guard first else { return }
        while true {
            let (next, closed) = nextFromQueue()
            guard let message = next else {
                // `finish` gave up while the last one was being started, perhaps before abandoning the others.
                if closed { client.abandonPublishes(Self.notAcknowledged) }
                return
            }
            publish(message, fromCallback: fromCallback)
            client.endReservation()
        }
    }

    /// The next queued message, taking a slot for it; nil (and the pump ends) when no slot or message is left,
    /// with whether `finish` closed the queue. After a failure the queue is dropped and the reader woken, to stop.
    private func nextFromQueue() -> (message: Outgoing?, closed: Bool) {
        let failed = failure != nil
        let (message, closed, dropped, wakeReader) = window.withLock { window -> (Outgoing?, Bool, Int, Bool) in
            var dropped = 0
            if failed {
                dropped = window.queue.count
                window.queue.removeAll()
            }
            let message = window.free > 0 && !window.closed ? window.queue.popFirst() : nil
            if message == nil {
                window.pumping = false
            } else {
                window.free -= 1
            }
            let wakeReader = window.reader == .room && window.queue.count <= capacity / 2
            if wakeReader { window.reader = .none }
            return (message, window.closed, dropped, wakeReader)
        }
        for _ in 0..<dropped { client.endReservation() }
        if wakeReader { wake.signal() }
        return (message, closed)
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
            case .none, .refill, .room:
                return false
            }
        }
        if wakeReader { wake.signal() }
    }

    private static let notAcknowledged = MQTTError(.timedOut, "Not acknowledged in time.")

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
            // Nothing queued goes out any more (`pump` settles one it was starting), and settling the rest
            // releases the waiter above, so the group can end.
            let dropped = window.withLock { window in
                window.closed = true
                defer { window.queue.removeAll() }
                return window.queue.count
            }
            for _ in 0..<dropped { client.endReservation() }
            return dropped + client.abandonPublishes(Self.notAcknowledged)
        }
    }
}
