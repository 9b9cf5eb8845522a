"""``llmbench fidelity``: what a quantization costs, measured from the logits (KLD, PPL, same top)."""

from __future__ import annotations

import sys

from llmbench.engine.experiments.fidelity.remote import DEFAULT_TOP_N
from llmbench.engine.experiments.fidelity.run import DEFAULT_CTX

from ..render.tables import rich_table
from .jobs import drive, exit_code
from .output import FORMATS, console, dump_json

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
    p.add_argument("--save-ref", default=None, metavar="FILE",
                   help="keep the reference's log-probabilities in FILE (llama-perplexity's base format)")  # fmt: skip
    p.add_argument("--ref-file", default=None, metavar="FILE", help="use a reference saved by --save-ref")
    p.add_argument("--force", action="store_true", help="replace an existing --save-ref file")
    p.add_argument(
        "--mc",
        nargs="?",
        const="builtin",
        default=None,
        metavar="FILE",
        help="also multiple choice: accuracy and flips against the reference (JSONL/CSV; alone: a built-in smoke set)",
    )
    p.add_argument(
        "--tokens",
        type=int,
        default=None,
        metavar="N",
        help="the token view instead: the first --ctx tokens through REF and CAND, the N tokens of largest KLD",
    )
    p.add_argument("--top-n", type=int, default=DEFAULT_TOP_N, metavar="N",
                   help=f"logprobs asked of an openai: candidate per position (default {DEFAULT_TOP_N})")  # fmt: skip
    p.add_argument("--format", choices=FORMATS, default="table")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--no-record", action="store_true", help="do not write a session file")


def run(args) -> int:
    from llmbench.engine.errors import FidelityError
    from llmbench.engine.experiments.fidelity.multiple_choice import load_mc
    from llmbench.engine.experiments.fidelity.run import Fidelity, read_text

    if args.chunks is not None and args.chunks < 2:
        raise FidelityError(f"--chunks {args.chunks}: at least 2")
    if not 1 <= args.top_n <= 1000:
        raise FidelityError(f"--top-n {args.top_n}: from 1 to 1000")
    text = read_text(args.text)
    if args.tokens is not None:
        return _tokens(args, text)
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
        record=not args.no_record,
        mc=load_mc(args.mc) if args.mc else None,
        top_n=args.top_n,
    )
    result = drive(fid, not args.quiet and args.format != "json", "the figures so far")
    _show(result.to_json(), args.format)
    if args.format != "json":
        if result.session:
            print(f"session: {result.session}", file=sys.stderr)
        elif result.record_error:
            print(f"not recorded: {result.record_error}", file=sys.stderr)
    return exit_code(result, result.failed or result.partial)


def _show(result: dict, fmt: str) -> None:
    """The result's JSON form (a recorded session's too), as ``--format`` asks."""
    from llmbench.engine.experiments.fidelity.report import headers, markdown_report, summary_lines, table_rows

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


def _tokens(args, text) -> int:
    """``--tokens N``: where the candidate departs from the reference, token by token."""
    from llmbench.engine.errors import FidelityError
    from llmbench.engine.experiments.fidelity.tokens import token_view, worst

    if len(args.candidates) != 1:
        raise FidelityError("--tokens compares the reference with one candidate")
    view = token_view(args.reference, args.candidates[0], text, ctx=args.ctx, threads=args.threads)
    if args.format == "json":
        dump_json(view)
        return 0
    texts = [c["text"] for c in view["tokens"]]

    def tops(pairs) -> str:
        return "  ".join(f"{t!r} {100 * p:.0f}%" for t, p in pairs[:3])

    rows = []
    for i, c in worst(view, max(1, args.tokens)):
        before = "".join(texts[max(0, i - 6) : i]).replace("\n", "⏎")[-24:]
        rows.append([str(i), f"{before}[{c['text']}]".replace("\n", "⏎"), f"{c['kld']:.4f}",
                     f"{100 * c['p_ref']:.1f}%", f"{100 * c['p_cand']:.1f}%", tops(c["ref_top"]),
                     tops(c["cand_top"])])  # fmt: skip
    cols = ["#", "token (in context)", "KLD", "p ref", "p cand", "reference's top", "candidate's top"]
    title = (f"{len(texts)} tokens of {view['text']}: mean KLD {view['kld_mean']:.4f}, "
             f"same top {100 * view['same_top_p']:.1f}% (one passage, one sample)")  # fmt: skip
    if args.format == "md":
        from llmbench.engine.util.markdown import table

        print("\n".join([f"# Token view: {view['candidate']} against {view['reference']}", "", title, "",
                         *table(cols, rows, "rlrrrll")]))  # fmt: skip
    else:
        console().print(rich_table(title, cols, rows, right=["#", "KLD", "p ref", "p cand"]))
    return 0
