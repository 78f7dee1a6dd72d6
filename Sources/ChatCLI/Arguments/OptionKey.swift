/// An option as a command declares and reads it: its spec (for the parser, help, man page, completions and the
/// config file) and what its values mean (`Bool` for a flag, `Int?` for a number...). Commands read values
/// through keys (`try arguments[ConnectionOptions.Key.port]`), so a misspelt option does not compile.
public struct OptionKey<Value: Sendable>: Sendable {
    public let spec: OptionSpec
    /// The values the command line gave, in order (one empty string per time a flag was given), as `Value`.
    let read: @Sendable (_ values: [String], _ spec: OptionSpec) throws(ValidationError) -> Value
}

extension OptionKey<Bool> {
    /// A flag (`--tls`): whether it was given.
    public static func flag(_ long: String, _ short: Character? = nil, help: String) -> Self {
        OptionKey(spec: .flag(long, short, help: help)) { values, _ in !values.isEmpty }
    }
}

extension OptionKey<String?> {
    /// An option that takes a value (`--host HOST`): the last one given, or nil. The placeholder defaults to the
    /// long name.
    public static func value(
        _ long: String,
        _ short: Character? = nil,
        valueName: String? = nil,
        completion: ValueCompletion = .none,
        help: String
    ) -> Self {
        let spec = OptionSpec.value(long, short, valueName: valueName, completion: completion, help: help)
        return OptionKey(spec: spec) { values, _ in values.last }
    }
}

extension OptionKey<[String]> {
    /// An option that may be given again (`--room a --room b`): every value, in order.
    public static func repeatable(_ long: String, _ short: Character? = nil, help: String) -> Self {
        OptionKey(spec: .value(long, short, repeatable: true, help: help)) { values, _ in values }
    }
}

extension OptionKey<Int?> {
    /// A whole number, or nil when not given.
    public static func integer(
        _ long: String,
        _ short: Character? = nil,
        completion: ValueCompletion = .none,
        help: String
    ) -> Self {
        OptionKey(spec: .value(long, short, completion: completion, help: help)) {
            (values, spec) throws(ValidationError) -> Int? in
            guard let text = values.last else { return nil }
            guard let value = Int(text) else {
                throw ValidationError("Invalid value \(text) for \(spec.displayName): a whole number is needed.")
            }
            return value
        }
    }
}

extension OptionKey<Double?> {
    /// A number, or nil when not given.
    public static func number(_ long: String, _ short: Character? = nil, help: String) -> Self {
        OptionKey(spec: .value(long, short, help: help)) { (values, spec) throws(ValidationError) -> Double? in
            guard let text = values.last else { return nil }
            guard let value = Double(text), value.isFinite else {
                throw ValidationError("Invalid value \(text) for \(spec.displayName): a number is needed.")
            }
            return value
        }
    }
}

extension OptionKey {
    /// One of `T`'s values by name (`--format json`), or nil when not given; completions offer every case.
    public static func choice<T: RawRepresentable<String> & CaseIterable & Sendable>(
        _ long: String,
        as type: T.Type,
        help: String
    ) -> Self where Value == T? {
        let names = T.allCases.map(\.rawValue)
        return OptionKey(spec: .value(long, completion: .choices(names), help: help)) {
            (values, spec) throws(ValidationError) -> T? in
            guard let text = values.last else { return nil }
            guard let value = T(rawValue: text) else {
                throw ValidationError(
                    "Invalid value \(text) for \(spec.displayName): use \(names.joined(separator: " or "))."
                )
            }
            return value
        }
    }
}
