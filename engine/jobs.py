"""One shape for long work: bench, fidelity, the quantization matrix, the
evaluation, indexing, quantizing and a duel's round are ``Job``s. ``run()`` yields ``Progress`` (what it is doing, ``done`` of
``total``; total 0: not known yet) and the job's own partial results, then one
``Finished`` with the result; ``cancel()`` stops it after the step in hand, and the
result it then finishes with keeps what was done, marked ``partial``; ``close()`` ends
its worker processes, whatever happened (``run`` calls it too). ``finish()`` is the
result so far, for a driver that stops reading ``run`` (Ctrl-C). One CLI driver
(``tui/cli/jobs.py``) runs any of them. Work that reports through a callback
(``ProgressFn``: indexing, quantizing) becomes a job by ``ThreadJob``."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class Progress:
    stage: str  # "scan", "read", "embed", "index", "write", "bench", "score", …
    done: int
    total: int
    detail: str = ""
    rate: float | None = None  # items per second (chunks/s while embedding)
    unit: str = "chunks"  # what the rate counts


ProgressFn = Callable[[Progress], None]


@dataclass(frozen=True)
class Finished:
    """The last event of a job: its result (a dict that JSON, sessions and reports take
    as is), ``result["partial"]`` true when it was cancelled."""

    result: dict


class Job(Protocol):
    def run(self) -> Iterator[Any]:
        """Progress, partial results, then one Finished."""

    def cancel(self) -> None:
        """Stop after the step in hand; ``run`` then yields its Finished, marked partial."""

    def close(self) -> None:
        """End the job's worker processes (idempotent)."""

    def finish(self) -> dict:
        """The result so far."""


class ThreadJob:
    """A job made of a function that reports through callbacks: ``work(progress,
    cancelled)`` runs in a thread and returns the result; its ``Progress`` reports are
    yielded here as they come. A cancel makes ``cancelled()`` true; the work stops at its
    next check, raising or returning, and the job finishes with ``partial()`` (the
    result of what a cancelled run leaves, marked partial). An error of the work is
    raised from ``run`` as it was."""

    def __init__(self, work: Callable[[ProgressFn, Callable[[], bool]], dict], partial: Callable[[], dict]):
        self._work, self._partial = work, partial
        self._events: queue.Queue = queue.Queue()
        self._cancel = threading.Event()
        self._thread: threading.Thread | None = None
        self._outcome: tuple[str, Any] | None = None

    def run(self) -> Iterator[Any]:
        self._thread = threading.Thread(target=self._main, name="llmbench-job", daemon=True)
        self._thread.start()
        while True:
            event = self._events.get()
            if event is _END:
                break
            yield event
        self._thread.join()
        kind, value = self._outcome or ("error", RuntimeError("the job ended without a result"))
        if kind == "error" and not self._cancel.is_set():
            raise value
        yield Finished(value if kind == "result" else self.finish())

    def _main(self) -> None:
        try:
            self._outcome = ("result", {**self._work(self._events.put, self._cancel.is_set), "partial": False})
        except BaseException as exc:  # handed to the reading thread, which raises it
            self._outcome = ("error", exc)
        finally:
            self._events.put(_END)

    def cancel(self) -> None:
        self._cancel.set()

    def close(self) -> None:
        """Stop the work and wait for it: what it started (a child process) is ended by it."""
        self._cancel.set()
        if self._thread is not None:
            self._thread.join()

    def finish(self) -> dict:
        if self._thread is not None and self._cancel.is_set():
            self._thread.join()  # what a cancelled run left is known once its work has stopped
        if self._outcome is not None and self._outcome[0] == "result":  # it ended whole before the cancel
            return self._outcome[1]
        return {**self._partial(), "partial": True}


_END = object()
