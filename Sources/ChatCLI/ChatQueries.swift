import ChatCrypto
import ChatProtocol
import MQTTPaho

/// The tool's name as invoked (`listener`, `publisher`), for its one-line errors.
public var toolName: String {
    String(CommandLine.arguments.first?.split(separator: "/").last ?? "mqtt-chat")
}

extension ConnectionOptions {
    /// The user name as the layout puts it into topics, refused (exit 64) when it cannot be one level.
    public func validateLayoutUser() throws(ValidationError) {
        do { try ChatName.validate(resolvedUsername, as: "user name") } catch { throw ValidationError(error.message) }
    }

    /// Connects for one command and runs `body`; any failure is one line and its exit code. Exits 0 after it.
    public func runCommand(_ body: (MQTTClient, ChatActions) async throws(MQTTError) -> Void) async -> Never {
        let tool = toolName
        let configuration = configurationOrExit(tool)
        let keys = keysOrExit(tool, configuration)
        await EndToEnd.publishIfNeeded(keys, configuration, tool: tool)
        let reader = KeyReader(layout: ChatLayout(), me: resolvedUsername, client: configuration.clientID)
        let client: MQTTClient
        do {
            client = try await connectClient(configuration, onMessage: reader.handle)
        } catch {
            fail(tool, error, hint: connectHint(for: error, host: configuration.host))
        }
        reportConnected(tool, client)
        let actions = ChatActions(
            client: client,
            layout: ChatLayout(),
            me: resolvedUsername,
            endToEnd: EndToEndSending(
                keys: keys,
                store: EndToEnd.store(configuration, user: resolvedUsername),
                reader: reader
            )
        )
        do {
            try await body(client, actions)
        } catch {
            await client.disconnect()
            fail(tool, error)
        }
        await client.disconnect()
        finish()
    }

    /// This device's keys (created on first use), or the tool's exit (a key file others can read: 77).
    func keysOrExit(_ tool: String, _ configuration: MQTTConfiguration) -> UserKeys {
        do {
            return try EndToEnd.keys(configuration, user: resolvedUsername)
        } catch {
            fail(tool, error)
        }
    }

    /// The connection settings, or the tool's exit as for any failure of a command (`fail(_:thrown:)`): a bad
    /// password file is a usage error, Paho's library failing to load is not.
    fileprivate func configurationOrExit(_ tool: String) -> MQTTConfiguration {
        do {
            return try configuration { report(tool, $0) }
        } catch {
            fail(tool, thrown: error)
        }
    }
}

/// Validates names given to a command (rooms, users), as usage errors.
public func validateNames(_ names: [(String, String)]) throws(ValidationError) {
    for (name, what) in names {
        do { try ChatName.validate(name, as: what) } catch { throw ValidationError(error.message) }
    }
}

/// `--format` of the commands that list things.
private func formatOption(_ what: String) -> OptionKey<ChatLineRenderer.Format?> {
    .choice("format", as: ChatLineRenderer.Format.self, help: "text, or json (one object per \(what)).")
}

/// `who [ROOM]`: who is online; with a room, who joined it. A command of both tools, declared with the chat
/// commands (`ChatOperations.who`, also the prompt's `/who`) and given `--format` here.
public struct WhoCommand: ChatCommand {
    enum Key {
        static let room = OptionKey.value("room", help: "The room (same as the argument).")
        static let format = formatOption("user")
    }
    public static let spec = ChatOperations.who.spec(options: [Key.room.spec, Key.format.spec])

    let room: String?
    let format: ChatLineRenderer.Format
    let connection: ConnectionOptions

    public init(_ arguments: inout ParsedArguments) throws(ValidationError) {
        let option = try arguments[Key.room]
        room = arguments.argument() ?? option
        format = try arguments[Key.format] ?? .text
        connection = try ConnectionOptions(arguments)
    }

    public func validate() throws(ValidationError) {
        try connection.validateLayoutUser()
        if let room { try validateNames([(room, "room")]) }
    }

    public func run() async throws {
        let (room, format) = (room, format)
        await connection.runQuery { directory in DirectoryReport.who(directory, room: room, format: format) }
    }
}

/// A command that prints one report of the broker's state (`rooms`, `groups`), as text or JSON.
public protocol DirectoryListing: ChatCommand {
    /// Its `--format`, whose help names what one JSON object is.
    static var formatKey: OptionKey<ChatLineRenderer.Format?> { get }
    static func report(_ directory: ChatDirectory, format: ChatLineRenderer.Format) -> [UInt8]
    var format: ChatLineRenderer.Format { get }
    var connection: ConnectionOptions { get }
    init(format: ChatLineRenderer.Format, connection: ConnectionOptions)
}

extension DirectoryListing {
    public init(_ arguments: inout ParsedArguments) throws(ValidationError) {
        self.init(format: try arguments[Self.formatKey] ?? .text, connection: try ConnectionOptions(arguments))
    }

    public func validate() throws(ValidationError) { try connection.validateLayoutUser() }

    public func run() async throws {
        let format = format
        await connection.runQuery { directory in Self.report(directory, format: format) }
    }
}

/// `rooms`: the rooms you are in, and every room with people in it. A command of both tools.
public struct RoomsCommand: DirectoryListing {
    public static let formatKey = formatOption("room")
    public static let spec = ChatOperations.rooms.spec(options: [formatKey.spec])

    public let format: ChatLineRenderer.Format
    public let connection: ConnectionOptions

    public init(format: ChatLineRenderer.Format, connection: ConnectionOptions) {
        (self.format, self.connection) = (format, connection)
    }

    public static func report(_ directory: ChatDirectory, format: ChatLineRenderer.Format) -> [UInt8] {
        DirectoryReport.rooms(directory, format: format)
    }
}

/// `groups`: every group, its owner and members; pending requests for the groups you own. Both tools.
public struct GroupsCommand: DirectoryListing {
    public static let formatKey = formatOption("group")
    public static let spec = ChatOperations.groups.spec(options: [formatKey.spec])

    public let format: ChatLineRenderer.Format
    public let connection: ConnectionOptions

    public init(format: ChatLineRenderer.Format, connection: ConnectionOptions) {
        (self.format, self.connection) = (format, connection)
    }

    public static func report(_ directory: ChatDirectory, format: ChatLineRenderer.Format) -> [UInt8] {
        DirectoryReport.groups(directory, format: format)
    }
}

extension ConnectionOptions {
    /// Reads the broker's state once and prints what `report` makes of it.
    func runQuery(_ report: @escaping @Sendable (ChatDirectory) -> [UInt8]) async -> Never {
        await runWithDirectory { _, directory throws(MQTTError) in
            Terminal.writeAll(report(directory), to: 1)
        }
    }

    /// Connects, reads the broker's state (memberships, presence, groups), runs `body` with it, and exits 0;
    /// any failure is one line and its exit code.
    public func runWithDirectory(
        endToEnd: Bool = false,
        _ body: (ChatActions, ChatDirectory) async throws(MQTTError) -> Void
    ) async -> Never {
        let tool = toolName
        let me = resolvedUsername
        let configuration = configurationOrExit(tool)
        let watcher = DirectoryWatcher(layout: ChatLayout(), me: me, client: configuration.clientID)
        // A chat command that publishes seals what it sends and hands out its groups' keys, as `runCommand`.
        var sending: EndToEndSending?
        if endToEnd {
            let keys = keysOrExit(tool, configuration)
            await EndToEnd.publishIfNeeded(keys, configuration, tool: tool)
            let reader = KeyReader(layout: ChatLayout(), me: me, client: configuration.clientID)
            sending = EndToEndSending(keys: keys, store: EndToEnd.store(configuration, user: me), reader: reader)
        }
        let client: MQTTClient
        do {
            client = try MQTTClient(configuration) { [sending] message in
                watcher.handle(message)
                sending?.reader.handle(message)
            }
            try await client.connect()
            reportConnected(tool, client)
            try await watcher.start(client, me: me)
        } catch {
            fail(tool, error, hint: connectHint(for: error, host: configuration.host))
        }
        let directory = await watcher.snapshot()
        do {
            try await body(ChatActions(client: client, layout: ChatLayout(), me: me, endToEnd: sending), directory)
        } catch {
            await client.disconnect()
            fail(tool, error)
        }
        await client.disconnect()
        finish()
    }
}
