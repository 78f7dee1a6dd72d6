import CPahoMQTT

/// Facts about the Paho library this process loaded.
public enum PahoLibrary {
    /// The version the loaded libpaho reports of itself ("Version" in `MQTTAsync_getVersionInfo`). Debian 12's
    /// package 1.3.12-1 reports "1.3.11".
    public static let version: String = {
        guard var entry = MQTTAsync_getVersionInfo() else { return "" }
        while let name = entry.pointee.name {
            if String(cString: name) == "Version", let value = entry.pointee.value { return String(cString: value) }
            entry += 1
        }
        return ""
    }()

    /// Whether the calling thread is Paho's MQTTAsync receive thread (by the name Paho gives it at its start,
    /// before its first wait). One system call.
    public static var onReceiveThread: Bool { cpaho_current_thread_is("MQTTAsync_rcv") != 0 }
}
