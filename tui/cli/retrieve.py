"""``llmbench retrieve``: the passages a question retrieves (BM25 + FAISS, fused)."""

from __future__ import annotations

from ..render.tables import rich_table
from .documents import add_collection_arguments, check_collection_arguments, open_retriever, weights
from .output import console as make_console
from .output import dump_json

NAME = "retrieve"


def add_parser(sub) -> None:
    p = sub.add_parser(NAME, help="the passages a question retrieves (BM25 + FAISS, fused)")
    add_collection_arguments(p)
    p.add_argument("question")
    p.add_argument("--format", choices=("table", "json"), default="table")


def run(args) -> int:
    check_collection_arguments(args)
    retriever = open_retriever(args.collection, args.format == "json")
    result = retriever.search(args.question, k=args.k, weights=weights(args), use_mmr=args.mmr)
    if args.format == "json":
        dump_json(
            {
                **result.to_dict(),
                "collection": args.collection,
                "hits": [
                    {
                        "source": h.source,
                        "page": h.page,
                        "text": h.text,
                        "bm25_rank": h.bm25_rank,
                        "dense_rank": h.dense_rank,
                        "score": h.score,
                        "section": h.section,
                        "bm25_score": h.bm25_score,
                        "dense_score": h.dense_score,
                        "chunk": h.chunk,
                    }
                    for h in result.hits
                ],
            }
        )
        return 0
    rows = [
        (
            i,
            h.where,
            _rank(h.bm25_rank, h.bm25_score),
            _rank(h.dense_rank, h.dense_score),
            f"{h.score:.4f}",
            " ".join(h.text.split())[:300],
        )
        for i, h in enumerate(result.hits, 1)
    ]
    console = make_console()
    console.print(
        rich_table(
            f"{args.collection}: {args.question}",
            ("#", "source", "bm25", "dense", "score", "text"),
            rows,
            right=("#", "bm25", "dense", "score"),
            show_lines=True,
        )
    )
    t = result.timings_ms
    console.print(
        f"retrieval {t['total']:.1f} ms (embed {t.get('embed', 0):.1f}, bm25 {t['bm25']:.1f}, "
        f"dense {t['dense']:.1f}, fuse {t['fuse']:.1f})",
        style="dim",
        highlight=False,
    )
    return 0


def _rank(rank, score) -> str:
    return "—" if rank is None else f"#{rank} ({score:.3f})"
