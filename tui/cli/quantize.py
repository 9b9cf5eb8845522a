"""``llmbench quantize``: a GGUF at another quantization, by llama.cpp's own quantizer."""

from __future__ import annotations

import sys

from .jobs import drive, exit_code
from .output import dump_json

NAME = "quantize"


def add_parser(sub) -> None:
    from llmbench.engine.models.quantize import FTYPES

    p = sub.add_parser(
        NAME,
        help="write a GGUF at another type with llama.cpp's quantizer (a quantized source is dequantized first)",
    )
    p.add_argument("source", metavar="SRC", help="a .gguf file, or a registered or demo model name")
    p.add_argument("--type", required=True, metavar="TYPE", help=f"one of {', '.join(FTYPES)}")
    p.add_argument("--out", default=None, metavar="PATH", help="the new file (default: beside SRC, named by TYPE)")
    p.add_argument("--threads", type=int, default=None, metavar="N", help="threads (default: all cores)")
    p.add_argument("--force", action="store_true", help="replace an existing output file")
    p.add_argument("--format", choices=("table", "json"), default="table")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args) -> int:
    from llmbench.engine import models
    from llmbench.engine.models.quantize import check_type, quantize_job
    from llmbench.engine.util.fmt import size_text

    check_type(args.type)  # an unknown type is refused before anything is read
    source = models.resolve(args.source)
    if source.backend != "llama.cpp":
        from llmbench.engine.errors import QuantizeError

        raise QuantizeError(f"{args.source}: quantize takes a GGUF file")
    job = quantize_job(source.path, args.type, args.out, threads=args.threads, force=args.force)
    done = drive(job, not args.quiet and args.format != "json", "nothing was written")
    if args.format == "json":
        dump_json(done.to_json())
    elif done.partial:
        print(f"{source.path}: PARTIAL: quantizing to {done.type} was stopped; nothing was written")
    else:
        how = f"dequantized from {done.source_quant}, then quantized" if done.requantized else "quantized"
        print(f"{done.out}: {done.type}, {size_text(done.bytes)} ({how} by llama.cpp in {done.seconds:.1f} s)")
        if done.requantized:
            print(f"note: {done.source_quant} weights carry its rounding: this {done.type} is measured "
                  "against them, not against the original full-precision model", file=sys.stderr)  # fmt: skip
    return exit_code(done)
