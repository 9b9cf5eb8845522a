"""The one road from engine events to the UI.

Every stream of ``(channel, event)`` pairs a tab shows (a duel, a chat, an
evaluation, the quantization matrix, an indexing run, a replay) goes through a
``Bridge``. Tokens of a channel are gathered and posted as one ``TokenBatch``: every
``BATCH_S`` once ``BATCH_TOKENS`` have come, else every ``2 * BATCH_S``. Each batch
is a screen update, so a model that slows down as its context fills is drawn less
often, and what the UI costs per token stays flat. Any other event is posted as an
``EngineEvent`` right after the tokens before it, so order is kept. Resource samples
and progress reports go at once without flushing the tokens (they are several a
second, and each batch is a redraw), and may be replaced by a newer one of the same
channel while the UI is busy (``EngineEvent.can_replace``), so a slow screen never
falls behind the engine.

``pump`` runs in a thread worker; ``feed``/``flush`` serve producers that call back
(indexing progress) and the replay timer.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable

from llmbench.engine.runtime.events import Token

from .messages import REPLACEABLE, EngineEvent, TokenBatch

BATCH_S = 0.25  # at most 4 batches (screen updates) a second
BATCH_TOKENS = 16  # and fewer when fewer tokens came, down to one batch every 2 * BATCH_S


class Bridge:
    def __init__(self, post: Callable[[object], object], batch_s: float = BATCH_S, batch_tokens: int = BATCH_TOKENS):
        self.post, self.batch_s, self.batch_tokens = post, batch_s, batch_tokens
        self._pending: dict[str, list[Token]] = {}
        self._last_flush = time.monotonic()
        self._lock = threading.Lock()

    def feed(self, channel: str, event: object) -> None:
        """One event: tokens wait for the next batch; anything else goes now, after them."""
        with self._lock:
            if isinstance(event, Token):
                self._pending.setdefault(channel, []).append(event)
            elif isinstance(event, REPLACEABLE):  # a sample: no need to flush the tokens (a redraw) for it
                self.post(EngineEvent(channel, event))
            else:
                self._flush(channel)
                self.post(EngineEvent(channel, event))
            waited = time.monotonic() - self._last_flush
            if waited >= self.batch_s and (waited >= 2 * self.batch_s or self._pending_count() >= self.batch_tokens):
                self._flush()

    def _pending_count(self) -> int:
        return sum(len(tokens) for tokens in self._pending.values())

    def flush(self) -> None:
        with self._lock:
            self._flush()

    def _flush(self, channel: str | None = None) -> None:
        for ch in [channel] if channel is not None else list(self._pending):
            tokens = self._pending.pop(ch, None)
            if tokens:
                self.post(TokenBatch(ch, "".join(t.text for t in tokens), len(tokens), tokens[-1].t_ns))
        if channel is None:
            self._last_flush = time.monotonic()

    def pump(
        self,
        events: Iterable[tuple[str, object]],
        cancelled: Callable[[], bool] = lambda: False,
        on_cancel: Callable[[], object] | None = None,
        keep: type | None = None,
    ) -> object | None:
        """Forward every event of ``events`` (in a worker thread), then what is left. When
        ``cancelled()`` turns true: ``on_cancel()`` (the run winds down and its events still
        come), or without one, stop here. Returns the last event of type ``keep``."""
        kept = None
        try:
            for channel, event in events:
                if cancelled():
                    if on_cancel is None:
                        break
                    on_cancel()
                if keep is not None and isinstance(event, keep):
                    kept = event
                self.feed(channel, event)
        finally:
            self.flush()
        return kept
