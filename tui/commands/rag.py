"""``llmbench index|retrieve|chat|eval``: documents, retrieval and answers, headless."""

from __future__ import annotations

import sys
from contextlib import contextmanager
from pathlib import Path

from engine.errors import CollectionError
from engine.metrics import format_stat
from engine.rag.collection import IndexReport, Progress
from engine.types import Started

from .duel import print_events


# ---------------------------------------------------------------- progress


@contextmanager
def progress_bar(enabled: bool = True):
    """A rich progress bar on stderr fed by ``Progress`` events (chunks/s while embedding)."""
    if not enabled:
        yield lambda p: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress as Bar, TextColumn, TimeElapsedColumn

    console = Console(stderr=True)
    with Bar(TextColumn("{task.fields[stage]:<6}"), BarColumn(), MofNCompleteColumn(),
             TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), TextColumn("{task.description}"),
             console=console, transient=False) as bar:
        tasks: dict[str, int] = {}

        def update(p: Progress) -> None:
            if p.stage not in tasks:
                tasks[p.stage] = bar.add_task(p.detail, total=p.total or None, stage=p.stage, rate="")
            rate = f"{p.rate:,.0f} chunks/s" if p.rate else ""
            bar.update(tasks[p.stage], completed=p.done, total=p.total or None, description=p.detail, rate=rate)

        yield update


def _show_report(report: IndexReport, fmt: str) -> int:
    if fmt == "json":
        from ..cli import dump_json

        dump_json(report.to_dict())
    else:
        parts = [f"{len(report.added)} added", f"{len(report.updated)} updated", f"{len(report.unchanged)} unchanged"]
        if report.removed:
            parts.append(f"{len(report.removed)} removed")
        rate = f", embedded {report.new_chunks} chunks at {report.chunks_per_s:,.1f} chunks/s" if report.chunks_per_s else ""
        print(f"{report.name}: {', '.join(parts)} · {report.chunks} chunks ({report.index} index) "
              f"in {report.total_s:.1f} s{rate}")
    for w in report.warnings:
        print(f"warning: {w}", file=sys.stderr)
    for f in report.failed:
        print(f"error: {f}", file=sys.stderr)
    return 1 if report.failed else 0


# ---------------------------------------------------------------- index


def run_index(args) -> int:
    from engine.rag import collection as coll

    if args.index_command == "add":
        from engine.rag.demo import DEMO_COLLECTION, demo_sources

        sources = demo_sources() if args.name == DEMO_COLLECTION and not args.paths else None
        if sources is None and not args.paths:
            raise CollectionError("give the files or folders to index (only the demo collection needs none)")
        with progress_bar(not args.quiet) as bar:
            report = coll.index_add(args.name, args.paths, sources=sources, embedder=args.embedder,
                                    progress=bar, chunk_size=args.chunk_size, overlap=args.overlap)
        return _show_report(report, args.format)
    if args.index_command == "list":
        entries = coll.list_collections()
        if args.format == "json":
            from ..cli import dump_json

            dump_json(entries)
            return 0
        if not entries:
            print("no collections yet: `llmbench index add NAME PATH...` (or use --collection demo)")
            return 0
        from rich.console import Console
        from rich.table import Table

        table = Table(title="collections", title_justify="left")
        for col in ("name", "files", "chunks", "index", "embedder", "size", "updated"):
            table.add_column(col, justify="right" if col in ("files", "chunks", "size") else "left")
        for e in entries:
            if "error" in e:
                table.add_row(e["name"], "", "", "", f"[red]{e['error']}[/]", "", "")
                continue
            table.add_row(e["name"], str(e["files"]), str(e["chunks"]), e["index"], e["embedder"],
                          f"{e['bytes'] / 2**20:,.1f} MiB", e["updated"])
        Console().print(table)
        return 0
    if args.index_command == "rm":
        root = coll.remove_collection(args.name)
        print(f"removed collection {args.name} ({root})")
        return 0
    raise CollectionError(f"unknown index action {args.index_command}")


def _open_retriever(name: str, quiet: bool = False):
    from engine.rag.demo import ensure_collection
    from engine.rag.retrieve import Retriever

    with progress_bar(not quiet) as bar:
        ensure_collection(name, bar)
    return Retriever.open(name)


# ---------------------------------------------------------------- retrieve


def run_retrieve(args) -> int:
    retriever = _open_retriever(args.collection, args.format == "json")
    result = retriever.search(args.question, k=args.k, weights=_weights(args), use_mmr=args.mmr)
    if args.format == "json":
        from ..cli import dump_json

        dump_json({**result.to_dict(), "collection": args.collection,
                   "hits": [{"source": h.source, "page": h.page, "text": h.text, "bm25_rank": h.bm25_rank,
                             "dense_rank": h.dense_rank, "score": h.score, "section": h.section,
                             "bm25_score": h.bm25_score, "dense_score": h.dense_score, "chunk": h.chunk}
                            for h in result.hits]})
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{args.collection}: {args.question}", title_justify="left", show_lines=True)
    for col, just in (("#", "right"), ("source", "left"), ("bm25", "right"), ("dense", "right"),
                      ("score", "right"), ("text", "left")):
        table.add_column(col, justify=just, overflow="fold")
    for i, h in enumerate(result.hits, 1):
        table.add_row(str(i), h.where, _rank(h.bm25_rank, h.bm25_score), _rank(h.dense_rank, h.dense_score),
                      f"{h.score:.4f}", " ".join(h.text.split())[:300])
    console = Console()
    console.print(table)
    t = result.timings_ms
    console.print(f"retrieval {t['total']:.1f} ms (embed {t.get('embed', 0):.1f}, bm25 {t['bm25']:.1f}, "
                  f"dense {t['dense']:.1f}, fuse {t['fuse']:.1f})", style="dim", highlight=False)
    return 0


def _weights(args) -> tuple[float, float]:
    return (args.bm25_weight, 1 - args.bm25_weight)


def _rank(rank, score) -> str:
    return "—" if rank is None else f"#{rank} ({score:.3f})"


# ---------------------------------------------------------------- chat


def run_chat(args, params) -> int:
    from engine.rag.chat import RagChat

    retriever = _open_retriever(args.collection, args.format == "json")
    question = sys.stdin.read() if args.question == "-" else args.question
    stream = args.format == "table" and not args.quiet
    with RagChat(args.collection, args.model, args.b, params, retriever=retriever, k=args.k,
                 weights=_weights(args), use_mmr=args.mmr, record=not args.no_record, mode=args.mode) as chat:
        retrieval = None
        used: dict[str, int | None] = {}

        def other(side, event) -> None:
            nonlocal retrieval
            if side == "rag":
                retrieval = event
                if stream:
                    print_passages(event.hits)
            elif isinstance(event, Started):
                used[side] = event.context_used

        try:
            line = print_events(chat.ask(question), {side: c.spec for side, c in chat.sides.items()}, stream, other)
        except KeyboardInterrupt:
            chat.cancel()
            raise
        result = chat.duel.result(line)
    result["retrieval"] = retrieval.to_dict() if retrieval else None
    result["collection"] = args.collection
    if args.format == "json":
        from ..cli import dump_json

        dump_json(result)
    else:
        _print_chat_summary(result, retrieval, used, stream)
    if chat.duel.record_error:
        print(f"warning: not recorded: {chat.duel.record_error}", file=sys.stderr)
    return 1 if any(c["error"] for c in result["contestants"]) else 0


def print_passages(hits) -> None:
    print("── passages ──")
    for i, h in enumerate(hits, 1):
        print(f"[{i}] {h.where}  (bm25 {'#' + str(h.bm25_rank) if h.bm25_rank else '—'}, "
              f"dense {'#' + str(h.dense_rank) if h.dense_rank else '—'})")


def _print_chat_summary(result: dict, retrieval, used: dict, streamed: bool) -> None:
    from engine.rag.prompt import citations

    hits = retrieval.hits if retrieval else []
    for c in result["contestants"]:
        if not streamed:
            print(f"── {c['side'].upper()}: {c['model']} ──\n{c['text'] or c['error'] or ''}")
        cited = citations(c["text"] or "", len(hits))
        sources = "; ".join(f"[{i}] {hits[i - 1].where}" for i in cited) or "none"
        n_used = used.get(c["side"])
        fit = f"{n_used} of {len(hits)} passages fit the context" if n_used is not None else ""
        print(f"{c['side'].upper()} cites: {sources} · {fit} · {format_stat('ttft_ms', c['ttft_ms'])} TTFT · "
              f"{format_stat('gen_tok_s', c['gen_tok_s'])} · {format_stat('total_s', c['total_s'])}")
    if result.get("verdict"):
        print(result["verdict"])
    if result.get("session"):
        print(f"session: {result['session']}")


# ---------------------------------------------------------------- eval


def run_eval(args, params) -> int:
    from engine.rag.evaluate import (EvalFinished, Evaluation, QuestionDone, QuestionStarted, load_questions,
                                     markdown_report, write_reports)

    questions = load_questions(args.questions)
    quiet = args.format == "json" or args.quiet
    retriever = _open_retriever(args.collection, quiet)
    err = sys.stderr
    result = None
    with Evaluation(args.collection, questions, args.spec_a, args.spec_b, params, retriever=retriever, k=args.k,
                    weights=_weights(args), use_mmr=args.mmr, retrieval_only=args.retrieval_only, record=not args.no_record, mode=args.mode) as ev:
        try:
            for side, event in ev.run():
                if isinstance(event, QuestionStarted) and not quiet:
                    print(f"[{event.index}/{event.total}] {event.question.question}", file=err, flush=True)
                elif isinstance(event, QuestionDone) and not quiet:
                    for r in event.rows:
                        cos = f"cosine {r.cosine:.3f}" if r.cosine is not None else (r.error or "")
                        hit = {True: "hit", False: "miss", None: "—"}[r.retrieval_hit]
                        t = f"{r.resp_time:.2f} s" if r.resp_time is not None else f"{r.retrieval_ms:.1f} ms"
                        print(f"    {r.model}: {cos} · {t} · retrieval {hit}", file=err, flush=True)
                elif isinstance(event, EvalFinished):
                    result = event.result
        except KeyboardInterrupt:
            ev.cancel()
            raise
    from ..cli import print_report

    print_report(args.format, result, write_reports(result, args.out), markdown_report, _print_eval_table)
    return 0


def _print_eval_table(result: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    table = Table(title=f"evaluation · {result['collection']} · k={result['k']} · {result['questions']} questions",
                  title_justify="left")
    def f(v, fmt):
        return "—" if v is None else fmt.format(v)

    if result["retrieval_only"]:
        for c in ("retrieval only", "questions", "hit rate", "p50", "p95"):
            table.add_column(c, justify="right")
        s = result["summary"]["models"]["(retrieval)"]
        table.add_row("(retrieval)", str(s["questions"]), f(s["hit_rate"], "{:.0%}"),
                      f(s["retrieval_p50_ms"], "{:.1f} ms"), f(s["retrieval_p95_ms"], "{:.1f} ms"))
        console.print(table)
        return
    cols = ("model", "mean cosine", "mean time", "median time", "TTFT", "tok/s", "hit rate", "retrieval p50", "errors")
    for c in cols:
        table.add_column(c, justify="left" if c == "model" else "right", overflow="fold", min_width=8 if c == "model" else None)
    for name, s in result["summary"]["models"].items():
        table.add_row(name, f(s["mean_cosine"], "{:.3f}"), f(s["mean_resp_time"], "{:.2f} s"),
                      f(s["median_resp_time"], "{:.2f} s"), f(s["mean_ttft_ms"], "{:.0f} ms"),
                      f(s["mean_tok_s"], "{:.1f}"), f(s["hit_rate"], "{:.0%}"), f(s["retrieval_p50_ms"], "{:.1f} ms"),
                      str(s["errors"]))
    console.print(table)
    if "speed" in result["summary"]:
        console.print(result["summary"]["speed"]["text"], style="bold", highlight=False)


def default_questions(collection: str) -> Path | None:
    from engine.rag.demo import DEMO_COLLECTION, DEMO_QUESTIONS

    return DEMO_QUESTIONS if collection == DEMO_COLLECTION else None
