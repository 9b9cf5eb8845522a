"""``llmbench duel``: both answers stream to the terminal, then the stats."""

from __future__ import annotations

import sys

from llmbench.engine.runtime.duel import MODES, Duel
from llmbench.engine.runtime.memory_split import buffers_text, memory_text
from llmbench.engine.runtime.metrics import (
    OPTIONAL_ROWS,
    STAT_ROWS,
    engine_text,
    format_stat,
    samples_note,
    server_text,
    spread_text,
)
from llmbench.engine.util.markdown import table

from .jobs import drive, exit_code
from .output import FORMATS, dump_json
from .params import add_param_arguments, params_from_args, prompt_text
from .stream import EventPrinter

NAME = "duel"


def add_parser(sub) -> None:
    p = sub.add_parser(NAME, help="two to four models answer one prompt; prints their stats")
    p.add_argument("--a", dest="spec_a", default=None, metavar="SPEC", help="model A: name, gguf:PATH or PATH.gguf")
    p.add_argument("--b", dest="spec_b", default=None, metavar="SPEC", help="model B")
    p.add_argument("--model", dest="models", action="append", default=[], metavar="SPEC",
                   help="one more contestant, after --a and --b (repeatable; 2 to 4 models in all)")  # fmt: skip
    p.add_argument("--prompt", required=True, help="the prompt ('-' reads standard input)")
    p.add_argument("--mode", choices=MODES, default=None, help="default: concurrent with 4+ cores, else sequential")
    p.add_argument("--format", choices=FORMATS, default="table")
    p.add_argument("--quiet", action="store_true", help="do not stream the answers")
    p.add_argument("--repeat", type=int, default=1, metavar="N",
                   help="ask each side N times, interleaved; the stats show mean ± stddev (default 1)")  # fmt: skip
    p.add_argument("--no-record", action="store_true", help="do not write a session file")
    add_param_arguments(p)


def run(args) -> int:
    from llmbench.engine.util.cpus import cpu_budget

    params = params_from_args(args)
    if params.threads and (warning := cpu_budget().warning(params.threads * (2 if args.mode == "concurrent" else 1))):
        print(f"llmbench: warning: --threads {params.threads}: {warning}", file=sys.stderr)
    specs = contestants(args)
    prompt = prompt_text(args.prompt)
    stream = not args.quiet and args.format == "table"
    with Duel(specs[0], specs[1], params, mode=args.mode, record=not args.no_record, more=specs[2:]) as duel:
        printer = EventPrinter(dict(zip("abcd", specs)), stream)
        result = drive(duel.job(prompt, repeat=args.repeat), False, "the answers so far", on_event=printer)
    if duel.record_error:
        print(f"warning: not recorded: {duel.record_error}", file=sys.stderr)
    data = result.to_json()
    if args.format == "json":
        dump_json(data)
    elif args.format == "md":
        print(markdown_report(data))
    elif any(not c["error"] or c["gen_tokens"] for c in result.contestants):
        _print_table(data)  # (when both failed before answering, stderr already said why)
    return exit_code(result, result.failed)


def contestants(args) -> list[str]:
    """The models in order: --a, --b, then each --model; 2 to 4 of them."""
    from llmbench.engine.runtime.events import MAX_SIDES

    from .output import CliError

    specs = [s for s in (args.spec_a, args.spec_b, *args.models) if s]
    if not 2 <= len(specs) <= MAX_SIDES:
        raise CliError(f"a duel takes 2 to {MAX_SIDES} models (--a, --b, --model ...), not {len(specs)}")
    return specs


def _columns(result: dict) -> list[tuple[str, str]]:
    sides = result["contestants"]
    names = [c["model"] for c in sides]
    names = [f"{n} ({c['side'].upper()})" if names.count(n) > 1 else n for n, c in zip(names, sides)]
    return list(
        zip(names, (f"{c['quant'] or ''}" if (c["quant"] or "") not in n else "" for n, c in zip(names, sides)))
    )


def stats_rows(result: dict) -> list[list[str]]:
    rows = []
    for key, label, _ in STAT_ROWS:
        values = [c.get(key) for c in result["contestants"]]
        if key in OPTIONAL_ROWS and all(v is None for v in values):
            continue
        rows.append([label, *(spread_text(key, c["repeats"]) or format_stat(key, v)
                              for c, v in zip(result["contestants"], values))])  # fmt: skip
    if any(c["repeats"]["n"] > 1 for c in result["contestants"]):
        rows.append(["runs", *(str(c["repeats"]["n"]) for c in result["contestants"])])
    if any(server_text(c.get("server")) for c in result["contestants"]):
        rows.append(["server says", *((server_text(c.get("server")) or "—") for c in result["contestants"])])
    if any(c.get("memory") for c in result["contestants"]):
        rows.append(["mem (RSS)", *(memory_text(c.get("memory")) for c in result["contestants"])])
        if any(buffers_text(c.get("memory")) for c in result["contestants"]):
            rows.append(["engine buffers", *((buffers_text(c.get("memory")) or "—") for c in result["contestants"])])
    if any(c.get("engine") or _remote(c) for c in result["contestants"]):
        rows.append(["engine says", *(engine_text(c.get("engine"), c.get("gen_tok_s"), _remote(c))
                                      for c in result["contestants"])])  # fmt: skip
    rows.append(["finish", *((c["finish_reason"] or "—") for c in result["contestants"])])
    if any(c["error"] for c in result["contestants"]):
        rows.append(["error", *((c["error"] or "") for c in result["contestants"])])
    return rows


def _note(result: dict) -> str:
    return samples_note([c.get("repeats") for c in result["contestants"]])


def _remote(c: dict) -> bool:
    return (c.get("spec") or "").startswith("openai:")


def _print_table(result: dict) -> None:
    from ..render.tables import rich_table
    from .output import console as make_console

    console = make_console()
    names = [f"{name} {quant}".strip() for name, quant in _columns(result)]
    console.print(rich_table(f"duel ({result['mode']})", ["", *names], stats_rows(result), right=names))
    console.print(_note(result), style="dim", highlight=False)
    if result["verdict"]:
        console.print(result["verdict"], style="bold", highlight=False)
    if result["session"]:
        console.print(f"session: {result['session']}", style="dim", highlight=False, soft_wrap=True)


def markdown_report(result: dict) -> str:
    cols = _columns(result)
    lines = [f"## Duel ({result['mode']})", ""]
    for (name, quant), c in zip(cols, result["contestants"]):
        lines += [f"### {c['side'].upper()}: {name} {quant}".rstrip(), ""]
        lines += [c["text"] or f"*{c['error'] or 'no answer'}*", ""]
    lines += table(["", *(f"{n} {q}".strip() for n, q in cols)], stats_rows(result), "l" + "r" * len(cols))
    lines += ["", f"*{_note(result)}*"]
    if result["verdict"]:
        lines += ["", f"**{result['verdict']}**"]
    if result["session"]:
        lines += ["", f"Session: `{result['session']}`"]
    return "\n".join(lines)
