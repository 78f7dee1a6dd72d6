/// Everything the listener decides, apart from its output: which messages become which lines (the chat
/// layout's router, or one line per message on raw topics), repeats dropped, the `-C` count. It takes
/// messages in and gives rendered bytes and the router's actions out; the caller owns one model and writes
/// the bytes. Pure: no threads, no I/O, so it is unit-tested without a broker or a terminal.
public struct ListenerModel: Sendable {
    /// The layout's router; nil on raw topics (`-t`).
    public private(set) var router: ChatRouter?
    private var repeats = RepeatFilter()
    private let renderer: ChatLineRenderer
    private let count: Int?
    /// Chat lines shown (notices made up from state do not count).
    public private(set) var shown = 0
    /// The count is reached: nothing more is shown.
    public private(set) var finished = false

    /// What one step gives out.
    public struct Output: Sendable {
        /// Rendered lines, newlines included.
        public var bytes: [UInt8] = []
        /// What the router asks for (its snapshot is complete, or read again).
        public var actions: [ChatRouter.Action] = []
        /// Chat lines among them.
        public var chatLines = 0
    }

    public init(router: ChatRouter?, renderer: ChatLineRenderer, count: Int?) {
        self.router = router
        self.renderer = renderer
        self.count = count
    }

    /// One message from the broker, received at `now`.
    public mutating func receive(_ message: MQTTMessage, now: ChatTimestamp = .now()) -> Output {
        guard !finished, !repeats.isRepeat(message) else { return Output() }
        guard router != nil else { return take([ChatLine(message)], [], now: now) }
        let (lines, actions) = router!.route(message, now: now)
        return take(lines, actions, now: now)
    }

    /// A change to the router that no message brought (the verification result, the snapshot's patience
    /// running out, presences lapsing, a reconnect).
    public mutating func update(
        now: ChatTimestamp = .now(),
        _ change: (inout ChatRouter) -> (lines: [ChatLine], actions: [ChatRouter.Action])
    ) -> Output {
        guard !finished, router != nil else { return Output() }
        let (lines, actions) = change(&router!)
        return take(lines, actions, now: now)
    }

    private mutating func take(_ lines: [ChatLine], _ actions: [ChatRouter.Action], now: ChatTimestamp) -> Output {
        var output = Output(actions: actions)
        for line in lines {
            output.bytes += renderer.render(line, received: now)
            if case .event = line.body { continue }
            shown += 1
            output.chatLines += 1
            if let count, shown >= count {
                finished = true
                break
            }
        }
        return output
    }
}
