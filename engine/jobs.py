"""One shape for long work: bench, fidelity, the quantization matrix, the
evaluation, indexing, quantizing and a duel's round are ``Job``s. ``run()`` yields ``Progress`` (what it is doing, ``done`` of
``total``; total 0: not known yet) and the job's own partial results, then one
``Finished`` with the result; ``cancel()`` stops it after the step in hand, and the
result it then finishes with keeps what was done, marked ``partial``; ``close()`` ends
its worker processes, whatever happened (``run`` calls it too). ``finish()`` is the
result so far, for a driver that stops reading ``run`` (Ctrl-C). One CLI driver
(``tui/cli/jobs.py``) runs any of them. Work that reports through a callback
(``ProgressFn``: indexing, quantizing) becomes a job by ``ThreadJob``.

Every result is a dataclass derived from ``JobResult``: fields a front end reads by
name, ``partial`` and ``interrupted`` alike for all, and ``to_json()``, the dict that
``--format json`` prints, a session records and a report renders."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields, is_dataclass, replace
from typing import Any, Protocol, TypeVar


@dataclass(frozen=True)
class Progress:
    stage: str  # "scan", "read", "embed", "index", "write", "bench", "score", …
    done: int
    total: int
    detail: str = ""
    rate: float | None = None  # items per second (chunks/s while embedding)
    unit: str = "chunks"  # what the rate counts


ProgressFn = Callable[[Progress], None]


@dataclass(kw_only=True)
class JobResult:
    """What every job's result has: ``partial`` when it stopped before the end (a
    cancel, or a side that failed), ``interrupted`` when a driver stopped it (Ctrl-C)."""

    partial: bool = False
    interrupted: bool = False

    def to_json(self) -> dict:
        """The result as JSON takes it: its fields in order (``interrupted`` only when
        true), nested dataclasses as dicts (their own ``to_json`` where they have one)."""
        out = {f.name: _plain(getattr(self, f.name)) for f in fields(self) if f.name != "interrupted"}
        return out | ({"interrupted": True} if self.interrupted else {})


def _plain(value: Any) -> Any:
    if hasattr(value, "to_json"):
        return value.to_json()
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


@dataclass(kw_only=True)
class Recorded(JobResult):
    """The result of a job that records a session: its path, or why it could not."""

    session: str | None = None
    record_error: str | None = None


R = TypeVar("R", bound=JobResult)


def interrupted(result: R) -> R:
    """The result of a job a driver stopped (``partial`` as the job says: the stop may
    have come after its last step)."""
    return replace(result, interrupted=True)


@dataclass(frozen=True)
class Finished:
    """The last event of a job: its result, ``result.partial`` when it was cancelled."""

    result: JobResult


class Job(Protocol):
    def run(self) -> Iterator[Any]:
        """Progress, partial results, then one Finished."""

    def cancel(self) -> None:
        """Stop after the step in hand; ``run`` then yields its Finished, marked partial."""

    def close(self) -> None:
        """End the job's worker processes (idempotent)."""

    def finish(self) -> JobResult:
        """The result so far."""


class ThreadJob:
    """A job made of a function that reports through callbacks: ``work(progress,
    cancelled)`` runs in a thread and returns the result; its ``Progress`` reports are
    yielded here as they come. A cancel makes ``cancelled()`` true; the work stops at its
    next check, raising or returning, and the job finishes with ``partial()`` (the
    result of what a cancelled run leaves, marked partial). An error of the work is
    raised from ``run`` as it was."""

    def __init__(self, work: Callable[[ProgressFn, Callable[[], bool]], JobResult],
                 partial: Callable[[], JobResult]):  # fmt: skip
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
            self._outcome = ("result", replace(self._work(self._events.put, self._cancel.is_set), partial=False))
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

    def finish(self) -> JobResult:
        if self._thread is not None and self._cancel.is_set():
            self._thread.join()  # what a cancelled run left is known once its work has stopped
        if self._outcome is not None and self._outcome[0] == "result":  # it ended whole before the cancel
            return self._outcome[1]
        return replace(self._partial(), partial=True)


_END = object()
