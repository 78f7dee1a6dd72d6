import ChatProtocol

// The chat commands (`ChatOperations`) as the publisher's one-shot subcommands and its prompt's `/help`.

extension CommandNode {
    /// The publisher's chat commands in the table's order, those under one word (`group create`...) in a node of
    /// their own. A command that only reports (`who`) is the query both tools share, with its `--format`.
    public static func chatCommands() -> [CommandNode] {
        let queries = [
            CommandNode(RoomsCommand.self), CommandNode(WhoCommand.self), CommandNode(GroupsCommand.self),
            CommandNode(KeysCommand.self),
        ]
        var nodes: [CommandNode] = []
        var grouped: [String: [CommandNode]] = [:]
        for operation in ChatOperations.all where !operation.promptOnly {
            let node =
                queries.first { [$0.spec.name] == operation.words }
                ?? CommandNode(spec: operation.spec()) { (arguments) throws(ValidationError) in
                    try OperationCommand(operation, &arguments)
                }
            guard operation.words.count == 2 else {
                nodes.append(node)
                continue
            }
            let word = operation.words[0]
            // The grouping node goes where its first command is; it gets its commands below.
            if grouped[word] == nil { nodes.append(CommandNode(grouping: CommandSpec(word, abstract: ""))) }
            grouped[word, default: []].append(node)
        }
        return nodes.map { node in
            guard let commands = grouped[node.spec.name],
                let heading = ChatOperations.headings.first(where: { $0.word == node.spec.name })
            else { return node }
            let spec = CommandSpec(
                heading.word,
                abstract: heading.abstract,
                discussion: heading.discussion,
                subcommands: commands
            )
            return CommandNode(grouping: spec)
        }
    }
}

extension ChatOperation {
    /// The one-shot command's declaration: its last word, its help, its arguments, `options`, the connection
    /// options.
    func spec(options: [OptionSpec] = []) -> CommandSpec {
        CommandSpec.connecting(
            words[words.count - 1],
            abstract: abstract,
            options: options,
            arguments: arguments.map(ArgumentSpec.init)
        )
    }

    /// The prompt's `/help`: every command with its arguments and help, then the prompt's own words.
    public static var promptHelp: String {
        var text = ChatOperations.all.map { HelpText.entry($0.promptUsage, $0.abstract) }.joined()
        text += HelpText.entry("/help", "This list.")
        text += HelpText.entry("/quit", "Leave (exit works too); //text sends \"/text\".")
        return text
    }
}

extension ArgumentSpec {
    /// A chat command's argument as the command line declares it (all but an optional one are required there).
    init(_ argument: ChatOperation.Argument) {
        self.init(argument.name, optional: argument.optional, help: argument.help)
    }
}

/// A chat command run once from the command line: connects (reading the broker's state first if its checks
/// need it), decides, publishes, exits 0; a refusal is one line and its exit code.
struct OperationCommand: RunnableCommand {
    let operation: ChatOperation
    let given: [String]
    let connection: ConnectionOptions

    init(_ operation: ChatOperation, _ arguments: inout ParsedArguments) throws(ValidationError) {
        self.operation = operation
        given = operation.arguments.compactMap { _ in arguments.argument() }
        connection = try ConnectionOptions(arguments)
    }

    func validate() throws(ValidationError) {
        try connection.validateLayoutUser()
        do { _ = try operation.values(given, place: nil) } catch { throw ValidationError(error.message) }
    }

    func run() async throws {
        let values = try operation.values(given, place: nil)
        let operation = operation
        func perform(_ actions: ChatActions, _ directory: ChatDirectory?) async throws(MQTTError) {
            let input = ChatOperation.Input(
                layout: actions.layout,
                me: actions.me,
                values: values,
                directory: directory,
                time: .now(),
                requestID: ChatState.newRequestID()
            )
            let outcome = try operation.perform(input)
            if let note = outcome.note { report(toolName, note) }
            if let request = outcome.keys, let directory {
                try await EndToEnd.perform(request, actions: actions, directory: directory)
            }
            // A command with nothing to publish only reports (`topic ROOM`): its answer is the output.
            if outcome.publishes.isEmpty, let output = outcome.output { Terminal.writeAll(Array(output.utf8), to: 1) }
            try await actions.perform(outcome.publishes)
        }
        if operation.readsDirectory {
            await connection.runWithDirectory(endToEnd: true) { actions, directory throws(MQTTError) in
                try await perform(actions, directory)
            }
        } else {
            await connection.runCommand { _, actions throws(MQTTError) in try await perform(actions, nil) }
        }
    }
}
