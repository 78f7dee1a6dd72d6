/// What to restore after a broker lost state that this user's tools had written: a broker that crashes
/// comes back with its last autosave (mosquitto's `autosave_interval`), so a `join` it acknowledged a few
/// seconds before is gone, or an older value is back. Each tool keeps a journal of the state it wrote (the
/// last value of each topic, with its time); after every snapshot of the broker's state, anything the
/// broker does not hold at least as recently as the journal is written again. Pure: the journal's storage is
/// the tools' (ChatCLI's `StateJournalFile`).
///
/// Times are the writers' clocks (`at` in each state payload, RFC 3339 UTC, which sorts as text): a value
/// written later on another machine with a clock behind could lose to an older one.
public enum StateJournal {
    /// A journal entry for `payload` written at `at`; an empty payload (the state removed) is recorded as
    /// `{"cleared":"true","at":...}`, since the broker keeps nothing to compare it with.
    public static func entry(_ payload: [UInt8], at: ChatTimestamp) -> [UInt8] {
        if payload.isEmpty { return ChatState.stamped(ChatState.cleared, at: at) }
        return ChatState.stamped(payload, at: at)
    }

    /// The publishes that restore the journal where the broker is behind it: (topic, payload), sorted by
    /// topic. `broker` is the user's own retained state as the broker holds it now.
    public static func restorations(journal: [String: [UInt8]], broker: [String: [UInt8]]) -> [(String, [UInt8])] {
        var publishes: [(String, [UInt8])] = []
        for (topic, entry) in journal.sorted(by: { $0.key < $1.key }) {
            guard let members = ChatState.members(entry), let written = members["at"] else { continue }
            let cleared = members["cleared"] == "true"
            if let held = broker[topic] {
                // The broker's value is as recent as the journal's, or newer (written elsewhere): it stands.
                if let heldAt = ChatState.members(held)?["at"], heldAt >= written { continue }
                publishes.append((topic, cleared ? [] : entry))
            } else if !cleared {
                publishes.append((topic, entry))
            }
        }
        return publishes
    }
}
