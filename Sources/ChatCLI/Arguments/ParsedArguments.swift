/// What the command line gave one command, sorted by its spec: each option's values, and the positional
/// arguments in order. Commands read it in their `init`: options through their `OptionKey`s, arguments in the
/// order the spec declares them.
public struct ParsedArguments: Sendable {
    public let spec: CommandSpec
    /// Values by long name, in the order given; a flag has one empty value per time it was given.
    private(set) var values: [String: [String]] = [:]
    private(set) var positionals: [String] = []
    private var nextPositional = 0

    /// Sorts `arguments` (without the tool's and subcommands' names) by `spec`. Options and arguments may
    /// come in any order; after `--` everything is an argument.
    public init(_ arguments: [String], for spec: CommandSpec) throws(ValidationError) {
        self.spec = spec
        for token in CommandLineTokens(arguments[...], options: spec.options) {
            switch token {
            case .option(let option, let value): values[option.long, default: []].append(value ?? "")
            case .argument(let word, _): positionals.append(word)
            case .endOfOptions: continue
            case .unknown(let name): throw ValidationError("Unknown option \(name).")
            case .missingValue(let option): throw ValidationError("Missing value for \(option.displayName).")
            case .unexpectedValue(let option): throw ValidationError("--\(option.long) takes no value.")
            }
        }
        let required = spec.arguments.filter { !$0.optional }.count
        if positionals.count < required {
            throw ValidationError("Missing argument <\(spec.arguments[positionals.count].name)>.")
        }
        if positionals.count > spec.arguments.count {
            throw ValidationError("Unexpected argument \(positionals[spec.arguments.count]).")
        }
    }

    /// The value of the option `key` declares, as its type (a flag: whether it was given).
    public subscript<Value>(_ key: OptionKey<Value>) -> Value {
        get throws(ValidationError) {
            // A key the spec does not list would always read as not given; a test builds every command.
            assert(spec.option(key.spec.long) == key.spec, "\(spec.name) does not declare --\(key.spec.long)")
            return try key.read(values[key.spec.long] ?? [], key.spec)
        }
    }

    /// The next positional argument, in the order the spec declares them; nil for an optional one not given.
    public mutating func argument() -> String? {
        precondition(nextPositional < spec.arguments.count, "\(spec.name) declares no more arguments")
        defer { nextPositional += 1 }
        return nextPositional < positionals.count ? positionals[nextPositional] : nil
    }

    /// The next positional argument, which the spec declares required (so the parse checked it is there).
    public mutating func requiredArgument() -> String {
        guard let value = argument() else { preconditionFailure("a required argument is missing") }
        return value
    }
}

extension OptionSpec {
    /// `--host <host>`, `--tls`: how messages name the option.
    public var displayName: String { "--\(long)" + (valueName.map { " <\($0)>" } ?? "") }
}
