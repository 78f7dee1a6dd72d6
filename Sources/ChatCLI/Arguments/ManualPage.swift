/// The tools' man pages, generated from their command declarations, in the basic man(7) macros.
///
/// OPTIONS describes what the tool takes without a command (its default subcommand's options). The options that
/// every other command shares with that (the connection options) are described there once, as "Common options",
/// and the section of each command names them instead of repeating them.
public enum ManualPage {
    /// The man(7) page of the tool whose root command is `root`, section 1, dated `date` (YYYY-MM-DD).
    public static func page(for root: CommandSpec, date: String) -> String {
        let page = Page(root)
        let tool = root.name
        // The version goes in the footer, beside the date.
        var roff = ".TH \(argument(tool.uppercased())) 1 \"\(date)\" "
        roff += "\(argument(root.version.map { "\(tool) \($0)" } ?? tool)) \"User Commands\"\n"
        var abstract = Substring(root.abstract)
        if abstract.hasSuffix(".") { abstract.removeLast() }  // a whatis line is not a sentence
        roff += ".SH NAME\n\(escaped(tool)) \\- \(escaped(String(abstract)))\n"
        roff += page.synopsisSection()
        roff += ".SH DESCRIPTION\n" + paragraphs(root.discussion.isEmpty ? root.abstract : root.discussion)
        roff += page.optionsSection()
        roff += page.commandsSection()
        return roff
    }

    /// What the sections of one page need to know of its commands.
    private struct Page {
        let root: CommandSpec
        /// Every command below the root, depth first.
        let commands: ArraySlice<ShellCompletions.Command>
        /// The path of the default subcommand (`["publisher", "send"]`), if any.
        let defaultPath: [String]?
        /// What OPTIONS describes: the root's own options and its default subcommand's.
        let mainOptions: [OptionSpec]
        /// Those of `mainOptions` that every other command that runs takes too: described once, for all.
        let common: [OptionSpec]

        init(_ root: CommandSpec) {
            let commands = ShellCompletions.Command.tree(root).dropFirst()
            let defaultSpec = root.defaultSubcommand?.spec
            let defaultPath = defaultSpec.map { [root.name, $0.name] }
            let mainOptions = root.options + (defaultSpec?.options ?? [])
            let runners = commands.filter { $0.subcommands.isEmpty && $0.path != defaultPath }
            self.root = root
            self.commands = commands
            self.defaultPath = defaultPath
            self.mainOptions = mainOptions
            common = mainOptions.filter { option in
                !runners.isEmpty && runners.allSatisfy { $0.spec.options.contains(option) }
            }
        }

        func synopsisSection() -> String {
            var lines: [String] = []
            // Without a command, the tool runs its default subcommand, or itself when it has no subcommands.
            if let runs = root.defaultSubcommand?.spec ?? (root.subcommands.isEmpty ? root : nil) {
                lines.append(synopsis([root.name], runs, hasSubcommands: false))
            }
            if !root.subcommands.isEmpty { lines.append(synopsis([root.name], root, hasSubcommands: true)) }
            if root.version != nil { lines.append(bold("\(root.name) --version")) }
            return ".SH SYNOPSIS\n" + lines.joined(separator: "\n.br\n") + "\n"
        }

        func optionsSection() -> String {
            var roff = ".SH OPTIONS\n"
            if let defaultPath {
                let name = bold(defaultPath.joined(separator: " "))
                roff += ".PP\nWithout a \\fIcommand\\fR, \(bold(root.name)) runs \(name).\n"
            }
            let help = CommandSpec.helpOption
            let rootOnly = [CommandSpec.versionOption, CommandSpec.completionScriptOption].filter {
                $0 != CommandSpec.versionOption || root.version != nil
            }
            roff += (mainOptions.filter { !common.contains($0) } + rootOnly).map(item).joined()
            if !common.isEmpty { roff += ".SS Common options\n.PP\nThe commands below take these options too.\n" }
            roff += (common + [help]).map(item).joined()
            return roff
        }

        /// A subsection per command: its synopsis, abstract, discussion, arguments, and the options OPTIONS does not
        /// describe; the others named.
        func commandsSection() -> String {
            guard !commands.isEmpty else { return "" }
            var roff = ".SH COMMANDS\n"
            for command in commands {
                let spec = command.spec
                roff += ".SS \(argument(command.pathName))\n"
                roff += synopsis(command.path, spec, hasSubcommands: !command.subcommands.isEmpty) + "\n"
                roff += paragraphs(spec.abstract) + paragraphs(spec.discussion)
                for argument in spec.arguments {
                    roff += ".TP\n\\fI\(escaped(argument.name))\\fR\n" + prose(argument.help)
                }
                if command.path == defaultPath {
                    roff += ".PP\nIts options are described under \\fBOPTIONS\\fR.\n"
                    continue
                }
                roff += spec.options.filter { !mainOptions.contains($0) }.map(item).joined()
                let described = spec.options.filter { mainOptions.contains($0) }
                guard !described.isEmpty else { continue }
                // "the common options" when it takes them all, with any others by name; else each by name.
                let takesCommon = !common.isEmpty && common.allSatisfy(described.contains)
                let named = takesCommon ? described.filter { !common.contains($0) } : described
                let names = (takesCommon ? ["the common options"] : []) + named.map { bold("--\($0.long)") }
                roff += ".PP\nIt also takes \(list(names)) (see \\fBOPTIONS\\fR).\n"
            }
            return roff
        }
    }

    /// `\fBpublisher group approve\fR [\fIoptions\fR] \fIgroup\fR \fIuser\fR`.
    static func synopsis(_ path: [String], _ spec: CommandSpec, hasSubcommands: Bool) -> String {
        var words = [bold(path.joined(separator: " "))]
        if hasSubcommands {
            words += ["\\fIcommand\\fR", "[\\fIoptions\\fR]", "[\\fIarguments\\fR]"]
        } else {
            if !spec.options.isEmpty { words.append("[\\fIoptions\\fR]") }
            for argument in spec.arguments {
                let name = "\\fI\(escaped(argument.name))\\fR"
                words.append(argument.optional ? "[\(name)]" : name)
            }
        }
        return words.joined(separator: " ")
    }

    /// An option as a tagged paragraph: `\fB\-h\fR, \fB\-\-host\fR \fIhost\fR`, then its help.
    static func item(_ option: OptionSpec) -> String {
        var tag = ShellCompletions.names(of: option).map(bold).joined(separator: ", ")
        if let valueName = option.valueName { tag += " \\fI\(escaped(valueName))\\fR" }
        return ".TP\n\(tag)\n" + prose(option.help)
    }

    /// A discussion: blank-line separated paragraphs of prose, in which lines indented by two spaces are examples,
    /// shown as they are (no-fill mode keeps their alignment).
    static func paragraphs(_ text: String) -> String {
        var roff = ""
        var prose: [Substring] = []
        var examples: [Substring] = []
        var startsParagraph = true
        func flush() {
            if startsParagraph && !(prose.isEmpty && examples.isEmpty) {
                roff += ".PP\n"
                startsParagraph = false
            }
            if !prose.isEmpty { roff += Self.prose(prose.joined(separator: "\n")) }
            if let longest = examples.map(\.count).max() {
                // Indented by 4 if the longest line still fits 80 columns (man indents by 7), else by less.
                roff += ".RS \(max(0, min(4, 73 - longest)))\n.nf\n"
                roff += examples.map { guarded(escaped(String($0), literally: true)) + "\n" }.joined()
                roff += ".fi\n.RE\n"
            }
            prose = []
            examples = []
        }
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.allSatisfy({ $0 == " " || $0 == "\t" }) {
                flush()
                startsParagraph = true
            } else if line.hasPrefix("  ") {
                if !prose.isEmpty { flush() }
                examples.append(line.dropFirst(2))
            } else {
                if !examples.isEmpty { flush() }
                prose.append(line.drop { $0 == " " })  // a leading space would break the filled line
            }
        }
        flush()
        return roff
    }

    /// Prose, each line guarded, with `code` in bold (and its apostrophes straight, to copy).
    static func prose(_ text: String) -> String {
        var roff = ""
        // A backtick without a partner is shown as it is.
        var pairedBackticks = text.count(where: { $0 == "`" }) / 2 * 2
        var inCode = false
        for character in text {
            if character == "`" && pairedBackticks > 0 {
                roff += inCode ? "\\fR" : "\\fB"
                inCode.toggle()
                pairedBackticks -= 1
            } else {
                roff += escaped(String(character), literally: inCode)
            }
        }
        return roff.split(separator: "\n", omittingEmptySubsequences: false).map { guarded(String($0)) + "\n" }.joined()
    }

    /// `text` for roff: hyphens as `\-` (minus signs, what a shell reads), backslashes, backticks, and anything beyond
    /// ASCII as `\[u00E9]`, whatever the encoding the page is read in. `literally` keeps apostrophes straight (groff
    /// would curl them), for code.
    static func escaped(_ text: String, literally: Bool = false) -> String {
        var roff = ""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "-": roff += "\\-"
            case "\\": roff += "\\e"
            case "`": roff += "\\(ga"
            case "'" where literally: roff += "\\(aq"
            case "\t", "\n", " "..."~": roff.unicodeScalars.append(scalar)
            case _ where scalar.value < 0x20 || scalar.value == 0x7F: break  // no control characters
            default:
                let hex = String(scalar.value, radix: 16, uppercase: true)
                roff += "\\[u" + String(repeating: "0", count: max(0, 4 - hex.count)) + hex + "]"
            }
        }
        return roff
    }

    /// A text line starting with `.` or `'` would be read as a request: `\&` protects it.
    static func guarded(_ line: String) -> String {
        line.hasPrefix(".") || line.hasPrefix("'") ? "\\&" + line : line
    }

    static func bold(_ text: String) -> String { "\\fB\(escaped(text))\\fR" }

    /// A macro's argument: quoted, its quotes escaped.
    static func argument(_ text: String) -> String {
        "\"" + escaped(text).replacing("\"", with: "\\(dq") + "\""
    }

    /// `a`, `a and b`, `a, b and c`.
    static func list(_ items: [String]) -> String {
        guard items.count > 1 else { return items.first ?? "" }
        return items.dropLast().joined(separator: ", ") + " and " + items[items.count - 1]
    }
}
