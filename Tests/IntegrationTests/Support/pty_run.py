"""Runs a command on a pseudo-terminal, as a person at a terminal would.

Usage: pty_run.py COMMAND [ARG...] < lines
Each line of stdin is typed after the command shows a prompt ("> "). Lines starting with "@" are directives:

  @wait-for-file PATH     wait (at most 30 s) until PATH exists, leaving the prompt idle meanwhile
  @create-file PATH       create PATH (tells the test that everything before it happened)
  @wait-for-output TEXT   wait (at most 30 s) until the output has TEXT after what the last such wait found
  @wait-for-screen TEXT   wait (at most 30 s) until the screen shows TEXT (on one row)
  @keys TEXT              type TEXT at once, without waiting for a prompt; Python escapes (\\x1b[D, \\t, \\r)
  @resize ROWS COLS       resize the terminal (the command gets SIGWINCH)
  @screen PATH            write what the screen shows now to PATH, one line per row, trailing blanks dropped

The terminal is 24 x 80, TERM=xterm unless the environment names another. The screen is a VT100 emulator
(pyte) fed everything the command writes. The terminal's output is copied to stdout; the exit code is the
command's. Everything is bounded in time.
"""
import codecs
import fcntl
import os
import pty
import select
import struct
import sys
import termios
import time

import pyte

ROWS, COLS = 24, 80
os.environ.setdefault("TERM", "xterm")


def set_size(fd, rows, cols):
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


pid, fd = pty.fork()
if pid == 0:
    set_size(0, ROWS, COLS)
    os.execv(sys.argv[1], sys.argv[1:])

set_size(fd, ROWS, COLS)
screen = pyte.Screen(COLS, ROWS)
stream = pyte.ByteStream(screen)
lines = sys.stdin.read().splitlines(keepends=True)
output = b""
found = 0


def read_some(timeout):
    """Reads what the terminal shows within timeout; False at end of output."""
    global output
    ready, _, _ = select.select([fd], [], [], timeout)
    if not ready:
        return True
    try:
        data = os.read(fd, 65536)
    except OSError:
        return False
    if not data:
        return False
    output += data
    stream.feed(data)
    return True


def shown():
    return "\n".join(line.rstrip() for line in screen.display).rstrip("\n") + "\n"


alive = True
typed = 0
for line in lines:
    if line.startswith("@wait-for-file "):
        path, deadline = line.split(" ", 1)[1].strip(), time.time() + 30
        while alive and not os.path.exists(path) and time.time() < deadline:
            alive = read_some(0.05)
        continue
    if line.startswith("@create-file "):
        open(line.split(" ", 1)[1].strip(), "w").close()
        continue
    if line.startswith("@wait-for-output "):
        text, deadline = line.split(" ", 1)[1].rstrip("\n").encode(), time.time() + 30
        while alive and output.find(text, found) < 0 and time.time() < deadline:
            alive = read_some(0.05)
        at = output.find(text, found)
        found = at + len(text) if at >= 0 else found
        if at < 0:
            print(f"pty_run.py: the output never had {text!r}", file=sys.stderr)
        continue
    if line.startswith("@wait-for-screen "):
        text, deadline = line.split(" ", 1)[1].rstrip("\n"), time.time() + 30
        while alive and text not in "\n".join(screen.display) and time.time() < deadline:
            alive = read_some(0.05)
        if text not in "\n".join(screen.display):
            print(f"pty_run.py: the screen never showed {text!r}:\n{shown()}", file=sys.stderr)
        continue
    if line.startswith("@keys "):
        # Escapes become their bytes; any other text is typed as its UTF-8.
        raw = line.split(" ", 1)[1].rstrip("\n").encode("utf-8")
        os.write(fd, codecs.decode(raw, "unicode_escape").encode("latin-1"))
        continue
    if line.startswith("@resize "):
        rows, cols = (int(n) for n in line.split()[1:3])
        screen.resize(rows, cols)
        set_size(fd, rows, cols)
        continue
    if line.startswith("@screen "):
        # Whatever is already on its way first.
        while alive and select.select([fd], [], [], 0.2)[0]:
            alive = read_some(0)
        with open(line.split(" ", 1)[1].strip(), "w") as file:
            file.write(shown())
        continue
    deadline = time.time() + 10
    while alive and output.count(b"> ") <= typed and time.time() < deadline:
        alive = read_some(0.05)
    if not alive:
        break
    os.write(fd, line.encode())
    typed += 1

deadline = time.time() + 20
while alive and time.time() < deadline:
    alive = read_some(0.1)

sys.stdout.buffer.write(output)
sys.stdout.flush()
_, status = os.waitpid(pid, 0)
sys.exit(os.waitstatus_to_exitcode(status))
