/// What MQTT allows as a topic name and a topic filter, checked before anything reaches the wire.
public enum MQTTTopic {
    /// Rejects what the broker would refuse anyway, before it reaches the wire: an empty topic, wildcards
    /// in a topic name, a NUL, more than 65,535 bytes.
    public static func validateName(_ topic: String) throws(MQTTError) {
        try validateCommon(topic, what: "topic")
        if topic.contains("+") || topic.contains("#") {
            throw MQTTError(
                .invalidArgument,
                "The topic \"\(topic)\" contains a wildcard (+ or #); publish needs an exact topic."
            )
        }
    }

    /// A subscription filter: `+` must fill a whole level, `#` must be the last level.
    public static func validateFilter(_ filter: String) throws(MQTTError) {
        try validateCommon(filter, what: "topic filter")
        let levels = filter.split(separator: "/", omittingEmptySubsequences: false)
        for (index, level) in levels.enumerated() {
            if level.contains("#") && (level != "#" || index != levels.count - 1) {
                throw MQTTError(
                    .invalidArgument,
                    "The topic filter \"\(filter)\" is invalid: # must be the last level on its own."
                )
            }
            if level.contains("+") && level != "+" {
                throw MQTTError(
                    .invalidArgument,
                    "The topic filter \"\(filter)\" is invalid: + must fill a whole level."
                )
            }
        }
    }

    private static func validateCommon(_ topic: String, what: String) throws(MQTTError) {
        if topic.isEmpty { throw MQTTError(.invalidArgument, "The \(what) is empty.") }
        if topic.utf8.count > 65_535 { throw MQTTError(.invalidArgument, "The \(what) is longer than 65,535 bytes.") }
        if topic.utf8.contains(0) { throw MQTTError(.invalidArgument, "The \(what) contains a NUL character.") }
    }
}
