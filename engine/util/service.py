"""An object that lives in a spawned process; its methods are called over a pipe.

For the TUI: importing torch and sentence-transformers, and embedding thousands of
chunks, hold the interpreter lock for seconds, which would freeze the screen. In a
child process they do not, the object stays loaded between calls, and a cancel
kills the child (the next call starts a fresh one).
"""

from __future__ import annotations

import multiprocessing as mp
import threading
from collections.abc import Callable
from typing import Any

from ..errors import LlmbenchError
from .childproc import StopWatch, child_setup, ensure_resource_tracker, last_log_line, log_path

POLL_S = 0.1


class ServiceCancelled(LlmbenchError):
    code = "cancelled"


def _child(conn, factory: Callable[[], Any], log_file: str) -> None:
    child_setup(log_file)
    obj = factory()
    while True:
        try:
            method, args, kwargs, wants_progress = conn.recv()
        except (EOFError, OSError):
            return
        if wants_progress:
            kwargs["progress"] = lambda p: conn.send(("progress", p))
        try:
            conn.send(("ok", getattr(obj, method)(*args, **kwargs)))
        except LlmbenchError as exc:
            conn.send(("error", exc))
        except Exception as exc:  # noqa: BLE001 - one line for the user; the log keeps the rest
            conn.send(("error", LlmbenchError(f"{method}: {type(exc).__name__}: {exc}")))


class Service:
    """``factory()`` builds the object in the child. ``call`` is one request at a time."""

    def __init__(self, factory: Callable[[], Any], name: str):
        self.factory, self.name = factory, name
        self.proc = None
        self.conn = None
        self._lock = threading.Lock()

    def _start(self) -> None:
        ensure_resource_tracker()
        ctx = mp.get_context("spawn")
        self.log = log_path(self.name)
        parent, child = ctx.Pipe(duplex=True)
        self.proc = ctx.Process(
            target=_child, args=(child, self.factory, str(self.log)), daemon=True, name=f"llmbench-{self.name}"
        )
        self.proc.start()
        child.close()
        self.conn = parent

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.is_alive()

    def call(
        self,
        method: str,
        *args,
        progress: Callable[[Any], None] | None = None,
        cancelled: Callable[[], bool] = lambda: False,
        **kwargs,
    ) -> Any:
        """Run ``method`` in the child; ``cancelled()`` true kills it and raises ServiceCancelled."""
        with self._lock:
            if not self.alive:
                self._start()
            self.conn.send((method, args, kwargs, progress is not None))
            watch = StopWatch(self.proc.pid)
            while True:
                if cancelled():
                    self.stop()
                    raise ServiceCancelled(f"{method} cancelled")
                if not self.conn.poll(POLL_S):
                    stopped = watch.why()
                    if stopped or not self.proc.is_alive():
                        why = stopped or last_log_line(self.log) or f"exit code {self.proc.exitcode}"
                        self.stop()
                        raise LlmbenchError(f"the {self.name} process {'was given up' if stopped else 'died'} ({why})")
                    continue
                try:
                    kind, value = self.conn.recv()
                except (EOFError, OSError):
                    self.stop()
                    raise LlmbenchError(f"the {self.name} process died ({last_log_line(self.log)})") from None
                if kind == "progress":
                    if progress:
                        progress(value)
                    continue
                if kind == "error":
                    raise value
                return value

    def stop(self, graceful: bool = False) -> None:
        """Kill the child (a cancel), or let it exit on a closed pipe first (``graceful``)."""
        if self.conn is not None:
            self.conn.close()
        if self.proc is not None:
            if graceful:
                self.proc.join(2)
            if self.proc.is_alive():
                self.proc.kill()
            self.proc.join(2)
        self.proc = self.conn = None
