"""``llmbench index add|list|rm``: document collections on disk."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from llmbench.engine.errors import CollectionError
from llmbench.engine.util.fmt import size_text

from ..render.tables import rich_table
from .jobs import drive, exit_code
from .output import console, dump_json

if TYPE_CHECKING:
    from llmbench.engine.rag.collection import IndexReport

NAME = "index"


def add_parser(sub) -> None:
    p = sub.add_parser(NAME, help="document collections for chat: add files, list, remove")
    isub = p.add_subparsers(dest="index_command", metavar="ACTION", required=True)
    ia = isub.add_parser("add", help="index files or folders (PDF, Markdown, HTML, text) into a collection")
    ia.add_argument("name", help="collection name (created if new); 'demo' with no paths builds the demo corpus")
    ia.add_argument("paths", nargs="*", metavar="PATH")
    ia.add_argument("--embedder", default=None, help="a sentence-transformers model folder (default all-MiniLM-L6-v2)")
    ia.add_argument("--chunk-size", type=int, default=1000, help="characters per chunk (default 1000)")
    ia.add_argument("--overlap", type=int, default=150, help="characters shared by neighbouring chunks (default 150)")
    ia.add_argument("--format", choices=("table", "json"), default="table")
    ia.add_argument("--quiet", action="store_true", help="no progress bar")
    il = isub.add_parser("list", help="collections on this machine")
    il.add_argument("--format", choices=("table", "json"), default="table")
    ir = isub.add_parser("rm", help="delete a collection")
    ir.add_argument("name")


def _show_report(r: IndexReport, fmt: str) -> int:
    """An indexing run's report; a cancelled one changed nothing."""
    if fmt == "json":
        dump_json(r.to_json())
    elif r.partial:
        print(f"{r.name}: PARTIAL: {r.note}")
    else:
        parts = [f"{len(r.added)} added", f"{len(r.updated)} updated", f"{len(r.unchanged)} unchanged"]
        if r.removed:
            parts.append(f"{len(r.removed)} removed")
        rate = f", embedded {r.new_chunks} chunks at {r.chunks_per_s:,.1f} chunks/s" if r.chunks_per_s else ""
        print(f"{r.name}: {', '.join(parts)} · {r.chunks} chunks ({r.index} index) in {r.total_s:.1f} s{rate}")
    for w in r.warnings:
        print(f"warning: {w}", file=sys.stderr)
    for f in r.failed:
        print(f"error: {f}", file=sys.stderr)
    return exit_code(r, bool(r.failed))


def run(args) -> int:
    from llmbench.engine.rag import collection as coll

    if args.index_command == "add":
        from llmbench.engine.rag.demo import DEMO_COLLECTION, demo_sources

        sources = demo_sources() if args.name == DEMO_COLLECTION and not args.paths else None
        if sources is None and not args.paths:
            raise CollectionError("give the files or folders to index (only the demo collection needs none)")
        job = coll.index_job(args.name, args.paths, sources=sources, embedder=args.embedder,
                             chunk_size=args.chunk_size, overlap=args.overlap)  # fmt: skip
        return _show_report(drive(job, not args.quiet, "the collection is as it was"), args.format)
    if args.index_command == "list":
        entries = coll.list_collections()
        if args.format == "json":
            dump_json(entries)
            return 0
        if not entries:
            print("no collections yet: `llmbench index add NAME PATH...` (or use --collection demo)")
            return 0
        from rich.text import Text

        rows = [
            (e["name"], "", "", "", Text(e["error"], style="red"), "", "")
            if "error" in e
            else (e["name"], e["files"], e["chunks"], e["index"], e["embedder"], size_text(e["bytes"]), e["updated"])
            for e in entries
        ]
        console().print(
            rich_table(
                "collections",
                ("name", "files", "chunks", "index", "embedder", "size", "updated"),
                rows,
                right=("files", "chunks", "size"),
            )
        )
        return 0
    if args.index_command == "rm":
        root = coll.remove_collection(args.name)
        print(f"removed collection {args.name} ({root})")
        return 0
    raise CollectionError(f"unknown index action {args.index_command}")
