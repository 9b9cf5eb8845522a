"""The Backend protocol: every method the engine calls on a backend, declared once;
and ``Generating``, the part every backend shares.

A worker serves each request kind (``runtime.requests``) by calling one of these. A
backend that cannot do something (a server model has no local tokenizer or logits; a
local model has no server logprobs) still has the method: ``Generating``'s version
raises one line that says so, which reaches the user as the request's Error.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, ClassVar, Protocol

from ...errors import BackendUnavailable, LlmbenchError
from ..events import Error, Event, Loaded
from ..params import GenParams
from ..prompt import prepare

if TYPE_CHECKING:
    import numpy as np

    from ..scoring import PromptLogprobs, TextTokens
    from ..speed import BenchRequest, BenchSample

Message = dict  # {"role": "system" | "user" | "assistant", "content": str}


class Backend(Protocol):
    RETUNES: ClassVar[bool]  # its thread count can change between two tokens of an answer
    threads: int  # the threads it runs with now (``set_threads``)

    def load(self) -> Loaded:
        """Load the model; raise an LlmbenchError with a one-line message on failure."""

    def generate(self, messages: Sequence[Message], params: GenParams, cancel: threading.Event) -> Iterator[Event]:
        """Yield Started, Token* and one Done, or one Error. Check ``cancel`` between tokens."""

    def set_threads(self, n: int) -> None:
        """Run the next request (or the rest of this answer, where RETUNES) on ``n`` threads."""

    def text_tokens(self, text: str) -> TextTokens:
        """How the model's tokenizer reads a text (fidelity, bench)."""

    def encode(self, text: str, bos: bool = True) -> list[int]:
        """A text's token ids, with the BOS the model adds when ``bos``."""

    def pieces(self, ids: Sequence[int]) -> list[str]:
        """The text of each token id."""

    def detokenize(self, ids: Sequence[int]) -> str:
        """The text of the ids read together."""

    def logits(self, tokens: Sequence[int], first: int) -> np.ndarray:
        """The logits of the positions ``first ..`` of ``tokens``, one row each."""

    def bench(self, req: BenchRequest) -> BenchSample:
        """One llama-bench-style run, timed."""

    def prompt_logprobs(self, text: str, ids: list[int], top_n: int) -> PromptLogprobs:
        """A server's log-probabilities of a prompt's tokens."""

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

    def _cannot(self, what: str):
        kind = "a server model" if getattr(self.model, "backend", "") == "openai" else "a local model"
        raise BackendUnavailable(f"{self.model.name}: {kind} cannot {what} here")

    def text_tokens(self, text: str) -> TextTokens:
        self._cannot("tokenize a text")

    def encode(self, text: str, bos: bool = True) -> list[int]:
        self._cannot("tokenize a text")

    def pieces(self, ids: Sequence[int]) -> list[str]:
        self._cannot("read token ids")

    def detokenize(self, ids: Sequence[int]) -> str:
        self._cannot("read token ids")

    def logits(self, tokens: Sequence[int], first: int) -> np.ndarray:
        self._cannot("give its logits")

    def bench(self, req: BenchRequest) -> BenchSample:
        self._cannot("run llama-bench's timed passes")

    def prompt_logprobs(self, text: str, ids: list[int], top_n: int) -> PromptLogprobs:
        self._cannot("score a prompt through a server")

    def _prompt(self, messages: Sequence[Message], params: GenParams) -> tuple[list[int], int | None, int]:
        """The answer's prompt ids, the passages kept and the tokens that may follow
        (``prompt.prepare`` with this backend's tokenizer, context and depth)."""
        tokenize = lambda ms: self.tokenize(ms, params.raw)  # noqa: E731
        return prepare(messages, tokenize, self.n_ctx, params.max_tokens, self.model.name, params.depth)
