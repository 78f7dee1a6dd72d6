import CLineEditor
import ChatProtocol
import Dispatch
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Line editing at the prompt, when both stdin and stdout are a terminal (and TERM is not `dumb`): libedit's
/// keys, the history of earlier runs (`PromptHistory`), Tab completion from what `complete` answers, and lines
/// printed meanwhile (`report`, the prompt's answers) shown above the line being typed, which is drawn again.
/// Anywhere else (a pipe, a file, -m) the tools read plain lines as they always did.
public final class LineEditor: @unchecked Sendable {
    /// The editor that owns the terminal now: what the tools write to it goes through `print`.
    static let active = Mutex<LineEditor?>(nil)

    private var editor: OpaquePointer?
    private let complete: (@Sendable (Substring) -> PromptCompletion)?
    private let history: Mutex<PromptHistory?>
    private var resizes: (any DispatchSourceSignal)?

    private init(history: PromptHistory?, complete: (@Sendable (Substring) -> PromptCompletion)?) {
        self.history = Mutex(history)
        self.complete = complete
    }

    /// An editor on the terminal, or nil where the tools read plain lines (not a terminal, TERM=dumb, no libedit).
    public static func open(
        history: PromptHistory?,
        complete: (@Sendable (Substring) -> PromptCompletion)? = nil
    ) -> LineEditor? {
        guard Terminal.isTerminal(0), Terminal.isTerminal(1) else { return nil }
        if let term = getenv("TERM"), String(cString: term) == "dumb" { return nil }
        let editor = LineEditor(history: history, complete: complete)
        var error = [CChar](repeating: 0, count: 256)
        let context = Unmanaged.passUnretained(editor).toOpaque()
        guard
            let handle = chat_editor_open(
                "mqtt-chat",
                Int32(PromptHistory.limit),
                context,
                completeCallback,
                &error,
                error.count
            )
        else { return nil }
        editor.editor = handle
        for line in editor.history.withLock({ $0?.load() ?? [] }) { chat_editor_remember(handle, line) }
        // SIGWINCH: the line is drawn again for the new width. Its default is to be ignored; Dispatch needs it so.
        signal(SIGWINCH, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: SIGWINCH)
        source.setEventHandler { chat_editor_resized(handle) }
        source.resume()
        editor.resizes = source
        active.withLock { $0 = editor }
        return editor
    }

    /// The next line typed after `prompt`, without its newline; nil at end of input (Ctrl-D). Blocks: call it
    /// on a thread of the tool's own (`Terminal.onOwnThread`).
    public func read(prompt: String) -> String? {
        guard let editor, let line = chat_editor_read(editor, prompt) else { return nil }
        defer { free(line) }
        let text = String(cString: line)
        if PromptHistory.keeps(text) {
            chat_editor_remember(editor, text)
            history.withLock { $0?.record(text) }
        }
        return text
    }

    /// Writes `bytes` to the terminal (`fd` 1 or 2) above the line being typed.
    func print(_ bytes: [UInt8], fd: Int32) {
        guard let editor else { return }
        bytes.withUnsafeBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) { chat_editor_print(editor, fd, $0.baseAddress, $0.count) }
        }
    }

    /// Gives the terminal back as it was.
    public func close() {
        Self.active.withLock { if $0 === self { $0 = nil } }
        resizes?.cancel()
        if let editor { chat_editor_close(editor) }
    }

    fileprivate func completion(_ before: Substring) -> PromptCompletion? { complete?(before) }
}

/// Tab, from libedit's thread (which holds the editor's lock): the caller's completion, as the C side wants it.
private let completeCallback: chat_complete_fn = { context, before, length, result in
    guard let context, let before, let result else { return }
    let editor = Unmanaged<LineEditor>.fromOpaque(context).takeUnretainedValue()
    let text = String(decoding: UnsafeRawBufferPointer(start: before, count: length), as: UTF8.self)
    guard let completion = editor.completion(text[...]) else { return }
    if let replacement = completion.replacement {
        result.pointee.replace = completion.word.unicodeScalars.count
        result.pointee.insert = strdup(replacement)
    } else if completion.candidates.count > 1 {
        result.pointee.listing = strdup(completion.candidates.joined(separator: "  ") + "\n")
    }
}

extension Terminal {
    /// Writes `bytes` to the terminal's `fd`: above the line being typed while a line editor owns it.
    public static func show(_ bytes: [UInt8], on fd: Int32) {
        if let editor = LineEditor.active.withLock({ $0 }) {
            editor.print(bytes, fd: fd)
        } else {
            writeAll(bytes, to: fd)
        }
    }
}
