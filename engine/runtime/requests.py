"""What the parent asks a worker process: one dataclass per kind of request, and one
table (``SERVE``) that says how the worker serves each.

A request crosses the pipe as itself (pickled); its events come back to the
``ModelWorker``'s sink. ``Cancel`` and ``Close`` are the two control messages; they are
not queued behind a request. The parent never builds these by hand: ``ModelWorker`` has a
method per kind (``worker.tokenize(text)``, ``worker.score(request)``, …).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from . import scoring
from .events import Error, Event
from .params import GenParams
from .speed import BenchRequest


@dataclass(frozen=True)
class Generate:
    """An answer: Started, Token*, one Done (or one Error)."""

    messages: list[dict]
    params: GenParams


@dataclass(frozen=True)
class Tokenize:
    """How the model's tokenizer reads a text: one ``TextTokens``."""

    text: str


@dataclass(frozen=True)
class PiecesOf:
    """The text of each token id: one ``Pieces`` with a text per id."""

    ids: list[int]


@dataclass(frozen=True)
class Detokenize:
    """The text of token ids read together: one ``Pieces`` with one text."""

    ids: list[int]


@dataclass(frozen=True)
class ServerLogprobs:
    """A server's log-probabilities of a prompt's tokens (``openai:`` models): one ``PromptLogprobs``."""

    text: str
    tokens: list[int]
    top_n: int


@dataclass(frozen=True)
class Cancel:
    """Stop the request in progress at its next token."""


@dataclass(frozen=True)
class Close:
    """Free the model and end the process."""


# scoring.ScoreRequest (one chunk scored from the logits), scoring.ChoicesRequest (answer
# choices' log-likelihoods) and speed.BenchRequest (one llama-bench test) are requests too.
Request = Generate | Tokenize | PiecesOf | Detokenize | ServerLogprobs | scoring.ScoreRequest | scoring.ChoicesRequest | BenchRequest  # fmt: skip
Serve = Callable[[object, object, threading.Event], Iterator[Event]]

SERVE: dict[type, Serve] = {
    Generate: lambda b, r, cancel: b.generate(r.messages, r.params, cancel),
    Tokenize: lambda b, r, _: iter([b.text_tokens(r.text)]),
    PiecesOf: lambda b, r, _: iter([scoring.Pieces(list(r.ids), b.pieces(r.ids))]),
    Detokenize: lambda b, r, _: iter([scoring.Pieces(list(r.ids), [b.detokenize(r.ids)])]),
    ServerLogprobs: lambda b, r, _: iter([b.prompt_logprobs(r.text, r.tokens, r.top_n)]),
    scoring.ScoreRequest: lambda b, r, _: iter([scoring.serve(b, r, b.threads)]),
    scoring.ChoicesRequest: lambda b, r, _: iter([scoring.likelihoods(b, r)]),
    BenchRequest: lambda b, r, _: iter([b.bench(r)]),
}


def serve(backend, request: object, cancel: threading.Event) -> Iterator[Event]:
    """The events of one request, through ``SERVE``."""
    handler = SERVE.get(type(request))
    if handler is None:
        yield Error(f"unknown request {type(request).__name__}", "worker")
        return
    yield from handler(backend, request, cancel)


def code(request: object) -> str:
    """A request's (or a request kind's) name, for its Error events (``score``, ``generate``)."""
    kind = request if isinstance(request, type) else type(request)
    return kind.__name__.removesuffix("Request").lower()
