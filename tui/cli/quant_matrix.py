"""``llmbench quant-matrix``: one base model in every precision and quantization, on one question set."""

from __future__ import annotations

import sys

from llmbench.engine.experiments.quant_matrix import DEFAULT_PARAMS, HF_VARIANTS
from llmbench.engine.runtime.events import Channel

from .output import FORMATS, print_report, rich_table
from .params import add_param_arguments, params_from_args

NAME = "quant-matrix"


def add_parser(sub) -> None:
    p = sub.add_parser(
        NAME,
        help="one base model in every precision and quantization: memory, speed and answer quality on one question set",
    )
    p.add_argument(
        "base", metavar="BASE", help="a model folder, a .gguf file (loaded as HF and run as it is) or a model name"
    )
    p.add_argument(
        "--questions",
        default=None,
        metavar="FILE",
        help="JSONL or CSV with question and answer (default: a built-in set of 6 short questions)",
    )
    p.add_argument(
        "--variants",
        default=None,
        metavar="LIST",
        help=f"comma-separated, from {','.join([*HF_VARIANTS, 'gguf'])} (default: all)",
    )
    p.add_argument(
        "--gguf", action="append", metavar="PATH", help="another GGUF quantization of the same model (repeatable)"
    )
    p.add_argument(
        "--out", default=None, metavar="DIR", help="where quant-matrix.md/json go (default under the data folder)"
    )
    p.add_argument("--format", choices=FORMATS, default="table")
    p.add_argument("--quiet", action="store_true", help="no per-variant progress")
    p.add_argument("--no-record", action="store_true", help="do not write a session file")
    d = DEFAULT_PARAMS
    add_param_arguments(p, max_tokens=d.max_tokens, temperature=d.temperature, n_ctx=d.n_ctx)


def run(args) -> int:
    from llmbench.engine.experiments.quant_matrix import MatrixDone, QuantMatrix, markdown_report, write_reports

    params = params_from_args(args, DEFAULT_PARAMS)
    names = [n.strip() for n in args.variants.split(",") if n.strip()] if args.variants else None
    matrix = QuantMatrix(args.base, args.questions, params, names=names, ggufs=args.gguf or (),
                         record=not args.no_record)  # fmt: skip
    quiet = args.quiet or args.format == "json"
    if not quiet:
        print(f"{len(matrix.variants)} variants x {len(matrix.questions)} questions "
              f"(greedy, at most {params.max_tokens} tokens)", file=sys.stderr)  # fmt: skip
    result = None
    try:
        for source, event in matrix.run():
            if isinstance(event, MatrixDone):
                result = event.result
            elif not quiet:
                _progress(source, event)
    except KeyboardInterrupt:
        matrix.cancel()
        raise
    files = write_reports(result, args.out)
    print_report(args.format, result, {"md": files["md"], "json": files["json"]}, markdown_report, _print_table)
    if result.get("session") and args.format != "json":
        print(f"session: {result['session']}", file=sys.stderr)
    return 0 if any(r["answers"] and not r["error"] for r in result["rows"]) else 1


def _progress(source: str, event: object) -> None:
    """One variant after the other on standard error: questions, then load, speed and RAM."""
    from llmbench.engine.experiments.quant_matrix import QuestionAsked, VariantDone, VariantStarted
    from llmbench.engine.runtime.events import Error

    err = sys.stderr
    if isinstance(event, VariantStarted):
        print(f"[{event.index}/{event.total}] {event.variant.name}  ({event.variant.spec})", file=err, flush=True)
    elif isinstance(event, QuestionAsked):
        print(f"    q{event.index}/{event.total}", end="", file=err, flush=True)
    elif isinstance(event, VariantDone):
        r = event.row
        if r.skipped:
            print(f"    skipped: {r.skipped}", file=err)
        elif r.error:
            print(f"\n    failed: {r.error}", file=err)
        else:
            tok_s = f"{r.tok_s:.1f} tok/s" if r.tok_s else "—"
            print(f"\n    load {r.load_s or 0:.2f} s · {tok_s} · peak RAM {r.peak_rss_mib or 0:.0f} MiB", file=err,
                  flush=True)  # fmt: skip
    elif isinstance(event, Error) and source != Channel.MATRIX:
        print(f" ({event.message})", end="", file=err)


def _print_table(result: dict) -> None:
    from llmbench.engine.experiments.quant_matrix import COLUMNS, table_rows

    from .output import console

    title = f"quantization matrix · {result['base']} · {len(result['questions'])} questions"
    right = [c for c in COLUMNS if c not in ("variant", "runtime", "note")]
    console().print(rich_table(title, COLUMNS, table_rows(result), right=right))
