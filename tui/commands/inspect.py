"""``llmbench inspect SRC [--compare SRC2] [--memory] [--tree] [--ctx N] [--format table|json|md]``."""

from __future__ import annotations

import sys

from engine.errors import SpecError
from engine.inspect import AdapterSummary, inspect_source
from engine.inspect.adapter import adapter_rows
from engine.inspect.memory import machine_memory, memory_table
from engine.inspect.modules import tree_lines
from engine.inspect.report import compare_rows, display_name, mib, summary_rows


def run(args) -> int:
    a = inspect_source(args.src, tree=args.tree)
    b = inspect_source(args.compare, tree=args.tree) if args.compare else None
    if isinstance(a, AdapterSummary) or isinstance(b, AdapterSummary):
        if b is not None:
            raise SpecError("--compare works on models; a LoRA adapter is shown on its own")
        return _adapter(a, args.format)
    ram, gpu = machine_memory()
    tables = {}
    if args.memory:
        for key, s in (("a", a), ("b", b)):
            if s is not None:
                tables[key] = memory_table(s, args.ctx, args.batch, ram, gpu)

    def one(s, key):
        data = s.to_dict()
        if not args.tree:
            data.pop("module_tree", None)
        if key in tables:
            data["memory"] = [r.to_dict() for r in tables[key]]
        return data

    if args.save:
        from engine.sessions import save_snapshot

        record = {"a": one(a, "a")}
        if b is not None:
            record["b"] = one(b, "b")
            record["differences"] = [label for label, _, _, differs in compare_rows(a, b) if differs]
        title = display_name(a) + (f" vs {display_name(b)}" if b is not None else "")
        path = save_snapshot("inspect", title, record, {"source": args.src, "compare": args.compare, "ctx": args.ctx})
        print(f"snapshot: {path}", file=sys.stderr)
    if args.format == "json":
        from ..cli import dump_json

        if b is None:
            dump_json(one(a, "a"))
        else:
            diffs = [label for label, _, _, differs in compare_rows(a, b) if differs]
            dump_json({"a": one(a, "a"), "b": one(b, "b"), "differences": diffs})
        return 0
    if args.format == "md":
        print(markdown(a, b, tables, args.ctx, args.tree))
        return 0
    _print(a, b, tables, args.ctx, gpu is not None, args.tree)
    return 0


def _adapter(a: AdapterSummary, fmt: str) -> int:
    rows = adapter_rows(a)
    if fmt == "json":
        from ..cli import dump_json

        dump_json(a.to_dict())
    elif fmt == "md":
        print("\n".join([f"## LoRA adapter: {a.source}", "", "| field | value |", "|---|---|",
                         *[f"| {k} | {v} |" for k, v in rows]]))
    else:
        from rich.console import Console

        from ..inspect_tables import pairs_table

        Console().print(pairs_table(rows, f"LoRA adapter: {a.source}"))
    return 0


def _print(a, b, tables, ctx, has_gpu, tree) -> None:
    from rich.console import Console

    from ..inspect_tables import memory_table_view, module_tree_view, projection_table, summary_table

    console = Console()
    console.print(summary_table(a, b))
    for s in (a, b):
        if s is not None and s.projections:
            console.print(projection_table(s))
        if s is not None and tree and s.module_tree is not None:
            console.print(module_tree_view(s.module_tree))
    for key, rows in tables.items():
        s = a if key == "a" else b
        console.print(memory_table_view(rows, f"memory: {display_name(s)} at context {ctx:,}", has_gpu))


def markdown(a, b, tables, ctx, tree=False) -> str:
    lines = []
    if b is None:
        lines += [f"## {display_name(a)}", "", "| field | value |", "|---|---|"]
        lines += [f"| {l} | {v} |" for l, v in summary_rows(a)]
    else:
        lines += [f"## {display_name(a)} vs {display_name(b)}", "", f"| field | {display_name(a)} | {display_name(b)} |", "|---|---|---|"]
        for label, va, vb, differs in compare_rows(a, b):
            mark = "**" if differs else ""
            lines.append(f"| {mark}{label}{mark} | {va} | {vb} |")
    for s in (a, b):
        if s is not None and s.projections:
            lines += ["", f"### Projections of layer 0: {display_name(s)}", "", "| name | in | out | class | quant |",
                      "|---|---:|---:|---|---|"]
            lines += [f"| {x.name} | {x.in_features} | {x.out_features} | {x.cls} | {x.quant or '—'} |"
                      for x in s.projections]
        if s is not None and tree and s.module_tree is not None:
            lines += ["", f"### Modules: {display_name(s)}", "", "```", *tree_lines(s.module_tree), "```"]
    for key, rows in tables.items():
        s = a if key == "a" else b
        lines += ["", f"### Memory: {display_name(s)} at context {ctx}", "",
                  "| format | runtime | weights | KV cache | total | fits |", "|---|---|---:|---:|---:|---|"]
        lines += [f"| {r.format} | {r.runtime} | {mib(r.weights_bytes)} | {mib(r.kv_bytes)} | {mib(r.total_bytes)} | "
                  f"{'—' if r.fits is None else ('yes' if r.fits else 'no')} |" for r in rows]
    return "\n".join(lines)
