"""What every child process of llmbench needs: a log file for its output, an end when
its parent ends, the resource tracker started safely, the last words of one that died,
and a parent that notices one stopped (``StopWatch``) instead of waiting forever."""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path

from .. import paths


def log_path(label: str) -> Path:
    return paths.cache_dir() / "logs" / f"worker-{label}.log"


PARENT_POLL_S = 0.25
STOPPED_S = 3.0  # a child stopped this long (SIGSTOP, a debugger) while the parent waits on it is failed


def child_setup(log_file: str) -> None:
    """The first call of every child: its output to ``log_file``, and its end when the
    parent ends, however that ends (SIGKILL, SIGHUP of an SSH drop, a crash): a child
    busy in a long native call never outlives its parent by more than PARENT_POLL_S."""
    import multiprocessing

    redirect_output(log_file)
    known = multiprocessing.parent_process()  # the spawner: it may be gone before this line runs
    parent = known.pid if known is not None else os.getppid()

    def watch() -> None:
        while os.getppid() == parent:  # a dead parent's children are handed to another
            time.sleep(PARENT_POLL_S)
        os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def die_with_parent() -> None:
    """For ``subprocess.Popen(preexec_fn=...)``: the child is killed when its parent ends,
    however that ends (Linux's ``PR_SET_PDEATHSIG``; elsewhere nothing: the parent's own
    cleanup stops it)."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes
    import signal

    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # 1: PR_SET_PDEATHSIG
    except OSError:
        pass


def redirect_output(log_file: str) -> None:
    """Send fds 1 and 2 to a log file (native libraries write there; in a TUI that would
    tear the screen). The log keeps a crash's last words for the error message."""
    try:
        Path(log_file).parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(log_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    except OSError:
        fd = os.open(os.devnull, os.O_WRONLY)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)


def last_log_line(log_file: Path) -> str | None:
    try:
        lines = [line.strip() for line in log_file.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return None
    return lines[-1][:200] if lines else None


def ensure_resource_tracker() -> None:
    """Start multiprocessing's resource tracker with the real stderr.

    The tracker passes ``sys.stderr.fileno()`` to its own process; under Textual
    (or any UI that swaps ``sys.stderr`` for an object without a real descriptor)
    that fails with "bad value(s) in fds_to_keep". Start it once against the
    process's original stderr instead.
    """
    from multiprocessing import resource_tracker

    swapped = sys.stderr
    try:
        if sys.__stderr__ is not None:
            sys.stderr = sys.__stderr__
        resource_tracker.ensure_running()
    finally:
        sys.stderr = swapped


class StopWatch:
    """For a parent waiting on a child: ``why()`` at each poll is the reason to give up
    once the child has been stopped (SIGSTOP, a debugger) for STOPPED_S, else None."""

    def __init__(self, pid: int | None):
        self.pid = pid
        self.since: float | None = None
        self._proc = None

    def why(self) -> str | None:
        import psutil

        try:
            self._proc = self._proc or psutil.Process(self.pid)
            stopped = self._proc.status() == psutil.STATUS_STOPPED
        except (psutil.Error, ValueError):
            return None
        now = time.monotonic()
        self.since = (self.since or now) if stopped else None
        if self.since is not None and now - self.since > STOPPED_S:
            return f"its process was stopped for {STOPPED_S:.0f} s: SIGSTOP or a debugger?"
        return None
