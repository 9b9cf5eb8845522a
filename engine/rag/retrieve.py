"""Hybrid retrieval: BM25 and FAISS, fused by weighted reciprocal rank fusion.

Fusion is LangChain's EnsembleRetriever's: a chunk's score is the sum over
retrievers of ``weight / (rank + c)``, ranks from 1, ``c = 60``, weights 0.3 (BM25)
and 0.7 (dense) by default. Each retriever contributes its best ``candidates``
chunks. Optional MMR then trades relevance for diversity among the fused ones.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

from .bm25 import tokenize
from .collection import Collection
from .embed import Embedder

WEIGHTS = (0.3, 0.7)  # BM25, dense
RRF_C = 60
TOP_K = 4
HNSW_EF_SEARCH = 128


@dataclass(frozen=True)
class Hit:
    chunk: int  # index in the collection
    source: str
    page: int | None
    section: str | None
    text: str
    bm25_rank: int | None
    bm25_score: float | None
    dense_rank: int | None
    dense_score: float | None
    score: float  # fused

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def where(self) -> str:
        """ "manual.pdf p.12", "README.md › Install", "pkg:textual"."""
        from pathlib import Path

        name = self.source if self.source.startswith("pkg:") else Path(self.source).name
        if self.page is not None:
            return f"{name} p.{self.page}"
        if self.section:
            return f"{name} › {self.section.split(' > ')[-1]}"
        return name


@dataclass
class Retrieval:
    question: str
    hits: list[Hit]
    timings_ms: dict[str, float] = field(default_factory=dict)  # embed, bm25, dense, fuse, total

    def to_dict(self) -> dict:
        return {"question": self.question, "hits": [h.to_dict() for h in self.hits], "timings_ms": self.timings_ms}


def rrf(rankings: Sequence[Sequence[int]], weights: Sequence[float], c: int = RRF_C) -> dict[int, float]:
    """Weighted reciprocal rank fusion of ranked id lists (best first)."""
    if len(rankings) != len(weights):
        raise ValueError("one weight per ranking")
    fused: dict[int, float] = {}
    for ranking, w in zip(rankings, weights):
        for rank, doc in enumerate(ranking, start=1):
            fused[doc] = fused.get(doc, 0.0) + w / (rank + c)
    return fused


def mmr(query: np.ndarray, candidates: np.ndarray, k: int, lambda_: float = 0.5) -> list[int]:
    """Maximal marginal relevance over unit vectors: positions into ``candidates``."""
    if len(candidates) == 0:
        return []
    relevance = candidates @ query
    chosen: list[int] = [int(np.argmax(relevance))]
    sim = candidates @ candidates.T
    while len(chosen) < min(k, len(candidates)):
        redundancy = sim[:, chosen].max(axis=1)
        score = lambda_ * relevance - (1 - lambda_) * redundancy
        score[chosen] = -np.inf
        chosen.append(int(np.argmax(score)))
    return chosen


class Retriever:
    """Searches one loaded collection; the embedder loads on the first question."""

    def __init__(self, collection: Collection, embedder: Embedder | None = None):
        self.collection = collection
        self.embedder = embedder or Embedder(collection.embedder_spec)
        if self.embedder.name != collection.manifest["embedder"]["name"]:
            raise ValueError("the embedder must be the collection's own")

    @classmethod
    def open(cls, name: str, embedder: Embedder | None = None) -> Retriever:
        return cls(Collection.load(name), embedder)

    def warm_up(self) -> None:
        """Load the embedder and the dense index now (the first question is then fast)."""
        self.embedder.encode(["warm up"])
        _ = self.collection.dense

    def similarity(self, pairs: Sequence[tuple[str, str]]) -> list[float]:
        """Cosine similarity of text pairs with the collection's embedder (answer vs reference)."""
        return self.embedder.similarity(pairs)

    def bm25(self, question: str, n: int) -> tuple[np.ndarray, np.ndarray]:
        return self.collection.bm25.top(tokenize(question), n)

    def dense(self, vector: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        index = self.collection.dense
        n = min(n, len(self.collection))
        if n == 0:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        if hasattr(index, "hnsw"):
            index.hnsw.efSearch = max(HNSW_EF_SEARCH, n)
        scores, ids = index.search(vector.reshape(1, -1), n)
        keep = ids[0] >= 0
        return ids[0][keep], scores[0][keep]

    def search(
        self,
        question: str,
        k: int = TOP_K,
        weights: Sequence[float] = WEIGHTS,
        candidates: int | None = None,
        use_mmr: bool = False,
        mmr_lambda: float = 0.5,
        c: int = RRF_C,
    ) -> Retrieval:
        """The ``k`` best chunks for ``question``, with each retriever's rank and score."""
        t0 = time.perf_counter()
        n = candidates or max(4 * k, 20)
        w_bm25, w_dense = weights
        timings: dict[str, float] = {}
        vector = None
        if w_dense > 0 or use_mmr:
            vector = self.embedder.encode([question])[0]
            timings["embed"] = _ms(t0)
        t = time.perf_counter()
        b_ids, b_scores = self.bm25(question, n) if w_bm25 > 0 else (np.zeros(0, np.int64), np.zeros(0))
        timings["bm25"] = _ms(t)
        t = time.perf_counter()
        d_ids, d_scores = self.dense(vector, n) if w_dense > 0 else (np.zeros(0, np.int64), np.zeros(0))
        timings["dense"] = _ms(t)
        t = time.perf_counter()
        fused = rrf([b_ids.tolist(), d_ids.tolist()], [w_bm25, w_dense], c)
        order = sorted(fused, key=lambda doc: (-fused[doc], doc))
        if use_mmr and vector is not None:
            pool = order[: max(n, k)]
            picked = mmr(vector, self.collection.embeddings[pool], k, mmr_lambda)
            order = [pool[i] for i in picked]
        b_rank = {int(d): (r, float(s)) for r, (d, s) in enumerate(zip(b_ids, b_scores), 1)}
        d_rank = {int(d): (r, float(s)) for r, (d, s) in enumerate(zip(d_ids, d_scores), 1)}
        hits = []
        for doc in order[:k]:
            chunk = self.collection.chunks[doc]
            br, bs = b_rank.get(doc, (None, None))
            dr, ds = d_rank.get(doc, (None, None))
            hits.append(
                Hit(
                    doc,
                    chunk["source"],
                    chunk.get("page"),
                    chunk.get("section"),
                    chunk["text"],
                    br,
                    bs,
                    dr,
                    ds,
                    fused[doc],
                )
            )
        timings["fuse"] = _ms(t)
        timings["total"] = _ms(t0)
        return Retrieval(question, hits, timings)


def _ms(t0: float) -> float:
    return (time.perf_counter() - t0) * 1000
