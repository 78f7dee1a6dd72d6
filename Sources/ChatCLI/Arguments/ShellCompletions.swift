/// The tools' shell completion scripts (`listener --generate-completion-script bash`), generated from the same
/// declarations as the parser, so they offer what it accepts.
///
/// The three scripts work alike: they walk the words before the cursor to find the command those reach (skipping
/// options and their values, descending at each subcommand's name until a first argument), then offer the value
/// of the option before the cursor, else that command's options (after a `-`), else its subcommands.
public enum ShellCompletions {
    /// The completion script for `shell` ("bash", "zsh" or "fish") of the tool whose root command is `root`; nil
    /// for another shell.
    public static func script(for root: CommandSpec, shell: String) -> String? {
        let commands = Command.tree(root)
        switch shell {
        case "bash": return bashScript(commands)
        case "zsh": return zshScript(commands)
        case "fish": return fishScript(commands)
        default: return nil
        }
    }

    /// The words that name `option`: `-h`, `--host`.
    static func names(of option: OptionSpec) -> [String] {
        (option.short.map { ["-\($0)"] } ?? []) + ["--\(option.long)"]
    }

    /// `text` as one word for bash or zsh: single-quoted, an apostrophe written `'\''`.
    static func shellQuoted(_ text: String) -> String {
        "'" + text.replacing("'", with: #"'\''"#) + "'"
    }

    /// `word` for bash or zsh: as it is when plain, else quoted.
    static func shellWord(_ word: String) -> String {
        isPlain(word) ? word : shellQuoted(word)
    }

    /// `text` as one word for fish, whose single quotes take `\'` and `\\`.
    static func fishQuoted(_ text: String) -> String {
        "'" + text.replacing(#"\"#, with: #"\\"#).replacing("'", with: #"\'"#) + "'"
    }

    /// Whether `word` means itself in every shell, unquoted (`json`, `3.1.1`, `--host`).
    static func isPlain(_ word: String) -> Bool {
        !word.isEmpty && word.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "-_./+,".contains($0)) }
    }
}

extension ShellCompletions {
    /// One command of a tool as the completions (and the man page) see it.
    struct Command {
        /// The words that reach it: `["publisher", "group", "approve"]`.
        var path: [String]
        var spec: CommandSpec
        var subcommands: [CommandSpec]
        /// Everything it takes: its options; the options of its default subcommand, which runs when no subcommand is
        /// named (`publisher -m hi` runs `publisher send`); the built-in ones.
        var options: [OptionSpec]

        /// `publisher group approve`: how the scripts name the command (the words have no spaces).
        var pathName: String { path.joined(separator: " ") }

        /// The root and every command under it, depth first.
        static func tree(_ root: CommandSpec) -> [Command] {
            var commands: [Command] = []
            func visit(_ spec: CommandSpec, _ path: [String]) {
                let options = spec.acceptedOptions(isRoot: path.count == 1)
                let subcommands = spec.subcommands.map { $0.spec }
                commands.append(Command(path: path, spec: spec, subcommands: subcommands, options: options))
                for subcommand in subcommands { visit(subcommand, path + [subcommand.name]) }
            }
            visit(root, [root.name])
            return commands
        }
    }
}

// MARK: - bash

extension ShellCompletions {
    /// bash: one function describes every command (`_TOOL_command`), the completion function walks the words with
    /// it. bash shows no descriptions, so only names are offered.
    static func bashScript(_ commands: [Command]) -> String {
        let tool = commands[0].path[0]
        let prefix = "_" + tool
        var table = ""
        for command in commands {
            table += "    \(shellQuoted(command.pathName)))\n"
            table += "        subcommands=(\(command.subcommands.map { shellWord($0.name) }.joined(separator: " ")))\n"
            table += "        options=(\(command.options.flatMap(names).map(shellWord).joined(separator: " ")))\n"
            let valued = command.options.filter(\.takesValue)
            guard !valued.isEmpty else {
                table += "        ;;\n"
                continue
            }
            // One case per completion, for the options that share it.
            var cases: [(settings: String, names: [String])] = []
            for option in valued {
                let settings: String
                switch option.completion {
                case .none: settings = "kind=value"
                case .file: settings = "kind=file"
                case .choices(let words):
                    settings = "kind=value values=(\(words.map(shellWord).joined(separator: " ")))"
                }
                if let index = cases.firstIndex(where: { $0.settings == settings }) {
                    cases[index].names += names(of: option)
                } else {
                    cases.append((settings, names(of: option)))
                }
            }
            table += "        case $2 in\n"
            for (settings, names) in cases {
                table += "        \(names.map(shellWord).joined(separator: "|"))) \(settings) ;;\n"
            }
            table += "        esac\n        ;;\n"
        }
        return #"""
            # bash completion for \#(tool), generated from its command declarations. Load it with
            # `source <(\#(tool) --generate-completion-script bash)`, or install it as
            # /usr/share/bash-completion/completions/\#(tool).

            # For the command at path $1 ("\#(tool)", "\#(tool) <subcommand>"...), sets subcommands and options (the
            # caller's locals); and for its option $2, when that takes a value, kind (value, or file for a file name)
            # and values (its choices, if any).
            \#(prefix)_command() {
                subcommands=() options=() kind='' values=()
                case $1 in
            \#(table)    esac
            }

            # Whether $1 is one of the other arguments.
            \#(prefix)_contains() {
                local word=$1 each
                shift
                for each; do [[ $each == "$word" ]] && return 0; done
                return 1
            }

            # Offers those of the other arguments that start with $1.
            \#(prefix)_offer() {
                local start=$1 each
                shift
                for each; do [[ $each == "$start"* ]] && COMPREPLY+=("$each"); done
                return 0
            }

            \#(prefix)() {
                local cur=${COMP_WORDS[COMP_CWORD]} path=\#(shellQuoted(tool)) pending='' arguments=0
                local word letters kind i j
                local -a subcommands options values
                COMPREPLY=()
                # Find the command the words before the cursor reach, and whether an option there awaits its value.
                for ((i = 1; i < COMP_CWORD; i++)); do
                    word=${COMP_WORDS[i]}
                    if [[ -n $pending ]]; then
                        # The pending option's value; bash splits `--format=json` in three words, the `=` joins them.
                        [[ $word == = && $pending == --* ]] || pending=''
                        continue
                    fi
                    case $word in
                    --) return 0 ;; # only arguments follow, and nothing completes them
                    --*)
                        \#(prefix)_command "$path" "$word"
                        [[ -n $kind ]] && pending=$word
                        ;;
                    -?*)
                        # Short options together (-dq 1): the first that takes a value takes the rest of the word, or
                        # else the next word.
                        letters=${word#-}
                        for ((j = 0; j < ${#letters}; j++)); do
                            \#(prefix)_command "$path" "-${letters:j:1}"
                            if [[ -n $kind ]]; then
                                ((j == ${#letters} - 1)) && pending=-${letters:j:1}
                                break
                            fi
                        done
                        ;;
                    *)
                        \#(prefix)_command "$path"
                        if ((arguments == 0)) && \#(prefix)_contains "$word" "${subcommands[@]}"; then
                            path+=" $word"
                        else
                            ((++arguments))
                        fi
                        ;;
                    esac
                done
                \#(prefix)_command "$path" "$pending"
                if [[ $kind == file ]]; then
                    [[ $cur == = ]] && cur=''
                    mapfile -t COMPREPLY < <(compgen -f -- "$cur")
                    return 0
                fi
                # Not file names: no slash after a word that happens to name a directory.
                compopt +o filenames 2>/dev/null
                if [[ -n $kind ]]; then
                    [[ $cur == = ]] && cur=''
                    \#(prefix)_offer "$cur" "${values[@]}"
                elif [[ $cur == -* ]]; then
                    \#(prefix)_offer "$cur" "${options[@]}"
                elif ((arguments == 0)); then
                    \#(prefix)_offer "$cur" "${subcommands[@]}"
                fi
                return 0
            }

            complete -o filenames -F \#(prefix) \#(tool)

            """#
    }
}

// MARK: - zsh

extension ShellCompletions {
    /// zsh: a function per command (`_publisher_group_approve`) hands its options and arguments to `_arguments`; a
    /// command with subcommands describes them, and passes the words after one to that one's function.
    static func zshScript(_ commands: [Command]) -> String {
        let tool = commands[0].path[0]
        var script = """
            #compdef \(tool)

            # zsh completion for \(tool), generated from its command declarations. Install it as _\(tool) in a
            # directory of $fpath, or load it with `source <(\(tool) --generate-completion-script zsh)` after compinit.


            """
        for command in commands {
            var specs = command.options.flatMap(zshSpecs)
            if command.subcommands.isEmpty {
                specs += command.spec.arguments.map { argument in
                    let message = argument.help.isEmpty ? argument.name : "\(argument.name): \(argument.help)"
                    // The action offers nothing and shows the message, but not after a `-`: there a message would
                    // keep zsh from inserting the one option that matches.
                    let action = "{[[ $PREFIX == -* ]] || _message \(shellQuoted(message))}"
                    return shellQuoted((argument.optional ? "::" : ":") + zshEscaped(argument.name) + ":" + action)
                }
            } else {
                // `(-)`: once the subcommand is named, this command's options are no longer offered.
                specs += [shellQuoted("(-): :->command"), shellQuoted("(-)*:: :->argument")]
            }
            let function = zshFunction(command.path)
            script += "\(function)() {\n"
            if !command.subcommands.isEmpty {
                script += "    local context state state_descr line\n    local -A opt_args\n    local -a subcommands\n"
            }
            // -s: short options together (-dq 1); -S: `--` ends the options; -C: sets $context for the states.
            script += "    _arguments -s -S\(command.subcommands.isEmpty ? "" : " -C") : \\\n"
            script += specs.map { "        " + $0 }.joined(separator: " \\\n")
            guard !command.subcommands.isEmpty else {
                script += "\n}\n\n"
                continue
            }
            let descriptions = command.subcommands.map { subcommand in
                "            " + shellQuoted(zshEscaped(subcommand.name) + ":" + subcommand.abstract) + "\n"
            }
            let dispatch = command.subcommands.map { subcommand in
                "        \(shellQuoted(subcommand.name))) \(zshFunction(command.path + [subcommand.name])) ;;\n"
            }
            script += """
                 && return
                    case $state in
                    command)
                        subcommands=(
                \(descriptions.joined())            )
                        _describe -t commands \(shellQuoted("\(command.pathName) command")) subcommands
                        ;;
                    argument)
                        # The words start at the subcommand's name here.
                        case $words[1] in
                \(dispatch.joined())            esac
                        ;;
                    esac
                }


                """
        }
        let main = zshFunction([tool])
        script += """
            # Autoloaded from $fpath, this file is the body of \(main): it defines the functions above, then completes.
            # Sourced, it registers \(main).
            if [[ $funcstack[1] == \(main) ]]; then
                \(main) "$@"
            else
                compdef \(main) \(tool)
            fi

            """
        return script
    }

    static func zshFunction(_ path: [String]) -> String {
        "_" + path.joined(separator: "_")
    }

    /// The `_arguments` specs of `option`, one per name: `(-h --host)-h+[Broker host.]:host: `.
    static func zshSpecs(_ option: OptionSpec) -> [String] {
        let names = names(of: option)
        // Each name excludes the others, unless the option may be given again.
        let exclusions = option.repeatable ? "*" : names.count > 1 ? "(\(names.joined(separator: " ")))" : ""
        var value = ""
        if let valueName = option.valueName {
            let action: String
            switch option.completion {
            case .none: action = " "  // the message alone, no candidates
            case .file: action = "_files"
            case .choices(let words): action = "(" + words.map(zshChoice).joined(separator: " ") + ")"
            }
            value = ":" + zshEscaped(valueName) + ":" + action
        }
        return names.map { name in
            // The value may follow in the next word, or in the same one: `-p1883`, `--port=1883`.
            let joining = option.takesValue ? (name.hasPrefix("--") ? "=" : "+") : ""
            let help = "[" + zshEscaped(option.help, inBrackets: true) + "]"
            return shellQuoted(exclusions + name + joining + help + value)
        }
    }

    /// Text inside a spec's `[...]` (`inBrackets`), where colons, brackets and backslashes take a backslash; or a
    /// `:message:`, where only colons do (a message would show any other backslash).
    static func zshEscaped(_ text: String, inBrackets: Bool = false) -> String {
        backslashed(text) { $0 == ":" || inBrackets && "\\[]".contains($0) }
    }

    /// A word of a `(a b c)` action, where the shell's special characters need a backslash.
    static func zshChoice(_ word: String) -> String {
        backslashed(word) { !isPlain(String($0)) }
    }

    /// `text` with a backslash before each character that `needsOne`.
    static func backslashed(_ text: String, where needsOne: (Character) -> Bool) -> String {
        var escaped = ""
        for character in text {
            if needsOne(character) { escaped.append("\\") }
            escaped.append(character)
        }
        return escaped
    }
}

// MARK: - fish

extension ShellCompletions {
    /// fish: one `complete` line per option and subcommand, each with a condition naming its command; a function
    /// walks the words to tell which command is being completed.
    static func fishScript(_ commands: [Command]) -> String {
        let tool = commands[0].path[0]
        let prefix = "__fish_" + tool
        var table = ""
        var lines = "complete -c \(fishQuoted(tool)) -f\n"
        for command in commands {
            table += "        case \(fishQuoted(command.pathName))\n"
            if !command.subcommands.isEmpty {
                table += "            set subcommands \(fishWords(command.subcommands.map(\.name)))\n"
            }
            let valued = command.options.filter(\.takesValue).flatMap(names)
            if !valued.isEmpty { table += "            set valued \(fishWords(valued))\n" }

            let complete = "complete -c \(fishQuoted(tool)) -n "
            let here = "\(prefix)_using \(fishQuoted(command.pathName))"
            for subcommand in command.subcommands {
                lines += complete + fishQuoted(here + " subcommand") + " -a \(fishQuoted(fishWords([subcommand.name])))"
                lines += " -d \(fishQuoted(subcommand.abstract))\n"
            }
            for option in command.options {
                lines += complete + fishQuoted(here)
                if let short = option.short { lines += " -s \(fishWords([String(short)]))" }
                lines += " -l \(fishWords([option.long]))"
                if option.takesValue {
                    switch option.completion {
                    case .none: lines += " -x"
                    case .file: lines += " -r -F"
                    // The -a text is read as fish words, so each word is quoted, then the whole.
                    case .choices(let words): lines += " -x -a \(fishQuoted(fishWords(words)))"
                    }
                }
                lines += " -d \(fishQuoted(option.help))\n"
            }
        }
        return #"""
            # fish completion for \#(tool), generated from its command declarations. Load it with
            # `\#(tool) --generate-completion-script fish | source`, or install it as
            # /usr/share/fish/vendor_completions.d/\#(tool).fish.

            # Prints the subcommands (with "subcommands") or the options that take a value (with "valued") of the
            # command at path $argv[1] ("\#(tool)", "\#(tool) <subcommand>"...), one a line.
            function \#(prefix)_words -a path what
                set -l subcommands
                set -l valued
                switch $path
            \#(table)    end
                if test "$what" = subcommands
                    string join \n -- $subcommands
                else
                    string join \n -- $valued
                end
            end

            # Prints the path of the command the words before the cursor reach, then how many arguments it was given.
            function \#(prefix)_state
                set -l words (commandline -opc)
                set -l path \#(fishQuoted(tool))
                set -l arguments 0
                set -l i 2
                while test $i -le (count $words)
                    set -l word $words[$i]
                    set i (math $i + 1)
                    set -l valued (\#(prefix)_words $path valued)
                    if test "$word" = --
                        # Only arguments follow.
                        set arguments (math $arguments + 1)
                        break
                    else if string match -q -- '--*' $word
                        # `--format json` (not `--format=json`) takes the next word.
                        contains -- $word $valued; and set i (math $i + 1)
                    else if string match -q -- '-?*' $word
                        # Short options together (-dq 1): the first that takes a value takes the rest of the word, or
                        # else the next word.
                        set -l letters (string split '' -- (string sub -s 2 -- $word))
                        for j in (seq (count $letters))
                            if contains -- -$letters[$j] $valued
                                test $j -eq (count $letters); and set i (math $i + 1)
                                break
                            end
                        end
                    else if test $arguments -eq 0; and contains -- $word (\#(prefix)_words $path subcommands)
                        set path "$path $word"
                    else
                        set arguments (math $arguments + 1)
                    end
                end
                echo $path
                echo $arguments
            end

            # Whether the command being completed is the one at path $argv[1]; with "subcommand" after it, also whether
            # it was given no argument yet, so that a subcommand's name may come.
            function \#(prefix)_using -a path mode
                set -l state (\#(prefix)_state)
                test "$state[1]" = "$path"; or return 1
                test "$mode" != subcommand; or test "$state[2]" = 0
            end

            \#(lines)
            """#
    }

    /// `words` as fish words, separated by spaces: plain ones as they are, others quoted.
    static func fishWords(_ words: [String]) -> String {
        words.map { isPlain($0) ? $0 : fishQuoted($0) }.joined(separator: " ")
    }
}
