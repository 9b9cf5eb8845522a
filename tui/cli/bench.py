"""``llmbench bench``: llama-bench's tests and table for every local backend, interleaved."""

from __future__ import annotations

import sys

from llmbench.engine.experiments.bench.emit import TOOLS as EMIT_TOOLS
from llmbench.engine.experiments.bench.report import FORMATS
from llmbench.engine.experiments.bench.run import DEFAULT_GEN, DEFAULT_PROMPT, DEFAULT_REPS, DEFAULT_WARMUP

from ..render.tables import rich_table
from .jobs import drive, exit_code
from .output import CliError, console, dump_json

NAME = "bench"
WIDE = 120  # below this many columns the table leaves out NARROW_DROP
NARROW_DROP = ("size", "params", "backend", "threads", "load")


def _counts(text: str) -> list[int]:
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise CliError(f"{text!r}: comma-separated whole numbers, as 512,1024") from None


def _pairs(text: str) -> list[tuple[int, int]]:
    parts = _counts(text)
    if len(parts) != 2:
        raise CliError(f"-pg {text!r}: one pair of prompt and generation tokens, as 512,128")
    return [(parts[0], parts[1])]


def add_parser(sub) -> None:
    p = sub.add_parser(
        NAME,
        help="speed as llama-bench measures it (pp, tg, depth, repetitions) for GGUF and hf: models",
        description="Each model in its own worker; tests interleaved across models and repetitions after a warmup; "
        "t/s as avg ± stddev, with TTFT, load time and peak RAM.",
    )
    p.add_argument("specs", nargs="+", metavar="SPEC", help="models: names, .gguf paths, hf:...")
    p.add_argument("-p", "--n-prompt", type=_counts, default=list(DEFAULT_PROMPT), metavar="N[,N]",
                   help="prompt tokens of the pp tests (default 512; 0 for none)")  # fmt: skip
    p.add_argument("-n", "--n-gen", type=_counts, default=list(DEFAULT_GEN), metavar="N[,N]",
                   help="generated tokens of the tg tests (default 128; 0 for none)")  # fmt: skip
    p.add_argument("-pg", dest="pg", type=_pairs, action="extend", default=[], metavar="P,G",
                   help="a prompt then a generation, timed together (repeatable)")  # fmt: skip
    p.add_argument("-d", "--n-depth", type=_counts, default=[0], metavar="N[,N]",
                   help="tokens of real text in the KV cache before each test (default 0)")  # fmt: skip
    p.add_argument("-r", "--repetitions", type=int, default=DEFAULT_REPS, metavar="N",
                   help=f"timed repetitions of each test (default {DEFAULT_REPS})")  # fmt: skip
    p.add_argument("--warmup", type=int, default=DEFAULT_WARMUP, metavar="N",
                   help=f"rounds run first and not counted (default {DEFAULT_WARMUP})")  # fmt: skip
    p.add_argument(
        "-t",
        "--threads",
        type=int,
        default=None,
        metavar="N",
        help="threads per model, obeyed as given (default: auto, the CPUs this process may use less "
        "those others keep busy, chosen again each run)",
    )
    p.add_argument("--text", default=None, metavar="FILE", help="text that fills the cache (default: demo corpus)")
    p.add_argument("-o", "--output", choices=FORMATS, default="table",
                   help="table or md; csv, json, jsonl or sql in llama-bench's own fields")  # fmt: skip
    _add_load_arguments(p)
    p.add_argument(
        "--emit",
        choices=EMIT_TOOLS,
        default=None,
        metavar="TOOL",
        help="print the same measurement as a llama-bench, vllm or guidellm command, and run nothing",
    )
    p.add_argument("--build-commit", default=None, metavar="NAME",
                   help="the build_commit of the rows in llama-bench's formats (default: llmbench)")  # fmt: skip
    p.add_argument("--force", action="store_true", help="load even when the memory estimate exceeds the free RAM")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--no-record", action="store_true", help="do not write a session file")


def _add_load_arguments(p) -> None:
    """``--concurrency`` and its own options: the load test of a server."""
    p.add_argument("--concurrency", type=_counts, default=None, metavar="N[,N]",
                   help="load an openai: server (or a GGUF, served for the run): this many requests at once, "
                   "level by level (as 1,2,4,8)")  # fmt: skip
    p.add_argument("--requests", type=int, default=None, metavar="N",
                   help="with --concurrency: requests per level (default: 4 per concurrent slot)")  # fmt: skip
    p.add_argument("--shared-prefix", action="store_true",
                   help="with --concurrency: every request the same prompt, so a prompt cache shows")  # fmt: skip


def run(args) -> int:
    from llmbench.engine.errors import BenchError
    from llmbench.engine.experiments.bench.run import Bench, plan
    from llmbench.engine.experiments.fidelity.run import read_text
    from llmbench.engine.util.cpus import cpu_budget

    if args.concurrency is not None:
        return _load(args)
    tests = plan(args.n_prompt, args.n_gen, args.pg, args.n_depth)
    if args.emit:
        from llmbench.engine.experiments.bench.emit import emit

        print("\n".join(emit(args.emit, args.specs, args.n_prompt, args.n_gen, args.pg, args.n_depth,
                              args.repetitions, args.warmup, args.threads)))  # fmt: skip
        return 0
    if args.threads is not None and args.threads < 1:
        raise BenchError(f"-t {args.threads}: at least 1 thread (leave -t out for auto)")
    if args.threads and (warning := cpu_budget().warning(args.threads)):
        print(f"llmbench: warning: -t {args.threads}: {warning}", file=sys.stderr)
    bench = Bench(args.specs, tests, read_text(args.text), reps=args.repetitions, warmup=args.warmup,
                  threads=args.threads, record=not args.no_record, force=args.force)  # fmt: skip
    result = drive(bench, not args.quiet and args.output == "table", "the finished runs")
    _show(result.to_json(), args.output, args.build_commit)
    if result.session and args.output == "table":
        print(f"session: {result.session}", file=sys.stderr)
    return exit_code(result, result.failed or result.partial)


def _load(args) -> int:
    """``--concurrency``: a server under load, level by level (engine/experiments/bench/load.py)."""
    from llmbench.engine.errors import BenchError
    from llmbench.engine.experiments.bench.load import LoadBench
    from llmbench.engine.experiments.bench.load_report import (
        COLUMNS,
        error_lines,
        heading,
        markdown_report,
        note_lines,
        table_rows,
    )
    from llmbench.engine.experiments.fidelity.run import read_text

    if len(args.specs) != 1:
        raise BenchError("--concurrency loads one server at a time: give one openai:URL#MODEL")
    if args.output not in ("table", "md", "json"):
        raise BenchError(f"-o {args.output}: a load test prints table, md or json")
    job = LoadBench(args.specs[0], args.concurrency, read_text(args.text), n_prompt=args.n_prompt[0],
                    n_gen=args.n_gen[0], requests=args.requests, shared_prefix=args.shared_prefix,
                    record=not args.no_record, threads=args.threads)  # fmt: skip
    result = drive(job, not args.quiet and args.output == "table", "the finished levels")
    data = result.to_json()
    if args.output == "json":
        dump_json(data)
    elif args.output == "md":
        print(markdown_report(data), end="")
    else:
        out = console()
        out.print(heading(data), highlight=False, markup=False, soft_wrap=True)
        out.print(rich_table(None, list(COLUMNS), table_rows(data), right=list(COLUMNS)))
        for line in error_lines(data):
            out.print(f"error: {line}", highlight=False, markup=False, soft_wrap=True)
        for line in note_lines(data):
            out.print(f"note: {line}", highlight=False, markup=False, soft_wrap=True)
        if result.session:
            print(f"session: {result.session}", file=sys.stderr)
    return exit_code(result, result.failed or result.partial)


def _show(result: dict, fmt: str, build: str | None = None) -> None:
    """The result's JSON form (a recorded session's too), as ``-o`` asks."""
    from llmbench.engine.experiments.bench.report import (
        COLUMNS,
        heading,
        memory_lines,
        render,
        server_lines,
        table_rows,
    )

    if fmt != "table":
        print(render(result, fmt, build), end="")
        return
    out = console()
    out.print(heading(result), highlight=False, markup=False, soft_wrap=True)
    columns, rows = list(COLUMNS), table_rows(result)
    if out.width < WIDE:  # a narrow terminal keeps what changes from row to row (all of it is in -o json)
        keep = [i for i, c in enumerate(columns) if c not in NARROW_DROP]
        columns, rows = [columns[i] for i in keep], [[r[i] for i in keep] for r in rows]
    right = ("size", "params", "threads", "t/s", "TTFT", "load", "peak RAM")
    out.print(rich_table(None, columns, rows, right=right, no_wrap=("model", "t/s", "TTFT", "test", "size", "load")))
    for line in server_lines(result):
        out.print(f"server: {line}", highlight=False, markup=False, soft_wrap=True)
    for line in memory_lines(result):
        out.print(f"memory (one sample, after the runs): {line}", highlight=False, markup=False, soft_wrap=True)
    for spec, why in {r["spec"]: r["error"] for r in result["rows"] if r["error"]}.items():
        out.print(f"error: {spec}: {why}", highlight=False, markup=False, soft_wrap=True)
