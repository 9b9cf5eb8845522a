"""Checks that several test modules share."""

import re
import sys
from pathlib import Path

LLMBENCH = str(Path(sys.executable).with_name("llmbench"))  # the installed command, in this venv


def is_one_run_verdict(line: str) -> bool:
    """The verdict of one run each: speeds and no ratio, or none at all because one side ran
    on a busy host and the other on a quiet one (a test cannot choose how busy CI is)."""
    return line.startswith("one run each, no interval: ") or bool(
        re.match(r"no verdict: .+ ran on a busy host \(host busy: .+\), .+ on a quiet one", line)
    )


class Terminal:
    """A program in a pseudo-terminal of a given size, read as it draws: what a person at
    an SSH session has. ``write`` sends its bytes in one write, as a burst of keys arrives."""

    def __init__(self, argv: list[str], env: dict, cols: int = 80, rows: int = 24):
        import fcntl
        import os
        import pty
        import struct
        import termios
        import threading

        env = {**env, "TERM": "xterm-256color", "COLUMNS": str(cols), "LINES": str(rows)}
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child: the program itself
            os.execvpe(argv[0], argv, env)
        fcntl.ioctl(self.fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        self.seen = bytearray()
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self) -> None:
        import os

        while True:
            try:
                data = os.read(self.fd, 65536)
            except OSError:
                return
            if not data:
                return
            self.seen += data
            del self.seen[: -(1 << 20)]  # the last MiB: a long run streams far more

    def wait_for(self, text: bytes, timeout: float = 60.0) -> None:
        import time

        end = time.monotonic() + timeout
        while text not in self.seen:
            assert time.monotonic() < end, f"the program never showed {text!r}"
            time.sleep(0.05)

    def write(self, data: bytes) -> None:
        import os

        os.write(self.fd, data)

    def close(self) -> int | None:
        """Ctrl+Q, then the exit status (the program is killed if it has not ended in 20 s)."""
        import os
        import signal
        import time

        self.write(b"\x11")
        end = time.monotonic() + 20
        while time.monotonic() < end:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                return os.waitstatus_to_exitcode(status)
            time.sleep(0.05)
        os.kill(self.pid, signal.SIGKILL)
        os.waitpid(self.pid, 0)
        return None
