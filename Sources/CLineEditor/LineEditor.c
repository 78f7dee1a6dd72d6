// The prompt's line editor over libedit (Debian's libedit2, BSD-licensed; not GNU readline, whose GPL would bind
// the project). libedit does the editing: cursor keys, Home/End, Ctrl-A/E/K/U/W, UTF-8, long lines, history with
// Up/Down and Ctrl-R. What it does not do for a chat prompt is here:
// - Lines printed while someone types (a reconnect notice, an error) go above the line being typed, which is
//   then drawn again: the reading thread holds `lock` except while it waits for a key, and a printer takes it,
//   clears the line from the screen, writes, and has libedit draw it again (EL_REFRESH).
// - Keys are read here (EL_GETCFN), in chunks kept across lines, so pasted lines are all sent, in order.
// - Between lines the terminal stays in the editor's mode (EL_PREP_TERM), so what is typed or pasted while a
//   line is being sent is not echoed by the terminal and drawn again by the editor.
// - libedit is opened at run time, only by a prompt at a terminal: a one-shot publish or a pipe never loads it
//   (nor libtinfo, libbsd and libmd, which it brings).

// wcwidth
#define _GNU_SOURCE

#include "line_editor.h"

#include <dlfcn.h>
#include <errno.h>
#include <histedit.h>
#include <langinfo.h>
#include <locale.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>
#include <wchar.h>

// Every libedit function used: the struct field, then libedit's name.
#define EDIT_FUNCTIONS(X)                                                                                        \
    X(init, el_init)                                                                                             \
    X(end, el_end)                                                                                               \
    X(set, el_set)                                                                                               \
    X(wset, el_wset)                                                                                             \
    X(get, el_get)                                                                                               \
    X(wgets, el_wgets)                                                                                           \
    X(wline, el_wline)                                                                                           \
    X(winsertstr, el_winsertstr)                                                                                 \
    X(deletestr, el_deletestr)                                                                                   \
    X(resize, el_resize)                                                                                         \
    X(historyInit, history_winit)                                                                                \
    X(historyEnd, history_wend)                                                                                  \
    X(history, history_w)

static struct {
#define EDIT_FIELD(field, name) __typeof__(name) *field;
    EDIT_FUNCTIONS(EDIT_FIELD)
#undef EDIT_FIELD
} edit;

struct chat_editor {
    EditLine *el;
    HistoryW *history;
    // Held by the reading thread except while it waits for a key; taken by anyone who prints.
    pthread_mutex_t lock;
    // In el_wgets: the prompt and the line are on the screen.
    int editing;
    int closed;
    wchar_t *prompt;
    // Bytes read from the terminal and not yet given to libedit (a paste arrives in one read).
    unsigned char pending[4096];
    size_t pendingStart, pendingEnd;
    void *context;
    chat_complete_fn complete;
    struct termios saved;
};

// One editor per process (the terminal is one).
static chat_editor *only;

static int load(char *error, size_t errorSize) {
    static int loaded;
    if (loaded) return 0;
    void *library = dlopen("libedit.so.2", RTLD_NOW | RTLD_LOCAL);
    if (library == NULL) {
        snprintf(error, errorSize, "%s", dlerror());
        return -1;
    }
#define EDIT_RESOLVE(field, name)                                                                                \
    edit.field = (__typeof__(name) *)dlsym(library, #name);                                                      \
    if (edit.field == NULL) {                                                                                    \
        snprintf(error, errorSize, "libedit.so.2 has no %s", #name);                                            \
        return -1;                                                                                               \
    }
    EDIT_FUNCTIONS(EDIT_RESOLVE)
#undef EDIT_RESOLVE
    loaded = 1;
    return 0;
}

// UTF-8 without the C library's locale, so invalid input is dropped the same way whatever LC_CTYPE says.

static size_t encode(wchar_t c, char *out) {
    unsigned long v = (unsigned long)c;
    if (v < 0x80) {
        out[0] = (char)v;
        return 1;
    }
    if (v < 0x800) {
        out[0] = (char)(0xC0 | (v >> 6));
        out[1] = (char)(0x80 | (v & 0x3F));
        return 2;
    }
    if (v < 0x10000) {
        out[0] = (char)(0xE0 | (v >> 12));
        out[1] = (char)(0x80 | ((v >> 6) & 0x3F));
        out[2] = (char)(0x80 | (v & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (v >> 18));
    out[1] = (char)(0x80 | ((v >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((v >> 6) & 0x3F));
    out[3] = (char)(0x80 | (v & 0x3F));
    return 4;
}

// The bytes one character takes (1-4), 0 when more are needed, -1 when `s` does not start a UTF-8 character.
static int decode(const unsigned char *s, size_t n, wchar_t *out) {
    unsigned char first = s[0];
    int length = first < 0x80 ? 1 : (first & 0xE0) == 0xC0 ? 2 : (first & 0xF0) == 0xE0 ? 3 : (first & 0xF8) == 0xF0 ? 4 : -1;
    if (length < 0 || (length == 2 && first < 0xC2)) return -1;
    if ((size_t)length > n) {
        for (size_t i = 1; i < n; i++)
            if ((s[i] & 0xC0) != 0x80) return -1;
        return 0;
    }
    unsigned long v = length == 1 ? first : first & (0x7F >> length);
    for (int i = 1; i < length; i++) {
        if ((s[i] & 0xC0) != 0x80) return -1;
        v = (v << 6) | (s[i] & 0x3F);
    }
    if ((length == 3 && v < 0x800) || (length == 4 && (v < 0x10000 || v > 0x10FFFF)) || (v >= 0xD800 && v <= 0xDFFF))
        return -1;
    *out = (wchar_t)v;
    return length;
}

static char *toUTF8(const wchar_t *start, const wchar_t *end, size_t *length) {
    char *text = malloc((size_t)(end - start) * 4 + 1);
    size_t count = 0;
    for (const wchar_t *c = start; c < end; c++) count += encode(*c, text + count);
    text[count] = 0;
    if (length) *length = count;
    return text;
}

static wchar_t *fromUTF8(const char *text) {
    size_t n = strlen(text), count = 0, at = 0;
    wchar_t *wide = malloc((n + 1) * sizeof(wchar_t));
    while (at < n) {
        int used = decode((const unsigned char *)text + at, n - at, &wide[count]);
        if (used <= 0) {
            at++;
            continue;
        }
        at += (size_t)used;
        count++;
    }
    wide[count] = 0;
    return wide;
}

static void writeAll(int fd, const char *bytes, size_t length) {
    while (length > 0) {
        ssize_t written = write(fd, bytes, length);
        if (written < 0) {
            if (errno == EINTR) continue;
            return;
        }
        bytes += written;
        length -= (size_t)written;
    }
}

// libedit's key reader (EL_GETCFN): one character from what the terminal sent, waiting without the lock.
static int readCharacter(EditLine *el, wchar_t *out) {
    (void)el;
    chat_editor *editor = only;
    for (;;) {
        size_t available = editor->pendingEnd - editor->pendingStart;
        if (available > 0) {
            int used = decode(editor->pending + editor->pendingStart, available, out);
            if (used > 0) {
                editor->pendingStart += (size_t)used;
                return 1;
            }
            if (used < 0) {  // not UTF-8: dropped
                editor->pendingStart++;
                continue;
            }
        }
        memmove(editor->pending, editor->pending + editor->pendingStart, available);
        editor->pendingStart = 0;
        editor->pendingEnd = available;
        pthread_mutex_unlock(&editor->lock);
        ssize_t count = read(STDIN_FILENO, editor->pending + available, sizeof editor->pending - available);
        int error = errno;
        pthread_mutex_lock(&editor->lock);
        if (count < 0 && error == EINTR) continue;
        if (count <= 0) {
            *out = 0;
            errno = error;
            return count == 0 ? 0 : -1;
        }
        editor->pendingEnd += (size_t)count;
    }
}

static wchar_t *showPrompt(EditLine *el) {
    (void)el;
    return only->prompt;
}

// Columns `start`..`end` take on the screen, as libedit draws them (a control character as ^X).
static int widthOf(const wchar_t *start, const wchar_t *end) {
    int width = 0;
    for (const wchar_t *c = start; c < end; c++) {
        if (*c < 0x20 || *c == 0x7F) {
            width += 2;
        } else {
            int w = wcwidth(*c);
            width += w < 0 ? 1 : w;
        }
    }
    return width;
}

static int columns(chat_editor *editor) {
    int co = 80;
    if (edit.get(editor->el, EL_GETTC, "co", &co) != 0 || co < 2) co = 80;
    return co;
}

// The rows of the screen, counted from the prompt's, that the cursor and the line's end are on.
static void rows(chat_editor *editor, int *cursor, int *last) {
    const LineInfoW *line = edit.wline(editor->el);
    int prompt = widthOf(editor->prompt, editor->prompt + wcslen(editor->prompt));
    int co = columns(editor);
    *cursor = (prompt + widthOf(line->buffer, line->cursor)) / co;
    *last = (prompt + widthOf(line->buffer, line->lastchar)) / co;
}

// Clears the prompt and the line from the screen, leaving the cursor where the prompt began.
static void clearLine(chat_editor *editor) {
    int cursor, last;
    rows(editor, &cursor, &last);
    char move[32];
    int length = cursor > 0 ? snprintf(move, sizeof move, "\r\033[%dA\033[J", cursor) : snprintf(move, sizeof move, "\r\033[J");
    fflush(stdout);
    writeAll(STDOUT_FILENO, move, (size_t)length);
}

// Moves the cursor below the line being typed, to the start of a fresh row.
static void moveBelowLine(chat_editor *editor) {
    int cursor, last;
    rows(editor, &cursor, &last);
    char move[32];
    int moved = last > cursor ? snprintf(move, sizeof move, "\033[%dB", last - cursor) : 0;
    fflush(stdout);
    writeAll(STDOUT_FILENO, move, (size_t)moved);
    writeAll(STDOUT_FILENO, "\r\n", 2);
}

// Tab: what the caller answers for the text before the cursor. Several matches are listed below the line, as
// shells do, and the prompt comes again under them.
static unsigned char completeKey(EditLine *el, int key) {
    (void)key;
    chat_editor *editor = only;
    const LineInfoW *line = edit.wline(el);
    size_t length;
    char *before = toUTF8(line->buffer, line->cursor, &length);
    size_t typed = (size_t)(line->cursor - line->buffer);
    chat_completion result = {0, NULL, NULL};
    editor->complete(editor->context, before, length, &result);
    free(before);
    if (result.listing) {
        moveBelowLine(editor);
        writeAll(STDOUT_FILENO, result.listing, strlen(result.listing));
        edit.set(el, EL_REFRESH);
        free(result.listing);
    }
    int changed = 0;
    if (result.insert) {
        wchar_t *wide = fromUTF8(result.insert);
        if (result.replace <= typed) {
            edit.deletestr(el, (int)result.replace);
            edit.winsertstr(el, wide);
            changed = 1;
        }
        free(wide);
        free(result.insert);
    }
    return changed || result.listing ? CC_REFRESH : CC_REFRESH_BEEP;
}

static void restoreAtExit(void) {
    chat_editor *editor = only;
    if (editor == NULL) return;
    // The reading thread may be in the middle of a key: then the line stays as it is.
    if (pthread_mutex_trylock(&editor->lock) == 0) {
        if (editor->editing && !editor->closed) moveBelowLine(editor);
        pthread_mutex_unlock(&editor->lock);
    }
    tcsetattr(STDIN_FILENO, TCSADRAIN, &editor->saved);
}

chat_editor *chat_editor_open(const char *program, int historySize, void *context, chat_complete_fn complete,
                              char *error, size_t errorSize) {
    if (only != NULL) {
        snprintf(error, errorSize, "the terminal has an editor already");
        return NULL;
    }
    if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)) {
        snprintf(error, errorSize, "not a terminal");
        return NULL;
    }
    if (load(error, errorSize) != 0) return NULL;
    chat_editor *editor = calloc(1, sizeof *editor);
    if (tcgetattr(STDIN_FILENO, &editor->saved) != 0) {
        snprintf(error, errorSize, "tcgetattr: %s", strerror(errno));
        free(editor);
        return NULL;
    }
    // Chat is UTF-8: libedit measures characters with the C library's wcwidth, which needs a UTF-8 LC_CTYPE.
    setlocale(LC_CTYPE, "");
    if (strcmp(nl_langinfo(CODESET), "UTF-8") != 0) setlocale(LC_CTYPE, "C.UTF-8");
    pthread_mutex_init(&editor->lock, NULL);
    editor->prompt = fromUTF8("");
    editor->context = context;
    editor->complete = complete;
    only = editor;
    editor->el = edit.init(program, stdin, stdout, stderr);
    if (editor->el == NULL) {
        snprintf(error, errorSize, "el_init failed");
        only = NULL;
        free(editor);
        return NULL;
    }
    HistEventW event;
    editor->history = edit.historyInit();
    edit.history(editor->history, &event, H_SETSIZE, historySize);
    edit.history(editor->history, &event, H_SETUNIQUE, 1);
    edit.wset(editor->el, EL_HIST, edit.history, editor->history);
    edit.set(editor->el, EL_EDITOR, "emacs");
    edit.wset(editor->el, EL_PROMPT, showPrompt);
    edit.set(editor->el, EL_GETCFN, readCharacter);
    edit.set(editor->el, EL_ADDFN, "chat-complete", "Complete a command, a room or a name", completeKey);
    // Tab completes; Ctrl-U and Ctrl-W as in readline and the shells (to the line's start, the word before);
    // Delete, Home and End as the common terminals send them.
    edit.set(editor->el, EL_BIND, "^I", "chat-complete", NULL);
    edit.set(editor->el, EL_BIND, "^U", "vi-kill-line-prev", NULL);
    edit.set(editor->el, EL_BIND, "^W", "ed-delete-prev-word", NULL);
    edit.set(editor->el, EL_BIND, "\\e[3~", "ed-delete-next-char", NULL);
    edit.set(editor->el, EL_BIND, "\\e[1~", "ed-move-to-beg", NULL);
    edit.set(editor->el, EL_BIND, "\\e[4~", "ed-move-to-end", NULL);
    edit.set(editor->el, EL_BIND, "\\e[1;5C", "em-next-word", NULL);
    edit.set(editor->el, EL_BIND, "\\e[1;5D", "ed-prev-word", NULL);
    edit.set(editor->el, EL_PREP_TERM, 1);
    static int registered;
    if (!registered) {
        atexit(restoreAtExit);
        registered = 1;
    }
    return editor;
}

char *chat_editor_read(chat_editor *editor, const char *prompt) {
    pthread_mutex_lock(&editor->lock);
    free(editor->prompt);
    editor->prompt = fromUTF8(prompt);
    editor->editing = 1;
    int count = 0;
    const wchar_t *line = edit.wgets(editor->el, &count);
    editor->editing = 0;
    char *text = NULL;
    if (line != NULL && count > 0) {
        const wchar_t *end = line + count;
        if (end > line && end[-1] == L'\n') end--;
        text = toUTF8(line, end, NULL);
    } else {
        // End of input (Ctrl-D): the next output starts on a line of its own.
        writeAll(STDOUT_FILENO, "\r\n", 2);
    }
    edit.set(editor->el, EL_PREP_TERM, 1);
    pthread_mutex_unlock(&editor->lock);
    return text;
}

void chat_editor_remember(chat_editor *editor, const char *line) {
    pthread_mutex_lock(&editor->lock);
    wchar_t *wide = fromUTF8(line);
    HistEventW event;
    edit.history(editor->history, &event, H_ENTER, wide);
    free(wide);
    pthread_mutex_unlock(&editor->lock);
}

void chat_editor_print(chat_editor *editor, int fd, const char *bytes, size_t length) {
    pthread_mutex_lock(&editor->lock);
    int redraw = editor->editing && !editor->closed;
    if (redraw) clearLine(editor);
    writeAll(fd, bytes, length);
    if (redraw) edit.set(editor->el, EL_REFRESH);
    pthread_mutex_unlock(&editor->lock);
}

void chat_editor_resized(chat_editor *editor) {
    pthread_mutex_lock(&editor->lock);
    if (editor->editing && !editor->closed) {
        clearLine(editor);
        edit.resize(editor->el);
        edit.set(editor->el, EL_REFRESH);
    } else if (!editor->closed) {
        edit.resize(editor->el);
    }
    pthread_mutex_unlock(&editor->lock);
}

void chat_editor_close(chat_editor *editor) {
    pthread_mutex_lock(&editor->lock);
    if (!editor->closed) {
        editor->closed = 1;
        edit.set(editor->el, EL_PREP_TERM, 0);
        tcsetattr(STDIN_FILENO, TCSADRAIN, &editor->saved);
    }
    pthread_mutex_unlock(&editor->lock);
}
