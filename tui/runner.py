"""The one bridge between the engine and the UI: iterate events in a thread, post messages.

Tokens are gathered per side and posted every ``BATCH_S`` (or when another event of
that side comes), so a fast model sends ~20 messages a second, not one per token.
"""

from __future__ import annotations

import time
from typing import Callable, Iterable

from engine.types import Token

from .messages import EngineEvent, TokenBatch

BATCH_S = 0.1


def pump(events: Iterable[tuple[str, object]], post: Callable[[object], object]) -> None:
    """Forward ``events`` to ``post`` as messages, batching tokens. Runs in a worker thread."""
    pending: dict[str, list[Token]] = {}
    last_flush = time.monotonic()

    def flush(side: str | None = None) -> None:
        for s in [side] if side else list(pending):
            tokens = pending.pop(s, None)
            if tokens:
                post(TokenBatch(s, "".join(t.text for t in tokens), len(tokens), tokens[-1].t_ns))

    for side, event in events:
        if isinstance(event, Token):
            pending.setdefault(side, []).append(event)
        else:
            flush(side)
            post(EngineEvent(side, event))
        now = time.monotonic()
        if now - last_flush >= BATCH_S:
            flush()
            last_flush = now
    flush()
