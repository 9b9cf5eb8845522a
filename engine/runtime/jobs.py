"""What long work reports while it runs: ``Progress``, one event for every job
(indexing, bench, fidelity, the quantization matrix, evaluation), and the callback type
that receives it. A job's stage says what it is doing (``scan``, ``embed``, ``bench``,
``score``), ``done`` of ``total`` how far it is (total 0: not known yet)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Progress:
    stage: str  # "scan", "read", "embed", "index", "write", "bench", "score", …
    done: int
    total: int
    detail: str = ""
    rate: float | None = None  # items per second (chunks/s while embedding)
    unit: str = "chunks"  # what the rate counts


ProgressFn = Callable[[Progress], None]
