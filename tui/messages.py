"""Messages from the engine bridge (tui.runner) to the widgets."""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message


@dataclass
class EngineEvent(Message):
    """One engine event (Resolved, Loaded, Started, Done, Error, Resources, Verdict) for a side."""

    side: str
    event: object


@dataclass
class TokenBatch(Message):
    """Tokens of one side gathered over a few tens of milliseconds."""

    side: str
    text: str
    count: int
    t_ns: int


@dataclass
class RunFinished(Message):
    """The duel run is over (finished, cancelled or failed)."""

    session: str | None
    error: str | None = None
