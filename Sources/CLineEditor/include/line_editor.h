#ifndef CLINEEDITOR_LINE_EDITOR_H
#define CLINEEDITOR_LINE_EDITOR_H

#include <stddef.h>

// The prompt's line editor: Debian's libedit (BSD), opened at run time, with the few things a chat prompt adds
// around it: lines printed above the one being typed, Tab completion answered by the caller, a history the
// caller fills. One editor per process; every call but chat_editor_read may come from any thread.

typedef struct chat_editor chat_editor;

/// What Tab does, as the caller decides it. The strings are malloc'd by the caller and freed by the editor.
typedef struct {
    /// How many characters before the cursor the insertion replaces (the word being completed).
    size_t replace;
    /// UTF-8 to put there, or NULL to leave the line as it is.
    char *insert;
    /// UTF-8 lines to show above the prompt (several matches), or NULL.
    char *listing;
} chat_completion;

/// Answers Tab for the UTF-8 text before the cursor (`length` bytes).
typedef void (*chat_complete_fn)(void *context, const char *before, size_t length, chat_completion *result);

/// Opens libedit and an editor on the terminal (stdin, stdout), keeping `history_size` lines. Returns NULL with a
/// one-line reason in `error` when libedit cannot be loaded or the terminal cannot be edited.
chat_editor *chat_editor_open(const char *program, int history_size, void *context, chat_complete_fn complete,
                              char *error, size_t error_size);

/// Reads one line (without its newline) after showing `prompt` (UTF-8): malloc'd UTF-8, or NULL at end of
/// input (Ctrl-D on an empty line, the terminal gone). Blocks; one thread calls it at a time.
char *chat_editor_read(chat_editor *editor, const char *prompt);

/// Adds a line (UTF-8) to the history that Up, Down and Ctrl-R search.
void chat_editor_remember(chat_editor *editor, const char *line);

/// Writes `bytes` to `fd` (the terminal), above the line being typed, which is drawn again below them.
void chat_editor_print(chat_editor *editor, int fd, const char *bytes, size_t length);

/// The terminal changed size (SIGWINCH): the line being typed is drawn again for the new width.
void chat_editor_resized(chat_editor *editor);

/// Gives the terminal back as it was (also done at exit).
void chat_editor_close(chat_editor *editor);

#endif
