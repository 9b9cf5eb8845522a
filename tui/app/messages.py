"""The messages the bridge (``tui.bridge``) posts to the views."""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from llmbench.engine.jobs import Progress
from llmbench.engine.runtime.events import Resources

REPLACEABLE = (Resources, Progress)  # they say where things stand now: a newer one makes an older one moot


@dataclass
class EngineEvent(Message):
    """One engine event (Resolved, Loaded, Started, Done, Error, Resources, Verdict,
    Prompt, a retrieval, progress ...) on a channel."""

    channel: str
    event: object

    def can_replace(self, message: Message) -> bool:
        """A resource sample or a progress report gives way to the next one of its channel."""
        return (
            isinstance(message, EngineEvent)
            and message.channel == self.channel
            and type(message.event) is type(self.event)
            and isinstance(self.event, REPLACEABLE)
        )


@dataclass
class TokenBatch(Message):
    """Tokens of one channel gathered over a few tens of milliseconds."""

    channel: str
    text: str
    count: int
    t_ns: int


@dataclass
class RunFinished(Message):
    """A run is over (finished, cancelled or failed)."""

    session: str | None
    error: str | None = None


class ReplayReset(Message):
    """A replay starts (again) from the beginning: the view empties its panes."""


@dataclass
class Ready(Message):
    """Background work a view asked for is done: what it gives (``value``), or why not (``error``)."""

    what: str
    value: object = None
    error: str | None = None
