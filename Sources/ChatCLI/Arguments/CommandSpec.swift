/// The tools' command lines, declared once: the parser, `--help`, the man pages, the shell completions and
/// the config file all read these declarations. (ArgumentParser did this by reflecting over property wrappers
/// at every start: a third of a one-shot publish's CPU and 3 MiB of each listener's memory; docs/benchmarks.md.)

/// What a shell may offer for an option's value or an argument.
public enum ValueCompletion: Sendable, Equatable {
    case none
    case file
    case choices([String])
}

/// One option of a command: a flag (`--tls`) or an option that takes a value (`--host HOST`).
public struct OptionSpec: Sendable, Equatable {
    /// The long name, without dashes: `host`.
    public var long: String
    public var short: Character?
    /// The value's placeholder in help (`<host>`); nil for a flag.
    public var valueName: String?
    public var help: String
    /// Each value given is kept (`--room a --room b`); otherwise the last one counts.
    public var repeatable: Bool
    public var completion: ValueCompletion

    public var takesValue: Bool { valueName != nil }

    /// An option that takes a value; the placeholder defaults to the long name. Commands declare theirs as
    /// `OptionKey`s, which say what the values mean.
    static func value(
        _ long: String,
        _ short: Character? = nil,
        valueName: String? = nil,
        repeatable: Bool = false,
        completion: ValueCompletion = .none,
        help: String
    ) -> OptionSpec {
        OptionSpec(
            long: long,
            short: short,
            valueName: valueName ?? long,
            help: help,
            repeatable: repeatable,
            completion: completion
        )
    }

    static func flag(_ long: String, _ short: Character? = nil, help: String) -> OptionSpec {
        OptionSpec(long: long, short: short, valueName: nil, help: help, repeatable: false, completion: .none)
    }
}

/// A positional argument.
public struct ArgumentSpec: Sendable, Equatable {
    public var name: String
    public var help: String
    public var optional: Bool

    public init(_ name: String, optional: Bool = false, help: String) {
        self.name = name
        self.help = help
        self.optional = optional
    }
}

/// A command: what `--help`, the man page and the completions say of it, and what it accepts.
public struct CommandSpec: Sendable {
    public var name: String
    public var abstract: String
    /// Paragraphs after the abstract; lines indented by two spaces are examples, shown as they are.
    public var discussion: String
    public var version: String?
    public var options: [OptionSpec]
    public var arguments: [ArgumentSpec]
    public var subcommands: [CommandNode]
    /// The name of the subcommand that runs when the command line names none (`publisher -m hi` is
    /// `publisher send`).
    public var defaultSubcommandName: String?

    public init(
        _ name: String,
        abstract: String,
        discussion: String = "",
        version: String? = nil,
        options: [OptionSpec] = [],
        arguments: [ArgumentSpec] = [],
        subcommands: [CommandNode] = [],
        defaultSubcommand: String? = nil
    ) {
        self.name = name
        self.abstract = abstract
        self.discussion = discussion
        self.version = version
        self.options = options
        self.arguments = arguments
        self.subcommands = subcommands
        self.defaultSubcommandName = defaultSubcommand
    }

    /// The option with this long name, if the command has it.
    public func option(_ long: String) -> OptionSpec? { options.first { $0.long == long } }

    /// The subcommand this word names, if any.
    public func subcommand(named word: String) -> CommandNode? {
        subcommands.first { $0.spec.name == word }
    }

    /// The subcommand that runs when the command line names none.
    public var defaultSubcommand: CommandNode? { defaultSubcommandName.flatMap(subcommand(named:)) }
}

extension CommandSpec {
    /// `--help`, which every command takes without declaring it.
    static let helpOption = OptionSpec.flag("help", help: "Show help information.")
    /// `--version`, which a root with a version takes.
    static let versionOption = OptionSpec.flag("version", help: "Show the version.")
    /// `--generate-completion-script <shell>`, which every root takes.
    static let completionScriptOption = OptionSpec.value(
        "generate-completion-script",
        valueName: "shell",
        completion: .choices(["bash", "zsh", "fish"]),
        help: "Print the completion script for bash, zsh or fish."
    )

    /// Everything the command takes, as help, man page and completions list it: its options; those of its default
    /// subcommand, which runs when no subcommand is named (`publisher -m hi` runs `publisher send`); the
    /// built-in ones (`--help`; at the root `--version` and `--generate-completion-script`).
    func acceptedOptions(isRoot: Bool) -> [OptionSpec] {
        var accepted = options
        if let defaultSubcommand {
            let own = Set(options.map(\.long))
            accepted += defaultSubcommand.spec.options.filter { !own.contains($0.long) }
        }
        if isRoot {
            accepted += (version == nil ? [] : [Self.versionOption]) + [Self.completionScriptOption]
        }
        return accepted + [Self.helpOption]
    }
}

/// A command built from its command line: checked, then run.
public protocol RunnableCommand: Sendable {
    /// Checks that only needs the values (names, ranges, combinations), before anything connects.
    func validate() throws(ValidationError)
    func run() async throws
}

extension RunnableCommand {
    public func validate() throws(ValidationError) {}
}

/// A command of the tools written as a type: declared by its `spec`, built from what the command line gave.
public protocol ChatCommand: RunnableCommand {
    static var spec: CommandSpec { get }
    /// Reads the values this command's spec declares (`try arguments[ConnectionOptions.Key.host]`).
    init(_ arguments: inout ParsedArguments) throws(ValidationError)
}

/// One command of a tool's tree: its declaration, and how to build it from the values it was given. A type
/// (`CommandNode(Send.self)`) or a value (the chat commands, `CommandNode.chatCommands`).
public struct CommandNode: Sendable {
    public let spec: CommandSpec
    let build: @Sendable (inout ParsedArguments) throws(ValidationError) -> any RunnableCommand

    public init(
        spec: CommandSpec,
        build: @escaping @Sendable (inout ParsedArguments) throws(ValidationError) -> any RunnableCommand
    ) {
        self.spec = spec
        self.build = build
    }

    public init<Command: ChatCommand>(_ type: Command.Type) {
        self.init(spec: Command.spec) { (arguments) throws(ValidationError) in try Command(&arguments) }
    }

    /// A word that only groups subcommands (`publisher group`): it never runs itself.
    public init(grouping spec: CommandSpec) {
        self.init(spec: spec) { _ in preconditionFailure("\(spec.name) only groups subcommands") }
    }
}

/// A command that only groups subcommands (`publisher`, the root): it never runs itself.
public protocol CommandGroup: ChatCommand {}

extension CommandGroup {
    /// Never called: the runner stops with "needs a subcommand" first.
    public init(_ arguments: inout ParsedArguments) throws(ValidationError) {
        preconditionFailure("\(Self.spec.name) only groups subcommands")
    }

    public func run() async throws {}
}

/// A usage error: the tools print it as one line and exit 64.
public struct ValidationError: Error, Equatable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
