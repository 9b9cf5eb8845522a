"""A conversation over a collection with one model, or two side by side (RAG duel).

``RagChat.ask`` retrieves once, yields ``(Channel.RAG, Retrieval)``, then sends the same
question and the same passages to every side through the Duel machinery (a worker
process per model) and yields its events. Each side keeps its own history, so a
follow-up question sees that model's own earlier answers.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from typing import Protocol

from ..runtime.duel import Duel
from ..runtime.events import Channel, Error
from ..runtime.params import GenParams
from .prompt import request
from .retrieve import TOP_K, WEIGHTS, Retrieval


class Searcher(Protocol):
    """A Retriever, or the TUI's proxy to one in another process."""

    def search(
        self, question: str, k: int = TOP_K, weights: Sequence[float] = WEIGHTS, use_mmr: bool = False
    ) -> Retrieval: ...

    def similarity(self, pairs: Sequence[tuple[str, str]]) -> list[float]: ...


def passages(retrieval: Retrieval) -> list[dict]:
    return [{"where": h.where, "text": h.text} for h in retrieval.hits]


class RagChat:
    def __init__(
        self,
        collection: str,
        spec_a: str,
        spec_b: str | None = None,
        params: GenParams | None = None,
        *,
        retriever: Searcher | None = None,
        k: int = TOP_K,
        weights: Sequence[float] = WEIGHTS,
        use_mmr: bool = False,
        mode: str | None = None,
        record: bool = True,
        reserve_cores: int = 0,
        kind: str | None = None,
        meta: dict | None = None,
    ):
        if retriever is None:
            from .retrieve import Retriever

            retriever = Retriever.open(collection)
        self.collection, self.retriever = collection, retriever
        self.k, self.weights, self.use_mmr = k, tuple(weights), use_mmr
        kind = kind or ("rag-duel" if spec_b else "chat")
        meta = {"collection": collection, "k": k, "weights": list(self.weights), "mmr": use_mmr, **(meta or {})}
        self.duel = Duel(
            spec_a, spec_b, params, mode=mode, record=record, reserve_cores=reserve_cores, kind=kind, meta=meta
        )
        self.history: dict[str, list[dict]] = {side: [] for side in self.duel.sides}
        self.last: Retrieval | None = None
        self._stop = threading.Event()  # a cancel of this question, from its first moment
        self._answering = False  # the duel runs: a cancel goes to it too

    @property
    def sides(self) -> dict:
        return self.duel.sides

    def retrieve(self, question: str) -> Retrieval:
        return self.retriever.search(question, k=self.k, weights=self.weights, use_mmr=self.use_mmr)

    def ask(
        self, question: str, remember: bool = True, retrieval: Retrieval | None = None
    ) -> Iterator[tuple[str, object]]:
        """Retrieve, then answer on every side; ``remember`` adds the turn to each history.
        A cancel during the retrieval (the first one loads the embedder) ends the question
        there: each side says it was cancelled before it started."""
        try:
            yield from self._ask(question, remember, retrieval)
        finally:
            self._stop.clear()

    def _ask(self, question: str, remember: bool, retrieval: Retrieval | None) -> Iterator[tuple[str, object]]:
        question = question.strip()
        if not self._stop.is_set():  # (cancelled before it began: no retrieval either)
            retrieval = retrieval or self.retrieve(question)
            self.last = retrieval
            yield Channel.RAG, retrieval
        if self._stop.is_set() or retrieval is None:
            for side in self.duel.sides:
                yield side, Error("cancelled before it started", "cancelled")
            return
        found = passages(retrieval)
        msgs = {side: request(self.history[side], question, found) for side in self.duel.sides}
        extra = {"question": question, "retrieval": retrieval.to_dict()}
        self._answering = True
        try:
            for n, item in enumerate(self.duel.run(msgs["a"], msgs.get("b"), extra=extra)):
                if n == 0 and self._stop.is_set():  # asked while the duel was starting: it cleared its own
                    self.duel.cancel()
                yield item
        finally:
            self._answering = False
        if remember:
            for side, c in self.duel.sides.items():
                answer = "".join(c.text)
                if answer and not c.error:
                    self.history[side] += [
                        {"role": "user", "content": question},
                        {"role": "assistant", "content": answer},
                    ]

    def reset(self) -> None:
        """Start a new conversation; the models stay loaded."""
        for turns in self.history.values():
            turns.clear()

    def cancel(self) -> None:
        self._stop.set()
        if self._answering:  # (before: the question ends after its retrieval, no model asked)
            self.duel.cancel()

    def close(self) -> None:
        self.duel.close()

    def __enter__(self) -> RagChat:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
