import CPahoMQTT
import Glibc

/// Keeps every thread of the process on one CPU: the one the caller runs on, which is always in the mask the
/// process was given (`taskset` included).
///
/// A piped line passes through three threads: the reader, Paho's send thread, and at QoS 1 and 2 Paho's
/// receive thread for the acknowledgement, each waking the next and taking Paho's locks in turn. On different
/// CPUs every hand-over is a cross-CPU wake-up, which on a virtual machine costs more than the work handed
/// over: 60,000 lines at QoS 1 took 1.78 s (1.85 s of CPU) spread over two CPUs and 1.05 s (0.99 s of CPU)
/// on one (docs/performance.md). A single-threaded client such as mosquitto_pub never pays it, and the work is
/// serial anyway: a second CPU gave it nothing.
public enum OneCPU {
    /// Moves every thread the process has now onto the current CPU; threads started later inherit it from
    /// the thread that starts them. Returns the CPU, or nil when the system would not say or allow it (the
    /// process then runs as before).
    @discardableResult
    public static func confine() -> Int32? {
        let cpu = cpaho_current_cpu()
        guard cpu >= 0 else { return nil }
        var moved = false
        for thread in threads() where cpaho_keep_on_cpu(thread, cpu) == 0 {
            moved = true
        }
        return moved ? cpu : nil
    }

    /// The ids of the process's threads (/proc/self/task).
    private static func threads() -> [Int32] {
        guard let directory = opendir("/proc/self/task") else { return [] }
        defer { closedir(directory) }
        var ids: [Int32] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { bytes in
                String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
            }
            if let id = Int32(name) { ids.append(id) }
        }
        return ids
    }
}
