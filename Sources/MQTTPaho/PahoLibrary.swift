import CPahoMQTT
import ChatProtocol
import Synchronization

/// The Paho build this process loaded, and facts about it.
///
/// Paho is loaded at run time (`Sources/CPahoMQTT/PahoLoader.c`), one build per process for its whole life:
/// libpaho-mqtt3as, with TLS, or libpaho-mqtt3a, without TLS and without OpenSSL (about 2 MiB less memory and
/// 2 ms less CPU per start). A process that never needs TLS says so before its first client (`load(tls:)`);
/// otherwise the first client loads the build with TLS, so that any client of the process may use TLS.
public enum PahoLibrary {
    /// Loads the build with TLS or the one without, unless a build is loaded already; returns whether the loaded
    /// build has TLS. Throws when neither can be loaded (the package libpaho-mqtt1.3 is missing).
    @discardableResult
    public static func load(tls: Bool) throws(MQTTError) -> Bool {
        var hasTLS: Int32 = 0
        var error = [CChar](repeating: 0, count: 512)
        guard cpaho_load(tls ? 1 : 0, &hasTLS, &error, error.count) == 0 else {
            let reason = String(decoding: error.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            throw MQTTError(.libraryUnavailable, "Cannot load the Paho MQTT library: \(reason).")
        }
        return hasTLS != 0
    }

    /// Makes sure a build that can serve a client with or without TLS is loaded (the one with TLS if none is).
    static func ready(forTLS tls: Bool) throws(MQTTError) {
        guard try load(tls: true) || !tls else {
            throw MQTTError(
                .sslNotSupported,
                "TLS is not available: this process loaded Paho without TLS (PahoLibrary.load(tls: false))."
            )
        }
    }

    /// The version the loaded libpaho reports of itself ("Version" in `MQTTAsync_getVersionInfo`); empty until a
    /// build is loaded. Debian 12's package 1.3.12-1 reports "1.3.11".
    public static var version: String {
        guard var entry = cpaho_versionInfo() else { return "" }
        while let name = entry.pointee.name {
            if String(cString: name) == "Version", let value = entry.pointee.value { return String(cString: value) }
            entry += 1
        }
        return ""
    }

    /// Whether a client of this process is connecting (from its CONNECT request to Paho's answer): the only
    /// time Paho's receive thread has a connection to start and no data to wait for, so the only time the
    /// tools' PahoWaits shorten its waits.
    public static var isConnecting: Bool { connecting.load(ordering: .relaxed) > 0 }

    private static let connecting = Atomic<Int>(0)

    /// Counts a connect from its request to its completion; returns `completion` wrapped to end the count.
    static func countConnect(_ completion: @escaping ClientCore.Completion) -> ClientCore.Completion {
        connecting.add(1, ordering: .relaxed)
        return { result in
            connecting.subtract(1, ordering: .relaxed)
            completion(result)
        }
    }

    /// Whether the calling thread is Paho's MQTTAsync receive thread (by the name Paho gives it at its start,
    /// before its first wait). One system call.
    public static var onReceiveThread: Bool { cpaho_current_thread_is("MQTTAsync_rcv") != 0 }
}
