"""The Backend protocol: load once, then generate as an iterator of typed events;
and ``Generating``, the part every backend shares."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from typing import Protocol

from ...errors import LlmbenchError
from ..events import Error, Event, Loaded
from ..params import GenParams
from ..prompt import prepare

Message = dict  # {"role": "system" | "user" | "assistant", "content": str}


class Backend(Protocol):
    def load(self) -> Loaded:
        """Load the model; raise an LlmbenchError with a one-line message on failure."""

    def generate(self, messages: Sequence[Message], params: GenParams, cancel: threading.Event) -> Iterator[Event]:
        """Yield Started, Token* and one Done, or one Error. Check ``cancel`` between tokens."""

    def close(self) -> None:
        """Free the model."""


class Generating:
    """``generate`` for a backend that writes ``_generate``: the parameters checked, and
    an LlmbenchError raised along the way turned into the answer's one Error event; the
    thread count the worker chooses per request (``set_threads``; ``RETUNES``: it can
    change between two tokens of an answer)."""

    RETUNES = False
    threads = 1

    def set_threads(self, n: int) -> None:
        self.threads = n

    def generate(self, messages: Sequence[Message], params: GenParams, cancel: threading.Event) -> Iterator[Event]:
        try:
            yield from self._generate(messages, params.validate(), cancel)
        except LlmbenchError as exc:
            yield Error(str(exc), exc.code)

    def _generate(self, messages: Sequence[Message], params: GenParams, cancel: threading.Event) -> Iterator[Event]:
        raise NotImplementedError

    def _prompt(self, messages: Sequence[Message], params: GenParams) -> tuple[list[int], int | None, int]:
        """The answer's prompt ids, the passages kept and the tokens that may follow
        (``prompt.prepare`` with this backend's tokenizer, context and depth)."""
        tokenize = lambda ms: self.tokenize(ms, params.raw)  # noqa: E731
        return prepare(messages, tokenize, self.n_ctx, params.max_tokens, self.model.name, params.depth)
