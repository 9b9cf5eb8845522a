"""``llmbench eval``: a question set with reference answers, over a collection, on one
or two models: cosine to the reference, times, retrieval hits; CSV, JSON, Markdown."""

from __future__ import annotations

import sys
from pathlib import Path

from llmbench.engine.runtime.duel import MODES

from ..render.tables import rich_table
from .documents import add_collection_arguments, check_collection_arguments, open_retriever, weights
from .jobs import drive, exit_code
from .output import FORMATS, CliError, print_report
from .params import add_param_arguments, params_from_args

NAME = "eval"


def add_parser(sub) -> None:
    p = sub.add_parser(NAME, help="a question set with reference answers: cosine, time, retrieval hits")
    add_collection_arguments(p)
    p.add_argument(
        "--questions",
        default=None,
        metavar="FILE",
        help="JSONL or CSV with question, answer [, id, source, page] (default for demo: its question set)",
    )
    p.add_argument("--a", dest="spec_a", default=None, metavar="SPEC", help="model A")
    p.add_argument("--b", dest="spec_b", default=None, metavar="SPEC", help="model B (optional)")
    p.add_argument("--retrieval-only", action="store_true", help="no generation: hit rate and retrieval latency")
    p.add_argument(
        "--out", default=None, metavar="DIR", help="where eval.csv/json/md go (default under the data folder)"
    )
    p.add_argument("--mode", choices=MODES, default=None)
    p.add_argument("--format", choices=FORMATS, default="table")
    p.add_argument("--quiet", action="store_true", help="no per-question progress")
    p.add_argument("--no-record", action="store_true", help="do not write a session file")
    add_param_arguments(p)


def default_questions(collection: str) -> Path | None:
    from llmbench.engine.rag.demo import DEMO_COLLECTION, DEMO_QUESTIONS

    return DEMO_QUESTIONS if collection == DEMO_COLLECTION else None


def run(args) -> int:
    from llmbench.engine.experiments.evaluate.questions import load_questions
    from llmbench.engine.experiments.evaluate.run import Evaluation, markdown_report, write_reports

    check_collection_arguments(args)
    params = params_from_args(args)
    if args.questions is None:
        args.questions = default_questions(args.collection)
        if args.questions is None:
            raise CliError("--questions FILE is needed (only the demo collection has a built-in question set)")

    questions = load_questions(args.questions)
    quiet = args.format == "json" or args.quiet
    retriever = open_retriever(args.collection, quiet)
    with Evaluation(
        args.collection,
        questions,
        args.spec_a,
        args.spec_b,
        params,
        retriever=retriever,
        k=args.k,
        weights=weights(args),
        use_mmr=args.mmr,
        retrieval_only=args.retrieval_only,
        record=not args.no_record,
        mode=args.mode,
    ) as ev:
        result = drive(ev, False, "the questions answered so far", on_event=None if quiet else _progress)
    data = result.to_json()
    print_report(args.format, data, write_reports(data, args.out), markdown_report, _print_eval_table)
    return exit_code(result)


def _progress(item: tuple[str, object]) -> None:
    """Each question on standard error as it starts, then each model's cosine, time and retrieval hit."""
    from llmbench.engine.experiments.evaluate.run import QuestionDone, QuestionStarted

    err, event = sys.stderr, item[1]
    if isinstance(event, QuestionStarted):
        print(f"[{event.index}/{event.total}] {event.question.question}", file=err, flush=True)
    elif isinstance(event, QuestionDone):
        for r in event.rows:
            cos = f"cosine {r.cosine:.3f}" if r.cosine is not None else (r.error or "")
            hit = {True: "hit", False: "miss", None: "—"}[r.retrieval_hit]
            t = f"{r.resp_time:.2f} s" if r.resp_time is not None else f"{r.retrieval_ms:.1f} ms"
            print(f"    {r.model}: {cos} · {t} · retrieval {hit}", file=err, flush=True)


def _print_eval_table(result: dict) -> None:
    from .output import console as make_console

    def f(v, fmt):
        return "—" if v is None else fmt.format(v)

    console = make_console()
    title = f"evaluation · {result['collection']} · k={result['k']} · {result['questions']} questions"
    models = result["summary"]["models"]
    if result["retrieval_only"]:
        s = models["(retrieval)"]
        cols = ("retrieval only", "questions", "hit rate", "p50", "p95")
        rows = [
            (
                "(retrieval)",
                s["questions"],
                f(s["hit_rate"], "{:.0%}"),
                f(s["retrieval_p50_ms"], "{:.1f} ms"),
                f(s["retrieval_p95_ms"], "{:.1f} ms"),
            )
        ]
    else:
        cols = (
            "model",
            "mean cosine",
            "mean time",
            "median time",
            "TTFT",
            "tok/s",
            "hit rate",
            "retrieval p50",
            "errors",
        )
        rows = [
            (
                name,
                f(s["mean_cosine"], "{:.3f}"),
                f(s["mean_resp_time"], "{:.2f} s"),
                f(s["median_resp_time"], "{:.2f} s"),
                f(s["mean_ttft_ms"], "{:.0f} ms"),
                f(s["mean_tok_s"], "{:.1f}"),
                f(s["hit_rate"], "{:.0%}"),
                f(s["retrieval_p50_ms"], "{:.1f} ms"),
                s["errors"],
            )
            for name, s in models.items()
        ]
    console.print(rich_table(title, cols, rows, right=cols[1:]))
    if "speed" in result["summary"]:
        console.print(result["summary"]["speed"]["text"], style="bold", highlight=False)
