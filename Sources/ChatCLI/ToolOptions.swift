import ChatProtocol

// The options of the two tools' main commands, declared here rather than in the tools because both tools read
// one config file: each must know the other's options to skip them (`ConfigFile.optionsOfEitherTool`).

/// `publisher send`, the publisher's default command.
public enum SendOptions {
    public static let topic = OptionKey.value(
        "topic",
        "t",
        help: "A raw MQTT topic to publish to (no wildcards), instead of a room."
    )
    public static let room = OptionKey.value("room", help: "The room to talk in (default: general).")
    public static let to = OptionKey.value("to", valueName: "user", help: "Send privately to this user (QoS 2).")
    public static let group = OptionKey.value("group", help: "Send to this group (OWNER/NAME; QoS 2).")
    public static let message = OptionKey.value("message", "m", help: "Send this one message and exit.")
    public static let notice = OptionKey.value(
        "notice",
        help: "Send this one notice (shown as `* name text`) and exit."
    )
    public static let me = OptionKey.value(
        "me",
        valueName: "text",
        help: "Say what you do, shown as `* name text` (the prompt's /me), and exit."
    )
    public static let retain = OptionKey.flag(
        "retain",
        "r",
        help: "Ask the broker to retain the message for later subscribers."
    )
    public static let timeout = OptionKey.number(
        "timeout",
        "W",
        help: "Seconds to wait for acknowledgements (and for the broker, with --wait-for-broker) before giving "
            + "up (default: 30)."
    )
    public static let quiet = OptionKey.flag(
        "quiet",
        help: "At a terminal, do not say on stderr where you are talking."
    )
    public static let waitForBroker = OptionKey.flag(
        "wait-for-broker",
        help: "If the broker is not up yet, keep trying (up to --timeout) instead of failing."
    )

    public static let plaintext = OptionKey.flag(
        "plaintext",
        help: "Send to --to unencrypted even though keys were seen for them (they publish none now)."
    )

    public static let options: [OptionSpec] =
        ConnectionOptions.options + [
            topic.spec, room.spec, to.spec, group.spec, message.spec, notice.spec, me.spec, retain.spec,
            timeout.spec, quiet.spec, waitForBroker.spec, plaintext.spec,
        ]
}

/// `listener listen`, the listener's default command.
public enum ListenOptions {
    public static let topic = OptionKey.repeatable(
        "topic",
        "t",
        help: "A raw topic filter instead of the chat's rooms; repeat for several; + and # allowed."
    )
    public static let room = OptionKey.repeatable("room", help: "Follow just this room; repeat for several.")
    public static let group = OptionKey.repeatable(
        "group",
        help: "Follow just this group (OWNER/NAME); repeat for several."
    )
    public static let all = OptionKey.flag(
        "all",
        help: "Every room, with the room on each line (the workshop host's projector; needs admin rights)."
    )
    public static let format = OptionKey.choice(
        "format",
        as: ChatLineRenderer.Format.self,
        help: "Output: text for people, json (one object per line) for scripts (default: text)."
    )
    public static let count = OptionKey.integer("count", "C", help: "Exit after this many messages.")
    public static let timeout = OptionKey.number("timeout", "W", help: "Exit after this many seconds.")
    public static let session = OptionKey.flag(
        "session",
        help: "Keep a persistent session (needs -i) on raw topics (-t); the chat's own listener always has one."
    )
    public static let quiet = OptionKey.flag("quiet", help: "Do not say on stderr when listening starts.")
    public static let bell = OptionKey.flag(
        "bell",
        help: "Ring the terminal's bell for private messages, invitations, requests and lines that say your name "
            + "(only when the output is a terminal)."
    )

    public static let options: [OptionSpec] =
        ConnectionOptions.options + [
            topic.spec, room.spec, group.spec, all.spec, format.spec, count.spec, timeout.spec, session.spec,
            quiet.spec, bell.spec,
        ]
}
