"""``llmbench inspect SRC [--compare SRC2] [--memory] [--ctx N] [--format table|json|md]``."""

from __future__ import annotations

from engine.inspect import inspect_source
from engine.inspect.memory import machine_memory, memory_table
from engine.inspect.report import compare_rows, mib, summary_rows


def run(args) -> int:
    a = inspect_source(args.src)
    b = inspect_source(args.compare) if args.compare else None
    ram, gpu = machine_memory()
    tables = {}
    if args.memory:
        for key, s in (("a", a), ("b", b)):
            if s is not None:
                tables[key] = memory_table(s, args.ctx, args.batch, ram, gpu)
    if args.format == "json":
        from ..cli import dump_json

        def one(s, key):
            data = s.to_dict()
            if key in tables:
                data["memory"] = [r.to_dict() for r in tables[key]]
            return data

        if b is None:
            dump_json(one(a, "a"))
        else:
            diffs = [label for label, _, _, differs in compare_rows(a, b) if differs]
            dump_json({"a": one(a, "a"), "b": one(b, "b"), "differences": diffs})
        return 0
    if args.format == "md":
        print(markdown(a, b, tables, args.ctx))
        return 0
    _print(a, b, tables, args.ctx, gpu is not None)
    return 0


def _title(s) -> str:
    return s.name or s.source


def _print(a, b, tables, ctx, has_gpu) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    if b is None:
        t = Table(title=f"{_title(a)}  [dim]({a.source_kind})[/]", title_justify="left", show_header=False)
        t.add_column(style="dim")
        t.add_column()
        for label, value in summary_rows(a):
            t.add_row(label, value)
    else:
        t = Table(title="compare", title_justify="left")
        t.add_column("")
        t.add_column(_title(a), overflow="fold")
        t.add_column(_title(b), overflow="fold")
        for label, va, vb, differs in compare_rows(a, b):
            style = "bold yellow" if differs else None
            t.add_row(label, va, vb, style=style)
    console.print(t)
    for s in (a, b):
        if s is None or not s.projections:
            continue
        p = Table(title=f"projections of layer 0: {_title(s)}", title_justify="left")
        for col in ("name", "in", "out", "class", "quant"):
            p.add_column(col, justify="right" if col in ("in", "out") else "left")
        for x in s.projections:
            p.add_row(x.name, f"{x.in_features:,}", f"{x.out_features:,}", x.cls, x.quant or "—")
        console.print(p)
    for key, rows in tables.items():
        s = a if key == "a" else b
        m = Table(title=f"memory: {_title(s)} at context {ctx:,}", title_justify="left")
        for col in ("format", "runtime", "weights", "KV cache", "overhead", "total", "fits RAM"):
            m.add_column(col, justify="left" if col in ("format", "runtime") else "right")
        if has_gpu:
            m.add_column("fits GPU", justify="right")
        for r in rows:
            cells = [r.format, r.runtime, mib(r.weights_bytes), mib(r.kv_bytes), mib(r.overhead_bytes),
                     mib(r.total_bytes), _yes(r.fits)]
            if has_gpu:
                cells.append(_yes(r.fits_gpu))
            m.add_row(*cells)
        console.print(m)


def _yes(v) -> str:
    return "—" if v is None else ("[green]yes[/]" if v else "[red]no[/]")


def markdown(a, b, tables, ctx) -> str:
    lines = []
    if b is None:
        lines += [f"## {_title(a)}", "", "| field | value |", "|---|---|"]
        lines += [f"| {l} | {v} |" for l, v in summary_rows(a)]
    else:
        lines += [f"## {_title(a)} vs {_title(b)}", "", f"| field | {_title(a)} | {_title(b)} |", "|---|---|---|"]
        for label, va, vb, differs in compare_rows(a, b):
            mark = "**" if differs else ""
            lines.append(f"| {mark}{label}{mark} | {va} | {vb} |")
    for s in (a, b):
        if s is not None and s.projections:
            lines += ["", f"### Projections of layer 0: {_title(s)}", "", "| name | in | out | class | quant |",
                      "|---|---:|---:|---|---|"]
            lines += [f"| {x.name} | {x.in_features} | {x.out_features} | {x.cls} | {x.quant or '—'} |"
                      for x in s.projections]
    for key, rows in tables.items():
        s = a if key == "a" else b
        lines += ["", f"### Memory: {_title(s)} at context {ctx}", "",
                  "| format | runtime | weights | KV cache | total | fits |", "|---|---|---:|---:|---:|---|"]
        lines += [f"| {r.format} | {r.runtime} | {mib(r.weights_bytes)} | {mib(r.kv_bytes)} | {mib(r.total_bytes)} | "
                  f"{'—' if r.fits is None else ('yes' if r.fits else 'no')} |" for r in rows]
    return "\n".join(lines)
