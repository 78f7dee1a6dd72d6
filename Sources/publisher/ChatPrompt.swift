import ChatCLI
import ChatProtocol
import MQTTPaho

#if canImport(Glibc)
    import Glibc
#endif

/// The interactive prompt over the chat layout: lines go to the current room (or person, or group), `/commands`
/// act. The commands are the chat commands (`ChatOperations`), the same checks and publishes as the one-shot
/// ones. While it runs the user is online (a retained presence message the connection's will clears), and
/// the room it talks in is shared with the user's listeners as their focus.
struct ChatPrompt {
    let client: any MQTTTransport
    let layout: ChatLayout
    let me: String
    /// The client's message handler: the broker's state, for the commands that read it.
    let watcher: DirectoryWatcher
    /// Where plain lines go.
    var place: ChatPlace
    /// Seals private messages and invitations (nil: plaintext).
    var endToEnd: EndToEndSending?

    init(client: any MQTTTransport, watcher: DirectoryWatcher, me: String, place: ChatPlace) {
        self.client = client
        self.watcher = watcher
        self.layout = watcher.layout
        self.me = me
        self.place = place
    }

    var actions: ChatActions { ChatActions(client: client, layout: layout, me: me, endToEnd: endToEnd) }

    mutating func run(_ publisher: LinePublisher, patience: Duration) async {
        let presence = Presence(client: client, layout: layout, me: me, tool: "publisher")
        var renewal: Task<Void, Never>?
        defer { renewal?.cancel() }
        do {
            try await watcher.start(client, me: me)
            try await presence.announce()
            renewal = presence.renewing()
            if case .room(let room) = place { try await actions.perform([layout.focusPublish(of: me, room: room)]) }
        } catch {
            complain(error)
        }
        let configuration = client.configuration
        let watcher = watcher
        let input = PromptInput(
            history: PromptHistory(user: me, host: configuration.host, port: configuration.port),
            complete: { before in PromptCompletion.complete(before, directory: watcher.directory) }
        )
        defer { input.close() }
        while true {
            guard let text = await input.next(prompt: "\(me) \(place)> ") else { break }
            if text == "exit" || text == "/quit" { break }
            if text.isEmpty { continue }
            if text.hasPrefix("/") && !text.hasPrefix("//") {
                await command(text.dropFirst())
                continue
            }
            let body = text.hasPrefix("//") ? String(text.dropFirst()) : text
            do {
                switch place {
                case .group, .user:
                    try await actions.perform(layout.publishes(.message(from: me, body, time: .now()), to: place))
                case .room(let room):
                    guard await publisher.send(body, to: layout.room(room, sender: me), patience: patience) else {
                        presence.withdraw()
                        return
                    }
                }
            } catch {
                complain(error)
            }
        }
        presence.withdraw()
    }

    /// `/WORDS ARGUMENTS`: the chat command the words name, with the same checks and publishes as the one-shot.
    private mutating func command(_ line: Substring) async {
        if line.split(separator: " ").first == "help" { return say(ChatOperation.promptHelp) }
        guard let (operation, given) = ChatOperations.promptCommand(line) else {
            let word = TerminalText.sanitize(String(line.split(separator: " ").first ?? ""), limit: 40)
            if let heading = ChatOperations.headings.first(where: { $0.word == word }) {
                let verbs = ChatOperations.all.filter { $0.words.first == heading.word }.map { $0.words[1] }
                return complainText("/\(word) needs a subcommand: \(verbs.joined(separator: ", ")) (type /help)")
            }
            return complainText("unknown command /\(word) (type /help; //text sends /text)")
        }
        do {
            let values = try operation.values(given, place: place)
            let input = ChatOperation.Input(
                layout: layout,
                me: me,
                values: values,
                directory: operation.readsDirectory ? await watcher.snapshot() : nil,
                place: place,
                time: .now(),
                requestID: ChatState.newRequestID()
            )
            let outcome = try operation.perform(input)
            if let note = outcome.note { complainText(note) }
            if let request = outcome.keys, let directory = input.directory as ChatDirectory? {
                try await EndToEnd.perform(request, actions: actions, directory: directory)
            }
            try await actions.perform(outcome.publishes)
            if let next = outcome.place { place = next }
            if let output = outcome.output { say(output) }
        } catch {
            complain(error)
        }
    }

    private func say(_ text: String) {
        Terminal.show(Array(text.utf8), on: 1)
    }

    private func complain(_ error: MQTTError) {
        complainText(error.message)
    }

    private func complainText(_ text: String) {
        report("publisher", text)
    }
}
