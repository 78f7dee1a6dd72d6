/// `--help`: what a command is for, how to call it, its arguments, options and subcommands, in 80 columns.
public enum HelpText {
    static let width = 80
    /// Where the descriptions start: after `  -i, --id <id>` and room to spare.
    static let column = 26

    /// The help of `command`, reached from the root by the words in `path` (`["publisher", "group", "join"]`).
    public static func text(for command: CommandSpec, path: [String], isRoot: Bool) -> String {
        var out = ""
        out += wrap("OVERVIEW: " + command.abstract, indent: "") + "\n"
        if !command.discussion.isEmpty { out += "\n" + paragraphs(command.discussion) }
        out += "\nUSAGE: " + usage(for: command, path: path) + "\n"
        if !command.arguments.isEmpty {
            out += "\nARGUMENTS:\n"
            for argument in command.arguments { out += entry("<\(argument.name)>", argument.help) }
        }
        out += "\nOPTIONS:\n"
        for option in command.acceptedOptions(isRoot: isRoot) {
            out += entry((option.short.map { "-\($0), " } ?? "") + option.displayName, option.help)
        }
        if !command.subcommands.isEmpty {
            out += "\nSUBCOMMANDS:\n"
            for subcommand in command.subcommands {
                let name = subcommand.spec.name
                let isDefault = command.defaultSubcommand.map { $0.spec.name == name } ?? false
                out += entry(name + (isDefault ? " (default)" : ""), subcommand.spec.abstract)
            }
            let helpPath = ([path[0], "help"] + path.dropFirst()).joined(separator: " ")
            out += "\n  See '\(helpPath) <subcommand>' for detailed help.\n"
        }
        return out
    }

    /// `listener who [<options>] [<room>]`, `publisher group <subcommand>`.
    static func usage(for command: CommandSpec, path: [String]) -> String {
        var words = path
        if let fallback = command.defaultSubcommand {
            return usage(for: fallback.spec, path: words) + "\n       " + words.joined(separator: " ") + " <subcommand>"
        }
        if !command.subcommands.isEmpty { return (words + ["<subcommand>"]).joined(separator: " ") }
        if !command.options.isEmpty { words.append("[<options>]") }
        for argument in command.arguments {
            words.append(argument.optional ? "[<\(argument.name)>]" : "<\(argument.name)>")
        }
        return words.joined(separator: " ")
    }

    /// One entry: the names at two spaces, the description at `column` (on the next line if the names are long).
    static func entry(_ names: String, _ help: String) -> String {
        let lead = "  " + names
        let body = wrap(help, indent: String(repeating: " ", count: column))
        guard lead.count + 2 <= column else { return lead + "\n" + body + "\n" }
        return lead + body.dropFirst(lead.count) + "\n"
    }

    /// The discussion: prose paragraphs wrapped, example lines (indented) as they are.
    static func paragraphs(_ text: String) -> String {
        var out = ""
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.isEmpty || line.hasPrefix("  ") {
                out += line + "\n"
            } else {
                out += wrap(String(line), indent: "") + "\n"
            }
        }
        return out
    }

    /// Words of `text` in lines of at most `width` columns, each starting with `indent`.
    static func wrap(_ text: String, indent: String) -> String {
        var lines: [String] = []
        var line = indent
        for word in text.split(separator: " ") {
            if line.count > indent.count && line.count + 1 + word.count > width {
                lines.append(line)
                line = indent
            }
            line += (line.count > indent.count ? " " : "") + word
        }
        lines.append(line)
        return lines.joined(separator: "\n")
    }
}
