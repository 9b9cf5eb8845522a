"""What the document commands share (index, retrieve, chat, eval): collection
options, a progress bar for indexing, opening a retriever, printing passages."""

from __future__ import annotations

import sys
from contextlib import contextmanager

from llmbench.engine.rag.collection import Progress
from llmbench.engine.rag.retrieve import TOP_K

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


@contextmanager
def progress_bar(enabled: bool = True):
    """A rich progress bar on stderr fed by ``Progress`` events (chunks/s while embedding)."""
    if not enabled:
        yield lambda p: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
    from rich.progress import Progress as Bar

    console = Console(stderr=True)
    with Bar(
        TextColumn("{task.fields[stage]:<6}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        TextColumn("{task.description}"),
        console=console,
        transient=False,
    ) as bar:
        tasks: dict[str, int] = {}

        def update(p: Progress) -> None:
            if p.stage not in tasks:
                tasks[p.stage] = bar.add_task(p.detail, total=p.total or None, stage=p.stage, rate="")
            rate = f"{p.rate:,.0f} {p.unit}/s" if p.rate else ""
            bar.update(tasks[p.stage], completed=p.done, total=p.total or None, description=p.detail, rate=rate)

        yield update


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


def drive(job, done_type: type, bar_enabled: bool, stopped: str) -> dict:
    """A batch engine job (fidelity, bench) under a progress bar: its result, or on
    Ctrl-C the job stopped and what it finished, marked partial by the job."""
    result = None
    try:
        with progress_bar(bar_enabled) as bar:
            for event in job.run():
                if isinstance(event, done_type):
                    result = event.result
                else:
                    bar(event)
    except KeyboardInterrupt:
        job.cancel()
        job.close()
        result = job.finish()
        print(f"llmbench: interrupted: {stopped}", file=sys.stderr)
    return result
