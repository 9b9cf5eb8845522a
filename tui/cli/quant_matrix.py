"""``llmbench quant-matrix``: one base model in every precision and quantization, on one question set."""

from __future__ import annotations

import sys
from pathlib import Path

from rich.text import Text

from llmbench.engine.experiments.fidelity.run import DEFAULT_CTX
from llmbench.engine.experiments.quant.fidelity import DEFAULT_CHUNKS, DEFAULT_GGUF_TYPES
from llmbench.engine.experiments.quant.matrix import DEFAULT_PARAMS, HF_VARIANTS
from llmbench.engine.runtime.events import Channel

from ..render.tables import rich_table
from .jobs import drive, exit_code
from .output import FORMATS, print_report
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
        "--gguf-types",
        default=",".join(DEFAULT_GGUF_TYPES),
        metavar="LIST",
        help="the GGUF ladder llama.cpp's quantizer makes from a GGUF base (default %(default)s; '' for none)",
    )
    q = p.add_argument_group("quality from logits (against the full-precision reference)")
    q.add_argument("--text", default=None, metavar="FILE", help="UTF-8 text to score (default: the demo corpus)")
    q.add_argument("--ctx", type=int, default=DEFAULT_CTX, help=f"tokens per chunk (default {DEFAULT_CTX})")
    q.add_argument("--chunks", type=int, default=DEFAULT_CHUNKS, metavar="N",
                   help=f"chunks scored (default {DEFAULT_CHUNKS})")  # fmt: skip
    q.add_argument("--mc", nargs="?", const="builtin", default=None, metavar="FILE",
                   help="multiple-choice flips against the reference (JSONL/CSV; alone: the built-in smoke set)")  # fmt: skip
    q.add_argument("--no-fidelity", action="store_true", help="answers only: no KLD, same top or PPL")
    p.add_argument(
        "--out", default=None, metavar="DIR", help="where quant-matrix.md/json go (default under the data folder)"
    )
    p.add_argument("--format", choices=FORMATS, default="table")
    p.add_argument("--quiet", action="store_true", help="no per-variant progress")
    p.add_argument("--no-record", action="store_true", help="do not write a session file")
    d = DEFAULT_PARAMS
    add_param_arguments(p, max_tokens=d.max_tokens, temperature=d.temperature, n_ctx=d.n_ctx)


def run(args) -> int:
    from llmbench.engine.errors import FidelityError
    from llmbench.engine.experiments.fidelity.multiple_choice import load_mc
    from llmbench.engine.experiments.fidelity.run import read_text
    from llmbench.engine.experiments.quant.fidelity import parse_types
    from llmbench.engine.experiments.quant.matrix import QuantMatrix
    from llmbench.engine.experiments.quant.report import markdown_report, write_reports

    params = params_from_args(args, DEFAULT_PARAMS)
    names = [n.strip() for n in args.variants.split(",") if n.strip()] if args.variants else None
    if args.chunks < 2:
        raise FidelityError(f"--chunks {args.chunks}: at least 2")
    fidelity = {} if args.no_fidelity else {
        "text": read_text(args.text) if args.text else None, "ctx": args.ctx, "chunks": args.chunks,
        "mc": load_mc(args.mc) if args.mc else None}  # fmt: skip
    matrix = QuantMatrix(args.base, args.questions, params, names=names, ggufs=args.gguf or (),
                         record=not args.no_record, gguf_types=parse_types(args.gguf_types),
                         fidelity=not args.no_fidelity, **fidelity)  # fmt: skip
    quiet = args.quiet or args.format == "json"
    if not quiet:
        print(f"{len(matrix.variants)} variants x {len(matrix.questions)} questions "
              f"(greedy, at most {params.max_tokens} tokens)", file=sys.stderr)  # fmt: skip
    result = drive(matrix, False, "the variants so far", on_event=None if quiet else lambda item: _progress(*item))
    data = result.to_json()
    files = write_reports(data, args.out)
    print_report(args.format, data, {"md": files["md"], "json": files["json"]}, markdown_report, _print_table)
    if result.session and args.format != "json":
        print(f"session: {result.session}", file=sys.stderr)
    return exit_code(result, not result.answered)


def _progress(source: str, event: object) -> None:
    """One variant after the other on standard error: questions, then load, speed and RAM."""
    from llmbench.engine.experiments.quant.fidelity import FidelityStarted
    from llmbench.engine.experiments.quant.matrix import Quantizing, QuestionAsked, VariantDone, VariantStarted
    from llmbench.engine.jobs import Progress
    from llmbench.engine.runtime.events import Error

    err = sys.stderr
    if isinstance(event, VariantStarted):
        v = event.variant
        where = v.spec or f"from {Path(v.ladder[0]).name}, by llama.cpp's quantizer" if v.ladder else v.spec
        print(f"[{event.index}/{event.total}] {v.name}  ({where})", file=err, flush=True)
    elif isinstance(event, Quantizing):
        print(f"    quantizing to {event.path} with llama.cpp", file=err, flush=True)
    elif isinstance(event, FidelityStarted):
        what = "the reference" if event.index == 0 else f"{event.index}/{event.total}"
        print(f"[fidelity {what}] {event.variant}", end="", file=err, flush=True)
    elif isinstance(event, Progress):
        print(f" {event.done}/{event.total}", end="\n" if event.done == event.total else "", file=err, flush=True)
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
    from llmbench.engine.experiments.quant.report import COLUMNS, fidelity_lines, table_rows

    from .output import console

    out = console()
    title = f"quantization matrix · {result['base']} · {len(result['questions'])} questions"
    right = [c for c in COLUMNS if c not in ("variant", "runtime", "note")]
    out.print(rich_table(title, COLUMNS, table_rows(result), right=right))
    for line in fidelity_lines(result):
        out.print(line, highlight=False, markup=False)
    from ..render.charts import size_kld_chart

    chart = size_kld_chart(result["rows"], min(out.width, 100), 20)
    if chart:
        out.print(Text.from_ansi(chart))
