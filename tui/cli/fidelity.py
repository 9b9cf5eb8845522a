"""``llmbench fidelity``: what a quantization costs, measured from the logits (KLD, PPL, same top)."""

from __future__ import annotations

import sys

from llmbench.engine.experiments.fidelity import DEFAULT_CTX

from .documents import progress_bar
from .output import FORMATS, console, dump_json, rich_table

NAME = "fidelity"


def add_parser(sub) -> None:
    p = sub.add_parser(
        NAME,
        help="compare candidates with a reference model token by token: KL divergence, perplexity, same top token",
        description="llama-perplexity --kl-divergence across backends: each chunk of --ctx tokens runs through "
        "the reference and every candidate; the second half of each chunk is scored.",
    )
    p.add_argument("reference", metavar="REF", help="the reference model (e.g. the full-precision one)")
    p.add_argument("candidates", nargs="*", metavar="CAND", help="models to compare with it (same tokenizer)")
    p.add_argument("--text", default=None, metavar="FILE", help="UTF-8 text to score (default: the demo corpus)")
    p.add_argument("--ctx", type=int, default=DEFAULT_CTX, help=f"tokens per chunk (default {DEFAULT_CTX})")
    p.add_argument("--chunks", type=int, default=None, metavar="N", help="score at most N chunks (default: all)")
    p.add_argument("--threads", type=int, default=None, metavar="N", help="threads per model (default: all cores)")
    p.add_argument("--save-ref", default=None, metavar="FILE", help="keep the reference's figures in FILE (.npz)")
    p.add_argument("--ref-file", default=None, metavar="FILE", help="use a reference saved by --save-ref")
    p.add_argument("--force", action="store_true", help="replace an existing --save-ref file")
    p.add_argument("--format", choices=FORMATS, default="table")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args) -> int:
    from llmbench.engine.errors import FidelityError
    from llmbench.engine.experiments.fidelity import Fidelity, FidelityDone, read_text

    if args.chunks is not None and args.chunks < 2:
        raise FidelityError(f"--chunks {args.chunks}: at least 2")
    text = read_text(args.text)
    fid = Fidelity(
        args.reference,
        args.candidates,
        text,
        ctx=args.ctx,
        chunks=args.chunks,
        threads=args.threads,
        save_ref=args.save_ref,
        ref_file=args.ref_file,
        force=args.force,
    )
    result = None
    try:
        with progress_bar(not args.quiet and args.format != "json") as bar:
            for event in fid.run():
                if isinstance(event, FidelityDone):
                    result = event.result
                else:
                    bar(event)
    except KeyboardInterrupt:
        fid.cancel()
        fid.close()
        result = fid.result()
        print("llmbench: interrupted: the figures so far", file=sys.stderr)
    _show(result, args.format)
    failed = [c for c in result["candidates"] if c.get("error")]
    return 1 if failed or result["partial"] else 0


def _show(result: dict, fmt: str) -> None:
    from llmbench.engine.experiments.fidelity_report import headers, markdown_report, summary_lines, table_rows

    if fmt == "json":
        dump_json(result)
    elif fmt == "md":
        print(markdown_report(result), end="")
    else:
        out = console()
        for line in summary_lines(result):
            out.print(line, highlight=False, markup=False, soft_wrap=True)
        cols = headers(result)
        out.print(rich_table(None, cols, table_rows(result), right=cols[1:], no_wrap=cols))
