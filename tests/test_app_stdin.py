"""`... | tracetui -`: the explorer reads the trace from the pipe and the keys from the terminal.

Textual's Linux driver reads keys from file descriptor 0; `keys_from_terminal` moves the pipe
to another descriptor (kept as sys.stdin, where the reader takes "-" from) and opens /dev/tty
on 0. The last test runs the real command under a pseudo-terminal, trace piped in.
"""

from __future__ import annotations

import io
import os
import select
import sys
import time

import pytest

from tracetui.app.app import create_app
from tracetui.app.run import keys_from_terminal, run_explorer
from tracetui.core.model import TraceError
from tracetui.core.pipeline import Settings

from .conftest import main_screen, press, ready
from .paths import OPENCODE

pytestmark = pytest.mark.usefixtures("frozen_terminal_size")


def test_dash_with_a_terminal_on_stdin_is_refused(monkeypatch):
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr(sys, "stdin", Tty())
    with pytest.raises(TraceError, match="from a pipe"):
        run_explorer("-", Settings())


def test_no_terminal_for_the_keys_is_one_error_line():
    with pytest.raises(TraceError, match="needs a terminal for the keys"):
        keys_from_terminal(tty="/nonexistent/tty")


def test_keys_from_terminal_moves_the_pipe_off_descriptor_0(monkeypatch):
    master, slave = os.openpty()
    read_end, write_end = os.pipe()
    os.write(write_end, b'{"input": "x"}\n')
    os.close(write_end)
    saved = os.dup(0)
    monkeypatch.setattr(sys, "stdin", sys.stdin)  # restored after the test
    try:
        os.dup2(read_end, 0)
        os.close(read_end)
        keys_from_terminal(tty=os.ttyname(slave))
        assert os.isatty(0)  # the driver's keys come from the terminal
        assert sys.stdin.buffer.read() == b'{"input": "x"}\n'  # the reader's "-" is the pipe
        sys.stdin.close()
    finally:
        os.dup2(saved, 0)
        os.close(saved)
        os.close(master)
        os.close(slave)


async def test_the_app_loads_a_trace_from_stdin(monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(OPENCODE.read_bytes())))
    app = create_app("-")
    async with app.run_test(size=(100, 32)) as pilot:
        await ready(pilot)
        ms = main_screen(app)
        assert len(ms.data) == 12 and ms.data.trace.name == "<stdin>"
        await press(pilot, "j")
        assert ms.prompt.doc.index == 1


@pytest.mark.skipif(not hasattr(os, "fork") or sys.platform == "win32", reason="needs a pseudo-terminal")
def test_piped_trace_under_a_real_terminal():
    """`cat trace | tracetui -` in a pseudo-terminal: the header shows <stdin>, j and q work, exit 0."""
    import fcntl
    import pty
    import struct
    import termios

    pid, fd = pty.fork()
    if pid == 0:  # the child: its terminal is the pty, its stdin the pipe from cat
        os.environ["TERM"] = "xterm-256color"
        cmd = f"cat {OPENCODE} | {sys.executable} -m tracetui -"
        os.execvp("sh", ["sh", "-c", cmd])
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
    out = b""
    sent = False
    pressed = 0.0
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        ready_fds, _, _ = select.select([fd], [], [], 0.2)
        if ready_fds:
            try:
                chunk = os.read(fd, 65536)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            out += chunk
        # The main screen's header ("12 req · 1 sess"), not the loading screen's early list
        # (whose "session" column would match "sess"); then q once j has shown request 1 (a
        # q right behind j could quit before the frame showing it is written).
        if not pressed and b"<stdin>" in out and b"12 req" in out:
            time.sleep(0.5)
            os.write(fd, b"j")
            pressed, mark = time.monotonic(), len(out)
        elif pressed and not sent and (b"#1" in out[mark:] or time.monotonic() - pressed > 20):
            os.write(fd, b"q")
            sent = True
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    text = out.decode("utf-8", "replace")
    assert sent, text[-2000:]
    assert os.waitstatus_to_exitcode(status) == 0
    assert "#1" in text  # j moved to request 1: the keys came from the terminal
