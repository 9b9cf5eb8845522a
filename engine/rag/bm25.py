"""BM25 (Okapi) over a term-by-document sparse matrix, in NumPy.

Scores equal rank_bm25's ``BM25Okapi`` (the reference; the tests check it) with the
same k1, b and epsilon, including its floor for negative IDFs. The weight of every
(term, document) pair is computed once at build time and stored by term, so a query
adds a few rows: a millisecond at 100k chunks instead of a pass over the corpus.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..util.files import loads_json

K1, B, EPSILON = 1.5, 0.75, 0.25  # rank_bm25's defaults

_WORD = re.compile(r"[^\W_]+")


def tokenize(text: str) -> list[str]:
    """Lowercased words with punctuation and accents stripped: "Llama.cpp's" -> llama, cpp, s."""
    text = unicodedata.normalize("NFKD", text.lower())
    text = "".join(c for c in text if not unicodedata.combining(c))
    return _WORD.findall(text)


class BM25:
    def __init__(self, vocab: dict[str, int], indptr: np.ndarray, docs: np.ndarray, weights: np.ndarray, n_docs: int):
        self.vocab, self.indptr, self.docs, self.weights, self.n_docs = vocab, indptr, docs, weights, n_docs

    @classmethod
    def build(cls, corpus: Sequence[Sequence[str]], k1: float = K1, b: float = B, epsilon: float = EPSILON) -> BM25:
        n = len(corpus)
        counts = [Counter(doc) for doc in corpus]
        doc_len = np.array([len(doc) for doc in corpus], dtype=np.float64)
        avgdl = doc_len.sum() / n if n else 0.0
        vocab: dict[str, int] = {}
        term_ids, doc_ids, tfs = [], [], []
        for d, c in enumerate(counts):
            for term, tf in c.items():
                term_ids.append(vocab.setdefault(term, len(vocab)))
                doc_ids.append(d)
                tfs.append(tf)
        term_arr = np.asarray(term_ids, dtype=np.int64)
        doc_arr = np.asarray(doc_ids, dtype=np.int32)
        tf_arr = np.asarray(tfs, dtype=np.float64)
        df = np.bincount(term_arr, minlength=len(vocab)).astype(np.float64)
        # rank_bm25: idf = log(N - df + 0.5) - log(df + 0.5); negatives become eps * mean idf
        idf = np.log(n - df + 0.5) - np.log(df + 0.5) if len(vocab) else np.zeros(0)
        if len(vocab):
            eps = epsilon * (idf.sum() / len(idf))
            idf[idf < 0] = eps
        norm = k1 * (1 - b + b * doc_len[doc_arr] / avgdl) if n and avgdl else np.ones_like(tf_arr)
        weight = idf[term_arr] * tf_arr * (k1 + 1) / (tf_arr + norm)
        order = np.argsort(term_arr, kind="stable")
        indptr = np.zeros(len(vocab) + 1, dtype=np.int64)
        np.cumsum(df.astype(np.int64), out=indptr[1:])
        return cls(vocab, indptr, doc_arr[order], weight[order].astype(np.float32), n)

    def scores(self, query: Sequence[str]) -> np.ndarray:
        """The score of every document (a repeated query word counts twice, as in rank_bm25)."""
        out = np.zeros(self.n_docs, dtype=np.float32)
        for term in query:
            t = self.vocab.get(term)
            if t is not None:
                s, e = self.indptr[t], self.indptr[t + 1]
                out[self.docs[s:e]] += self.weights[s:e]
        return out

    def top(self, query: Sequence[str], n: int) -> tuple[np.ndarray, np.ndarray]:
        """Indices and scores of the best ``n`` documents with a positive score, best first."""
        scores = self.scores(query)
        positive = np.flatnonzero(scores > 0)
        if len(positive) > n:
            positive = positive[np.argpartition(-scores[positive], n - 1)[:n]]
        order = positive[np.argsort(-scores[positive], kind="stable")]
        return order, scores[order]

    # ------------------------------------------------------------ files

    def save(self, folder: Path) -> None:
        np.savez(
            folder / "bm25.npz",
            indptr=self.indptr,
            docs=self.docs,
            weights=self.weights,
            n_docs=np.array([self.n_docs]),
        )
        terms = sorted(self.vocab, key=self.vocab.__getitem__)
        (folder / "bm25_vocab.json").write_text(json.dumps(terms, ensure_ascii=False), encoding="utf-8")

    @classmethod
    def load(cls, folder: Path) -> BM25:
        """The stored index, checked (ValueError says what does not fit) so that a damaged
        file cannot index past an array while scoring."""
        with np.load(folder / "bm25.npz") as data:
            indptr, docs, weights, n_docs = (data[k] for k in ("indptr", "docs", "weights", "n_docs"))
        terms = loads_json((folder / "bm25_vocab.json").read_text(encoding="utf-8"))
        if not isinstance(terms, list) or not all(isinstance(t, str) for t in terms):
            raise ValueError("bm25_vocab.json is not a list of words")
        whole = all(np.issubdtype(a.dtype, np.integer) for a in (indptr, docs, n_docs))
        if not whole or n_docs.shape != (1,) or indptr.shape != (len(terms) + 1,) or docs.ndim != 1:
            raise ValueError("bm25.npz does not match its vocabulary")
        n = int(n_docs[0])
        if (
            weights.shape != docs.shape
            or indptr[0] != 0
            or indptr[-1] != len(docs)
            or np.any(np.diff(indptr) < 0)
            or (len(docs) and (docs.min() < 0 or docs.max() >= n))
        ):
            raise ValueError("bm25.npz's postings are out of range")
        return cls({t: i for i, t in enumerate(terms)}, indptr, docs, weights.astype(np.float32), n)
