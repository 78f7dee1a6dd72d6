import ChatCLI
import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

@Suite("blocking calls run on threads of their own")
struct OwnThreadTests {
    @Test("idle prompts wait for lines off Swift's cooperative threads, which stay free for other tasks")
    func idleReadsLeaveThePoolFree() async throws {
        // More idle prompts than the machine has cores, each waiting for a line that has not come.
        var readEnds: [Int32] = []
        var writeEnds: [Int32] = []
        var inputs: [PromptInput] = []
        for _ in 0..<16 {
            var ends: [Int32] = [0, 0]
            #expect(pipe(&ends) == 0)
            readEnds.append(ends[0])
            writeEnds.append(ends[1])
            inputs.append(PromptInput(fd: ends[0], history: nil))
        }
        let readers = inputs.map { input in Task { await input.next(prompt: "") } }
        // Every prompt is waiting in read(2) on its pipe, each on a thread.
        let deadline = ContinuousClock.now + .seconds(30)
        while threadsReading(readEnds) < readEnds.count, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(5))
        }
        #expect(threadsReading(readEnds) == readEnds.count)
        // A task that needs a cooperative thread still runs. Had the reads blocked those threads, this test
        // would go no further (tried: it hung for ten minutes); the bound only allows for a busy test run,
        // where other tests' synchronous waits hold the pool's threads too (5 s was once not enough).
        let asked = ContinuousClock.now
        let ran = await Task.detached { ContinuousClock.now }.value
        #expect(ran - asked < .seconds(30))
        // A line arrives; end of input ends the rest.
        _ = "hello\n".utf8CString.withUnsafeBufferPointer { write(writeEnds[0], $0.baseAddress, 6) }
        #expect(await readers[0].value == "hello")
        writeEnds.forEach { close($0) }
        for reader in readers.dropFirst() { #expect(await reader.value == nil) }
        readEnds.forEach { close($0) }
    }

    /// read(2)'s system call number, as /proc shows it.
    #if arch(x86_64)
        private static let readCall = "0"
    #else
        private static let readCall = "63"  // arm64, riscv64: the generic table
    #endif

    /// How many of this process's threads are blocked in read(2) on one of `fds`: Linux shows each thread's
    /// current system call in /proc, its number first, then its arguments (the descriptor, in hexadecimal).
    private func threadsReading(_ fds: [Int32]) -> Int {
        let wanted = Set(fds.map { "0x" + String($0, radix: 16) })
        let threads = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")) ?? []
        return threads.filter { thread in
            guard let call = try? String(contentsOfFile: "/proc/self/task/\(thread)/syscall", encoding: .utf8)
            else { return false }
            let fields = call.split(separator: " ")
            return fields.count > 1 && fields[0] == Self.readCall && wanted.contains(String(fields[1]))
        }.count
    }
}

@Suite("terminal")
struct TerminalTests {
    @Test("a file and /dev/null never block a write; a pipe may")
    func neverBlocks() throws {
        let path = "/tmp/mqtt-chat-never-blocks-\(getpid())"
        let file = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        defer {
            close(file)
            unlink(path)
        }
        let null = open("/dev/null", O_WRONLY)
        defer { close(null) }
        var ends: [Int32] = [0, 0]
        #expect(pipe(&ends) == 0)
        defer { ends.forEach { close($0) } }
        #expect(file >= 0 && null >= 0)
        #expect(Terminal.neverBlocks(file))
        #expect(Terminal.neverBlocks(null))
        #expect(!Terminal.neverBlocks(ends[1]))
        #expect(!Terminal.neverBlocks(-1))
    }
}
