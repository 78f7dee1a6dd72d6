import ChatCLI
import Testing

#if canImport(Glibc)
    import Glibc
#endif

@Suite("blocking calls run on threads of their own")
struct OwnThreadTests {
    @Test("idle prompts wait for lines off Swift's cooperative threads, which stay free for other tasks")
    func idleReadsLeaveThePoolFree() async throws {
        // More idle prompts than the machine has cores, each waiting for a line that has not come.
        var writeEnds: [Int32] = []
        var inputs: [PromptInput] = []
        for _ in 0..<16 {
            var ends: [Int32] = [0, 0]
            #expect(pipe(&ends) == 0)
            writeEnds.append(ends[1])
            inputs.append(PromptInput(fd: ends[0], history: nil))
        }
        let readers = inputs.map { input in Task { await input.next(prompt: "") } }
        try await Task.sleep(for: .milliseconds(100))
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
