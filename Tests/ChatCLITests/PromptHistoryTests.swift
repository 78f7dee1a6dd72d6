import Foundation
import Testing

@testable import ChatCLI

@Suite("the prompt's history file")
struct PromptHistoryTests {
    func folder() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("history-\(UUID().uuidString)").path
    }

    @Test("what is kept: not empty, not a line typed with a leading space, not longer than the bound")
    func keeps() {
        #expect(PromptHistory.keeps("hello"))
        #expect(!PromptHistory.keeps(""))
        #expect(!PromptHistory.keeps(" secret"))
        #expect(PromptHistory.keeps(String(repeating: "x", count: PromptHistory.longestLine)))
        #expect(!PromptHistory.keeps(String(repeating: "x", count: PromptHistory.longestLine + 1)))
        #expect(PromptHistory.lines(Array("a\n\n b\nc\n".utf8)) == ["a", "c"])
    }

    @Test("appended as typed, mode 0600 in a folder of 0700, read back; bounded to the newest lines")
    func bounds() throws {
        let base = folder()
        var history = PromptHistory(path: base + "/deep/alice@host:1883")
        #expect(history.load() == [])
        history.record("one")
        history.record(" hidden")
        history.record("two")
        let file = try FileManager.default.attributesOfItem(atPath: history.path)
        #expect((file[.posixPermissions] as? Int) == 0o600)
        let directory = try FileManager.default.attributesOfItem(atPath: base + "/deep")
        #expect((directory[.posixPermissions] as? Int) == 0o700)
        var again = PromptHistory(path: history.path)
        #expect(again.load() == ["one", "two"])
        // Past twice the bound the file is rewritten with the newest lines only.
        for index in 0..<(2 * PromptHistory.limit) { again.record("line \(index)") }
        var later = PromptHistory(path: history.path)
        let lines = later.load()
        #expect(lines.count == PromptHistory.limit)
        #expect(lines.last == "line \(2 * PromptHistory.limit - 1)")
        let size = try String(contentsOfFile: history.path, encoding: .utf8).split(separator: "\n").count
        #expect(size <= 2 * PromptHistory.limit)
        try? FileManager.default.removeItem(atPath: base)
    }
}
