"""``llmbench quant-matrix``: one base model in every precision and quantization, on one question set."""

from __future__ import annotations

import sys

from engine.types import GenParams


def run(args, params: GenParams) -> int:
    from engine.quant_matrix import (MatrixDone, QuantMatrix, QuestionAsked, VariantDone, VariantStarted,
                                     markdown_report, write_reports)
    from engine.types import Error

    names = [n.strip() for n in args.variants.split(",") if n.strip()] if args.variants else None
    matrix = QuantMatrix(args.base, args.questions, params, names=names, ggufs=args.gguf or (),
                         record=not args.no_record)
    quiet = args.quiet or args.format == "json"
    err = sys.stderr
    if not quiet:
        print(f"{len(matrix.variants)} variants x {len(matrix.questions)} questions "
              f"(greedy, at most {params.max_tokens} tokens)", file=err)
    result = None
    try:
        for source, event in matrix.run():
            if isinstance(event, MatrixDone):
                result = event.result
            elif quiet:
                continue
            elif isinstance(event, VariantStarted):
                v = event.variant
                print(f"[{event.index}/{event.total}] {v.name}  ({v.spec})", file=err, flush=True)
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
                    print(f"\n    load {r.load_s or 0:.2f} s · {tok_s} · peak RAM {r.peak_rss_mib or 0:.0f} MiB",
                          file=err, flush=True)
            elif isinstance(event, Error) and source != "matrix":
                print(f" ({event.message})", end="", file=err)
    except KeyboardInterrupt:
        matrix.cancel()
        raise
    from ..cli import print_report

    files = write_reports(result, args.out)
    print_report(args.format, result, {"md": files["md"], "json": files["json"]}, markdown_report, _print_table)
    if result.get("session") and args.format != "json":
        print(f"session: {result['session']}", file=err)
    return 0 if any(r["answers"] and not r["error"] for r in result["rows"]) else 1


def _print_table(result: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    from engine.quant_matrix import COLUMNS, table_rows

    table = Table(title=f"quantization matrix · {result['base']} · {len(result['questions'])} questions",
                  title_justify="left")
    for c in COLUMNS:
        table.add_column(c, justify="left" if c in ("variant", "runtime", "note") else "right", overflow="fold")
    for row in table_rows(result):
        table.add_row(*row)
    Console().print(table)
