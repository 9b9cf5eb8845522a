"""The Backend protocol: load once, then generate as an iterator of typed events."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from typing import Protocol

from ..events import Event, Loaded
from ..params import GenParams

Message = dict  # {"role": "system" | "user" | "assistant", "content": str}


class Backend(Protocol):
    def load(self) -> Loaded:
        """Load the model; raise an LlmbenchError with a one-line message on failure."""

    def generate(self, messages: Sequence[Message], params: GenParams, cancel: threading.Event) -> Iterator[Event]:
        """Yield Started, Token* and one Done, or one Error. Check ``cancel`` between tokens."""

    def close(self) -> None:
        """Free the model."""
