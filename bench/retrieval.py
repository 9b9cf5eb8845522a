"""Retrieval speed and hit rate: BM25, dense and hybrid at 1k, 10k and 100k chunks,
against LangChain's EnsembleRetriever (BM25Retriever + FAISS, weights 0.3/0.7) when
langchain-classic and langchain-community are installed.

    .venv/bin/python bench/retrieval.py [--sizes 1000,10000,100000] [--queries 200]

The texts are the demo corpus's real chunks. Embedding 100k chunks with MiniLM takes
hours on a 2-core CPU, so the larger corpora reuse the demo's real vectors with small
Gaussian noise (renormalised), and every chunk copy keeps its source: the indexes,
the fusion and the hit rate work on the same data for both sides. Query vectors are
real and computed once; the latencies below exclude query embedding for both sides
(it is printed apart), so they compare the retrieval machinery itself.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from llmbench.engine.rag.bm25 import BM25, tokenize  # noqa: E402
from llmbench.engine.rag.collection import HNSW_THRESHOLD, Collection, build_dense  # noqa: E402
from llmbench.engine.rag.retrieve import Retriever  # noqa: E402

K = 4


class CachedEmbedder:
    """Returns precomputed vectors: both sides pay no query embedding in the timings."""

    name = "all-MiniLM-L6-v2"

    def __init__(self, vectors: dict[str, np.ndarray]):
        self.vectors = vectors

    def encode(self, texts, progress=None, batch_size=32):
        return np.stack([self.vectors[t] for t in texts])


def corpus(n: int, base_chunks: list[dict], base_vecs: np.ndarray, rng) -> tuple[list[dict], np.ndarray]:
    reps = -(-n // len(base_chunks))
    chunks, vecs = [], []
    for r in range(reps):
        for c, v in zip(base_chunks, base_vecs):
            if len(chunks) == n:
                break
            chunks.append({**c, "text": c["text"] if r == 0 else f"{c['text']} (copy {r})"})
            noisy = v if r == 0 else v + rng.normal(0, 0.03, v.shape).astype(np.float32)
            vecs.append(noisy / np.linalg.norm(noisy))
    return chunks, np.stack(vecs).astype(np.float32)


def pct(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def timed(fn, queries, repeat):
    times = []
    out = {}
    for _ in range(repeat):
        for q in queries:
            t = time.perf_counter()
            out[q] = fn(q)
            times.append((time.perf_counter() - t) * 1000)
    return times, out


def hit_rate(results: dict[str, list[str]], wanted: dict[str, str]) -> float:
    return sum(wanted[q] in srcs for q, srcs in results.items()) / len(results)


def ours(chunks, vecs, emb):
    t = time.perf_counter()
    bm25 = BM25.build([tokenize(f"{c.get('section') or ''} {c['text']}") for c in chunks])
    t_bm25 = time.perf_counter() - t
    kind = "hnsw" if len(chunks) > HNSW_THRESHOLD else "flat"
    t = time.perf_counter()
    dense = build_dense(vecs, kind)
    t_dense = time.perf_counter() - t
    manifest = {"index": kind, "embedder": {"name": emb.name}}
    coll = Collection("bench", Path("."), manifest, chunks, vecs, bm25, dense)
    return Retriever(coll, emb), t_bm25, t_dense, kind


def langchain(chunks, vecs, emb):
    try:
        from langchain_classic.retrievers import EnsembleRetriever
        from langchain_community.retrievers import BM25Retriever
        from langchain_community.vectorstores import FAISS
        from langchain_core.embeddings import Embeddings
    except ImportError:
        return None

    class Cached(Embeddings):
        def embed_query(self, text):
            return emb.vectors[text].tolist()

        def embed_documents(self, texts):
            raise RuntimeError("documents are embedded up front")

    metas = [{"source": c["source"]} for c in chunks]
    texts = [c["text"] for c in chunks]
    t = time.perf_counter()
    bm25 = BM25Retriever.from_texts(texts, metadatas=metas, k=K)
    t_bm25 = time.perf_counter() - t
    t = time.perf_counter()
    store = FAISS.from_embeddings(list(zip(texts, vecs.tolist())), Cached(), metadatas=metas)
    t_dense = time.perf_counter() - t
    hybrid = EnsembleRetriever(retrievers=[bm25, store.as_retriever(search_kwargs={"k": K})], weights=[0.3, 0.7])
    return hybrid, t_bm25, t_dense


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="1000,10000,100000")
    p.add_argument("--repeat", type=int, default=5, help="passes over the question set")
    args = p.parse_args()
    os.environ.setdefault("LLMBENCH_HOME", tempfile.mkdtemp(prefix="llmbench-bench-"))

    from llmbench.engine.experiments.evaluate.questions import load_questions
    from llmbench.engine.rag.demo import DEMO_COLLECTION, DEMO_QUESTIONS, ensure_demo
    from llmbench.engine.rag.embed import Embedder

    t = time.perf_counter()
    ensure_demo()
    print(f"demo corpus ready in {time.perf_counter() - t:.1f} s (LLMBENCH_HOME={os.environ['LLMBENCH_HOME']})")
    demo = Collection.load(DEMO_COLLECTION)
    questions = load_questions(DEMO_QUESTIONS)
    real = Embedder()
    real.encode(["warm up"])
    t = time.perf_counter()
    qvecs = real.encode([q.question for q in questions])
    print(
        f"query embedding (MiniLM, 2 threads): {(time.perf_counter() - t) * 1000 / len(questions):.1f} ms per question"
    )
    sample = [c["text"] for c in demo.chunks[:64]]
    t = time.perf_counter()
    real.encode(sample)
    print(
        f"chunk embedding: {len(sample) / (time.perf_counter() - t):.1f} chunks/s "
        f"(100k chunks would take {100_000 / (len(sample) / (time.perf_counter() - t)) / 3600:.1f} h here)"
    )
    emb = CachedEmbedder({q.question: v for q, v in zip(questions, qvecs)})
    wanted = {q.question: q.source for q in questions}
    qs = [q.question for q in questions]
    rng = np.random.default_rng(0)
    lc_missing = False
    print()
    print(
        f"{'chunks':>7} {'side':>10} {'build bm25':>10} {'build dense':>11} {'bm25 p50':>9} {'dense p50':>9} "
        f"{'hybrid p50':>10} {'p95':>7} {'hit@4':>6}"
    )
    for n in [int(s) for s in args.sizes.split(",")]:
        chunks, vecs = corpus(n, demo.chunks, demo.embeddings, rng)
        r, tb, td, kind = ours(chunks, vecs, emb)
        b_times, _ = timed(lambda q: r.search(q, K, weights=(1, 0)), qs, args.repeat)
        d_times, _ = timed(lambda q: r.search(q, K, weights=(0, 1)), qs, args.repeat)
        h_times, h_out = timed(lambda q: [h.source for h in r.search(q, K).hits], qs, args.repeat)
        ours_p50 = pct(h_times, 0.5)
        print(
            f"{n:>7} {'llmbench':>10} {tb:>9.2f}s {td:>10.2f}s {pct(b_times, 0.5):>7.2f}ms {pct(d_times, 0.5):>7.2f}ms "
            f"{ours_p50:>8.2f}ms {pct(h_times, 0.95):>5.1f}ms {hit_rate(h_out, wanted):>6.0%}  ({kind})"
        )
        lc = None if lc_missing else langchain(chunks, vecs, emb)
        if lc is None:
            lc_missing = True
            continue
        hybrid, tb, td = lc
        l_times, l_out = timed(lambda q: [d.metadata["source"] for d in hybrid.invoke(q)], qs, args.repeat)
        lc_p50 = pct(l_times, 0.5)
        print(
            f"{n:>7} {'langchain':>10} {tb:>9.2f}s {td:>10.2f}s {'':>9} {'':>9} {lc_p50:>8.2f}ms "
            f"{pct(l_times, 0.95):>5.1f}ms {hit_rate(l_out, wanted):>6.0%}"
        )
        print(f"{'':>7} {'ratio':>10} hybrid p50 llmbench/langchain = {ours_p50 / lc_p50:.3f}x")
    if lc_missing:
        print("\nLangChain is not installed: pip install langchain-classic langchain-community (for the comparison)")


if __name__ == "__main__":
    main()
