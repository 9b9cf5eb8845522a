"""``llmbench quantize``: a GGUF at another quantization, by llama.cpp's own quantizer."""

from __future__ import annotations

import sys

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
    from llmbench.engine.models.quantize import check_type, quantize_gguf
    from llmbench.engine.util.fmt import size_text

    check_type(args.type)  # an unknown type is refused before anything is read
    source = models.resolve(args.source)
    if source.backend != "llama.cpp":
        from llmbench.engine.errors import QuantizeError

        raise QuantizeError(f"{args.source}: quantize takes a GGUF file")
    with _bar(not args.quiet and args.format != "json") as bar:
        done = quantize_gguf(source.path, args.type, args.out, threads=args.threads, force=args.force, progress=bar)
    if args.format == "json":
        dump_json(done.to_dict())
        return 0
    how = f"dequantized from {done.source_quant}, then quantized" if done.requantized else "quantized"
    print(f"{done.out}: {done.type}, {size_text(done.bytes)} ({how} by llama.cpp in {done.seconds:.1f} s)")
    if done.requantized:
        print(f"note: {done.source_quant} weights carry its rounding: this {done.type} is measured against them, "
              "not against the original full-precision model", file=sys.stderr)  # fmt: skip
    return 0


def _bar(enabled: bool):
    """A progress bar over the bytes written (the expected size is an estimate)."""
    from contextlib import contextmanager

    @contextmanager
    def bar():
        if not enabled:
            yield None
            return
        from rich.console import Console
        from rich.progress import BarColumn, DownloadColumn, Progress, TimeElapsedColumn

        with Progress(BarColumn(), DownloadColumn(), TimeElapsedColumn(), console=Console(stderr=True)) as p:
            task = p.add_task("quantize", total=None)

            def update(written: int, expected: int | None) -> None:
                p.update(task, completed=written, total=max(expected or 0, written) or None)

            yield update

    return bar()
