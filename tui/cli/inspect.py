"""``llmbench inspect SRC [--compare SRC2] [--memory] [--tree] [--ctx N] [--format table|json|md]``."""

from __future__ import annotations

import sys

from llmbench.engine.errors import SpecError
from llmbench.engine.inspect import AdapterSummary, inspect_source
from llmbench.engine.inspect.adapter import adapter_rows
from llmbench.engine.inspect.memory import machine_memory, memory_table
from llmbench.engine.inspect.modules import tree_lines
from llmbench.engine.inspect.report import compare_rows, display_name, summary_rows
from llmbench.engine.util.fmt import size_text
from llmbench.engine.util.markdown import table

from .output import FORMATS, dump_json

NAME = "inspect"


def add_parser(sub) -> None:
    p = sub.add_parser(NAME, help="a model's architecture, quantization and memory, without loading it")
    p.add_argument(
        "src",
        metavar="SRC",
        help="a .gguf file, a model folder, a config.json, a model name, a LoRA "
        "adapter, or hf:PATH?quant=bnb4|bnb8|quanto-int8|torchao-int8.. to load it with transformers",
    )
    p.add_argument("--compare", metavar="SRC2", help="a second model, side by side")
    p.add_argument("--memory", action="store_true", help="memory needed per format and quantization")
    p.add_argument(
        "--measure",
        action="store_true",
        help="with --memory: load the model, answer a few tokens, and show its RSS beside the estimate",
    )
    p.add_argument("--ctx", type=int, default=4096, help="context length for the KV cache (default 4096)")
    p.add_argument("--batch", type=int, default=1, help="batch size for the KV cache (default 1)")
    p.add_argument("--tree", action="store_true", help="the module tree, identical layers folded as ×N")
    p.add_argument("--format", choices=FORMATS, default="table")
    p.add_argument("--save", action="store_true", help="record this inspection as a session (a snapshot)")


def run(args) -> int:
    a = inspect_source(args.src, tree=args.tree)
    b = inspect_source(args.compare, tree=args.tree) if args.compare else None
    if isinstance(a, AdapterSummary) or isinstance(b, AdapterSummary):
        if b is not None:
            raise SpecError("--compare works on models; a LoRA adapter is shown on its own")
        return _adapter(a, args.format)
    ram, gpu = machine_memory()
    tables = {}
    if args.measure and not args.memory:
        raise SpecError("--measure goes with --memory (it measures what --memory estimates)")
    if args.memory:
        for key, s in (("a", a), ("b", b)):
            if s is not None:
                tables[key] = memory_table(s, args.ctx, args.batch, ram, gpu)
    measured = _measure(args) if args.measure else {}

    def one(s, key):
        data = s.to_dict()
        if not args.tree:
            data.pop("module_tree", None)
        if key in tables:
            data["memory"] = [r.to_dict() for r in tables[key]]
        if key in measured:
            data["measured"] = measured[key]
        return data

    if args.save:
        from llmbench.engine.runtime.record import save_snapshot

        record = {"a": one(a, "a")}
        if b is not None:
            record["b"] = one(b, "b")
            record["differences"] = [label for label, _, _, differs in compare_rows(a, b) if differs]
        title = display_name(a) + (f" vs {display_name(b)}" if b is not None else "")
        path = save_snapshot("inspect", title, record, {"source": args.src, "compare": args.compare, "ctx": args.ctx})
        print(f"snapshot: {path}", file=sys.stderr)
    if args.format == "json":
        if b is None:
            dump_json(one(a, "a"))
        else:
            diffs = [label for label, _, _, differs in compare_rows(a, b) if differs]
            dump_json({"a": one(a, "a"), "b": one(b, "b"), "differences": diffs})
        return 0
    if args.format == "md":
        print(markdown(a, b, tables, args.ctx, args.tree))
        print("\n".join(line for m in measured.values() for line in measured_lines(m)))
        return 0
    _print(a, b, tables, args.ctx, gpu is not None, args.tree)
    for m in measured.values():
        print("\n".join(measured_lines(m)))
    return 0


def _measure(args) -> dict:
    from llmbench.engine.experiments.memory_probe import measure_memory

    out = {}
    for key, src in (("a", args.src), ("b", args.compare)):
        if src is not None:
            print(f"measuring {src}: loading it and answering a few tokens…", file=sys.stderr)
            out[key] = measure_memory(src, args.ctx)
    return out


def measured_lines(m: dict) -> list[str]:
    """The measurement under the estimate table: the RSS split, the engine's buffers, and
    each of Inspect's parts with its error."""
    from llmbench.engine.experiments.memory_probe import PROBE_TOKENS
    from llmbench.engine.runtime.memory_split import buffers_text, memory_text

    lines = ["", f"measured: {m['model']} loaded at context {m['n_ctx']:,}, after an answer of {PROBE_TOKENS} tokens "
                 "(one sample)", f"  RSS {memory_text(m)}"]  # fmt: skip
    if buffers_text(m):
        lines.append(f"  engine buffers: {buffers_text(m)}")
    for part, est, got, err in m.get("parts", []):
        got_text = "—" if got is None else f"{got:.0f} MiB"
        err_text = "" if err is None else f" ({err:+.0%})"
        lines.append(f"  {part:<9} estimate {est:.0f} MiB, measured {got_text}{err_text}")
    return lines


def _adapter(a: AdapterSummary, fmt: str) -> int:
    rows = adapter_rows(a)
    if fmt == "json":
        dump_json(a.to_dict())
    elif fmt == "md":
        print("\n".join([f"## LoRA adapter: {a.source}", "", *table(["field", "value"], rows)]))
    else:
        from rich.console import Console

        from ..render.inspect_tables import pairs_table

        Console().print(pairs_table(rows, f"LoRA adapter: {a.source}"))
    return 0


def _print(a, b, tables, ctx, has_gpu, tree) -> None:
    from rich.console import Console

    from ..render.inspect_tables import memory_table_view, module_tree_view, projection_table, summary_table

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
    if b is None:
        lines = [f"## {display_name(a)}", "", *table(["field", "value"], summary_rows(a))]
    else:
        rows = [[f"**{label}**" if differs else label, va, vb] for label, va, vb, differs in compare_rows(a, b)]
        lines = [
            f"## {display_name(a)} vs {display_name(b)}",
            "",
            *table(["field", display_name(a), display_name(b)], rows),
        ]
    for s in (a, b):
        if s is not None and s.projections:
            rows = [[x.name, x.in_features, x.out_features, x.cls, x.quant or "—"] for x in s.projections]
            lines += [
                "",
                f"### Projections of layer 0: {display_name(s)}",
                "",
                *table(["name", "in", "out", "class", "quant"], rows, "lrrll"),
            ]
        if s is not None and tree and s.module_tree is not None:
            lines += ["", f"### Modules: {display_name(s)}", "", "```", *tree_lines(s.module_tree), "```"]
    for key, rows in tables.items():
        s = a if key == "a" else b
        body = [
            [
                r.format,
                r.runtime,
                size_text(r.weights_bytes),
                size_text(r.kv_bytes),
                size_text(r.total_bytes),
                "—" if r.fits is None else ("yes" if r.fits else "no"),
            ]
            for r in rows
        ]
        lines += [
            "",
            f"### Memory: {display_name(s)} at context {ctx}",
            "",
            *table(["format", "runtime", "weights", "KV cache", "total", "fits"], body, "llrrrl"),
        ]
    return "\n".join(lines)
