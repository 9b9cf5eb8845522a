"""One shape for long work: bench, fidelity, the quantization matrix and the
evaluation are ``Job``s. ``run()`` yields ``Progress`` (what it is doing, ``done`` of
``total``; total 0: not known yet) and the job's own partial results, then one
``Finished`` with the result; ``cancel()`` stops it after the step in hand, and the
result it then finishes with keeps what was done, marked ``partial``; ``close()`` ends
its worker processes, whatever happened (``run`` calls it too). ``finish()`` is the
result so far, for a driver that stops reading ``run`` (Ctrl-C). One CLI driver
(``tui/cli/jobs.py``) runs any of them. Indexing reports the same ``Progress``
through a callback (``ProgressFn``)."""

from __future__ import annotations

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
