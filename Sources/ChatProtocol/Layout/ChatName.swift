/// Names of people and rooms as the chat layout puts them into topics.
///
/// A name is one topic level, and mosquitto's `%u` ACL patterns put user names into topic filters, so a
/// name with `/`, `+` or `#` could widen a rule or reach another user's topics; control characters could
/// reach a terminal. Such names are refused before anything is sent.
public enum ChatName {
    public static let maximumBytes = 64

    /// Why `name` cannot be used, or nil when it can.
    public static func problem(with name: String) -> String? {
        if name.isEmpty { return "it is empty" }
        if name.utf8.count > maximumBytes { return "it is longer than \(maximumBytes) bytes" }
        for scalar in name.unicodeScalars {
            switch scalar {
            case "/", "+", "#": return "it contains \"\(scalar)\""
            case "\u{0}": return "it contains a NUL character"
            case _ where scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value):
                return "it contains a control character"
            default: continue
            }
        }
        return nil
    }

    /// Throws a usage error naming what the name is for (`room`, `user name`, ...) when it is not valid.
    public static func validate(_ name: String, as what: String) throws(MQTTError) {
        if let problem = problem(with: name) {
            throw MQTTError(
                .invalidArgument,
                "Invalid \(what) \"\(TerminalText.sanitize(name, limit: 80))\": \(problem) (names are 1 to \(maximumBytes) "
                    + "bytes of UTF-8 without /, +, # or control characters)."
            )
        }
    }
}
