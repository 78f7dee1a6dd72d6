/// What the command line gave one command, sorted by its spec: each option's values, and the positional
/// arguments in order. Commands read it in their `init`; reading a name the spec does not declare is a
/// programming error (a test builds every command).
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
        var rest = arguments[...]
        var onlyPositionals = false
        while let token = rest.popFirst() {
            if onlyPositionals || token == "-" || !token.hasPrefix("-") {
                positionals.append(token)
            } else if token == "--" {
                onlyPositionals = true
            } else if token.hasPrefix("--") {
                let parts = token.dropFirst(2).split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                guard let option = spec.option(String(parts[0])) else {
                    throw ValidationError("Unknown option --\(parts[0]).")
                }
                if parts.count > 1 && !option.takesValue {
                    throw ValidationError("--\(option.long) takes no value.")
                }
                try take(option, inline: parts.count > 1 ? String(parts[1]) : nil, from: &rest)
            } else {
                // -d, -dr (flags together), -p 1883, -p1883.
                var letters = token.dropFirst()
                while let letter = letters.popFirst() {
                    guard let option = spec.options.first(where: { $0.short == letter }) else {
                        throw ValidationError("Unknown option -\(letter).")
                    }
                    if option.takesValue {
                        try take(option, inline: letters.isEmpty ? nil : String(letters), from: &rest)
                        break
                    }
                    values[option.long, default: []].append("")
                }
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

    /// Records `option`'s value: the inline one, else the next argument, whatever it looks like (as the
    /// mosquitto clients do: `-m -5` sends "-5").
    private mutating func take(
        _ option: OptionSpec,
        inline: String?,
        from rest: inout ArraySlice<String>
    ) throws(ValidationError) {
        guard option.takesValue else {
            values[option.long, default: []].append("")
            return
        }
        guard let value = inline ?? rest.popFirst() else {
            throw ValidationError("Missing value for \(option.displayName).")
        }
        values[option.long, default: []].append(value)
    }

    private func declared(_ long: String) -> OptionSpec {
        guard let option = spec.option(long) else { preconditionFailure("\(spec.name) declares no --\(long)") }
        return option
    }

    /// Whether a flag was given.
    public func flag(_ long: String) -> Bool {
        precondition(!declared(long).takesValue, "--\(long) takes a value")
        return values[long] != nil
    }

    /// An option's value (the last one given), or nil.
    public func string(_ long: String) -> String? {
        precondition(declared(long).takesValue, "--\(long) is a flag")
        return values[long]?.last
    }

    /// Every value of a repeatable option, in order.
    public func strings(_ long: String) -> [String] {
        precondition(declared(long).repeatable, "--\(long) is not repeatable")
        return values[long] ?? []
    }

    /// A whole number, or nil when not given.
    public func int(_ long: String) throws(ValidationError) -> Int? {
        guard let text = string(long) else { return nil }
        guard let value = Int(text) else {
            throw ValidationError("Invalid value \(text) for \(declared(long).displayName): a whole number is needed.")
        }
        return value
    }

    /// A number, or nil when not given.
    public func double(_ long: String) throws(ValidationError) -> Double? {
        guard let text = string(long) else { return nil }
        guard let value = Double(text), value.isFinite else {
            throw ValidationError("Invalid value \(text) for \(declared(long).displayName): a number is needed.")
        }
        return value
    }

    /// One of the option's declared choices, as `T`, or nil when not given.
    public func choice<T: RawRepresentable<String>>(
        _ long: String,
        as type: T.Type = T.self
    ) throws(ValidationError)
        -> T?
    {
        guard let text = string(long) else { return nil }
        guard let value = T(rawValue: text) else {
            let option = declared(long)
            var choices = ""
            if case .choices(let names) = option.completion { choices = ": use " + names.joined(separator: " or ") }
            throw ValidationError("Invalid value \(text) for \(option.displayName)\(choices).")
        }
        return value
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
