"""Runs a command on a pseudo-terminal, as a person at a terminal would.

Usage: pty_run.py COMMAND [ARG...] < lines
Each line of stdin is typed after the command shows a prompt ("> "). The terminal's output is copied to
stdout; the exit code is the command's. Everything is bounded in time.
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
for index, line in enumerate(lines):
    deadline = time.time() + 10
    while alive and output.count(b"> ") <= index and time.time() < deadline:
        alive = read_some(0.05)
    if not alive:
        break
    os.write(fd, line.encode())

deadline = time.time() + 20
while alive and time.time() < deadline:
    alive = read_some(0.1)

sys.stdout.buffer.write(output)
sys.stdout.flush()
_, status = os.waitpid(pid, 0)
sys.exit(os.waitstatus_to_exitcode(status))
