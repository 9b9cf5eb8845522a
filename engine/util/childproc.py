"""What every child process of llmbench needs: a log file for its output, an end when
its parent ends, the resource tracker started safely, and the last words of one that
died."""

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
