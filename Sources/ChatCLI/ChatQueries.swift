import ArgumentParser
import ChatProtocol

/// The tool's name as invoked (`listener`, `publisher`), for its one-line errors.
public var toolName: String {
    String(CommandLine.arguments.first?.split(separator: "/").last ?? "mqtt-chat")
}

extension ConnectionOptions {
    /// The user name as the layout puts it into topics, refused (exit 64) when it cannot be one level.
    public func validateLayoutUser() throws {
        do { try ChatName.validate(resolvedUsername, as: "user name") } catch { throw ValidationError(error.message) }
    }

    /// Connects for one command and runs `body`; any failure is one line and its exit code. Exits 0 after it.
    public func runCommand(_ body: (MQTTClient, ChatActions) async throws(MQTTError) -> Void) async -> Never {
        let tool = toolName
        let configuration: MQTTConfiguration
        do {
            configuration = try self.configuration { report(tool, $0) }
        } catch {
            report(tool, "\(error)")
            finish(ExitStatus.usage)
        }
        let client: MQTTClient
        do {
            client = try await connectClient(configuration)
        } catch {
            fail(tool, error, hint: connectHint(for: error, host: configuration.host))
        }
        reportConnected(tool, client)
        do {
            try await body(client, ChatActions(client: client, layout: ChatLayout(), me: resolvedUsername))
        } catch {
            await client.disconnect()
            fail(tool, error)
        }
        await client.disconnect()
        finish()
    }
}

/// Validates names given to a command (rooms, users), as usage errors.
public func validateNames(_ names: [(String, String)]) throws {
    for (name, what) in names {
        do { try ChatName.validate(name, as: what) } catch { throw ValidationError(error.message) }
    }
}

/// `who [ROOM]`: who is online; with a room, who joined it. A command of both tools.
public struct WhoCommand: AsyncParsableCommand, ConfigFileOptions {
    public static let configFileOptions = [.value("room"), .value("format")] + ConnectionOptions.configFileOptions

    public static let configuration = CommandConfiguration(
        commandName: "who",
        abstract: "Show who is online; with a room, who joined it (online or not)."
    )

    @Argument(help: "A room.") var room: String?
    @Option(name: .customLong("room"), help: "The room (same as the argument).") var roomOption: String?
    @Option(name: .long, help: "text, or json (one object per user).") var format: ChatLineRenderer.Format = .text
    @OptionGroup var connection: ConnectionOptions

    public init() {}

    var selectedRoom: String? { room ?? roomOption }

    public func validate() throws {
        try connection.validateLayoutUser()
        if let selectedRoom { try validateNames([(selectedRoom, "room")]) }
    }

    public func run() async throws {
        let (room, format) = (selectedRoom, format)
        await connection.runQuery { directory in DirectoryReport.who(directory, room: room, format: format) }
    }
}

/// `rooms`: the rooms you are in, and every room with people in it. A command of both tools.
public struct RoomsCommand: AsyncParsableCommand, ConfigFileOptions {
    public static let configFileOptions = [.value("format")] + ConnectionOptions.configFileOptions

    public static let configuration = CommandConfiguration(
        commandName: "rooms",
        abstract: "Show the rooms you are in and every room with people in it."
    )

    @Option(name: .long, help: "text, or json (one object per room).") var format: ChatLineRenderer.Format = .text
    @OptionGroup var connection: ConnectionOptions

    public init() {}

    public func validate() throws { try connection.validateLayoutUser() }

    public func run() async throws {
        let format = format
        await connection.runQuery { directory in DirectoryReport.rooms(directory, format: format) }
    }
}

/// `groups`: every group, its owner and members; pending requests for the groups you own. Both tools.
public struct GroupsCommand: AsyncParsableCommand, ConfigFileOptions {
    public static let configFileOptions = [.value("format")] + ConnectionOptions.configFileOptions

    public static let configuration = CommandConfiguration(
        commandName: "groups",
        abstract: "Show every group with its members (and the requests to the groups you own)."
    )

    @Option(name: .long, help: "text, or json (one object per group).") var format: ChatLineRenderer.Format = .text
    @OptionGroup var connection: ConnectionOptions

    public init() {}

    public func validate() throws { try connection.validateLayoutUser() }

    public func run() async throws {
        let format = format
        await connection.runQuery { directory in DirectoryReport.groups(directory, format: format) }
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
        _ body: (ChatActions, ChatDirectory) async throws(MQTTError) -> Void
    ) async -> Never {
        let tool = toolName
        let me = resolvedUsername
        let configuration: MQTTConfiguration
        do {
            configuration = try self.configuration { ChatCLI.report(tool, $0) }
        } catch {
            ChatCLI.report(tool, "\(error)")
            finish(ExitStatus.usage)
        }
        let watcher = DirectoryWatcher(layout: ChatLayout(), me: me, client: configuration.clientID)
        let client: MQTTClient
        do {
            client = try MQTTClient(configuration, onMessage: watcher.handle)
            try await client.connect()
            reportConnected(tool, client)
            try await watcher.start(client, me: me)
        } catch {
            fail(tool, error, hint: connectHint(for: error, host: configuration.host))
        }
        let directory = await watcher.snapshot()
        do {
            try await body(ChatActions(client: client, layout: ChatLayout(), me: me), directory)
        } catch {
            await client.disconnect()
            fail(tool, error)
        }
        await client.disconnect()
        finish()
    }
}

extension ChatLineRenderer.Format: ExpressibleByArgument {}
