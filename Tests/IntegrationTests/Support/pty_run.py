"""Runs a command on a pseudo-terminal, as a person at a terminal would.

Usage: pty_run.py COMMAND [ARG...] < lines
Each line of stdin is typed after the command shows a prompt ("> "). A line "@wait-for-file PATH" is not
typed: the person waits (at most 30 s) until PATH exists, leaving the prompt idle meanwhile. The terminal's
output is copied to stdout; the exit code is the command's. Everything is bounded in time.
"""
import os
import pty
import select
import sys
import time

pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[1], sys.argv[1:])

lines = sys.stdin.read().splitlines(keepends=True)
output = b""


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
    return True


alive = True
typed = 0
for line in lines:
    if line.startswith("@wait-for-file "):
        path, deadline = line.split(" ", 1)[1].strip(), time.time() + 30
        while alive and not os.path.exists(path) and time.time() < deadline:
            alive = read_some(0.05)
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
