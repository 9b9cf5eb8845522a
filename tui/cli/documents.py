"""What the document commands share (index, retrieve, chat, eval): collection
options, opening a retriever, printing passages."""

from __future__ import annotations

from llmbench.engine.rag.retrieve import TOP_K

from ..render.progress import progress_bar
from .output import CliError

BM25_WEIGHT = 0.3


def add_collection_arguments(p) -> None:
    p.add_argument(
        "--collection", "-c", default="demo", metavar="NAME", help="collection (default: demo, built on first use)"
    )
    p.add_argument("--k", type=int, default=TOP_K, help=f"passages to retrieve (default {TOP_K})")
    p.add_argument("--mmr", action="store_true", help="diversify the passages (maximal marginal relevance)")
    p.add_argument(
        "--bm25-weight",
        type=float,
        default=BM25_WEIGHT,
        help=f"BM25's share in the fusion; dense gets the rest (default {BM25_WEIGHT})",
    )


def check_collection_arguments(args) -> None:
    if args.k < 1:
        raise CliError(f"--k must be at least 1, got {args.k}")
    if not 0 <= args.bm25_weight <= 1:
        raise CliError(f"--bm25-weight must be between 0 and 1, got {args.bm25_weight}")


def weights(args) -> tuple[float, float]:
    return (args.bm25_weight, 1 - args.bm25_weight)


def open_retriever(name: str, quiet: bool = False):
    """The collection's retriever (the demo collection is built first if it is new)."""
    from llmbench.engine.rag.demo import ensure_collection
    from llmbench.engine.rag.retrieve import Retriever

    with progress_bar(not quiet) as bar:
        ensure_collection(name, bar)
    return Retriever.open(name)


def print_passages(hits) -> None:
    print("── passages ──")
    for i, h in enumerate(hits, 1):
        print(
            f"[{i}] {h.where}  (bm25 {'#' + str(h.bm25_rank) if h.bm25_rank else '—'}, "
            f"dense {'#' + str(h.dense_rank) if h.dense_rank else '—'})"
        )
