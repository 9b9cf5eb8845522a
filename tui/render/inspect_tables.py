"""Rich tables of an inspection, shared by ``llmbench inspect`` and the Inspect tab."""

from __future__ import annotations

from rich.markup import escape
from rich.table import Table
from rich.tree import Tree as RichTree

from llmbench.engine.inspect import ModelSummary
from llmbench.engine.inspect.memory import MemoryRow
from llmbench.engine.inspect.modules import ModuleNode
from llmbench.engine.inspect.report import compare_rows, display_name, summary_rows
from llmbench.engine.util.fmt import size_text


def summary_table(a: ModelSummary, b: ModelSummary | None, highlight: str = "bold yellow") -> Table:
    """One model's fields, or two side by side with differing rows in ``highlight``."""
    table = Table(expand=True, show_edge=False)
    table.add_column("", style="dim", no_wrap=True)
    table.add_column(display_name(a), overflow="fold")
    if b is None:
        for label, value in summary_rows(a):
            table.add_row(label, value)
        return table
    table.add_column(display_name(b), overflow="fold")
    for label, va, vb, differs in compare_rows(a, b):
        table.add_row(label, va, vb, style=highlight if differs else None)
    return table


def projection_table(s: ModelSummary) -> Table:
    table = Table(title=f"layer 0 projections: {display_name(s)}", title_justify="left", expand=True, show_edge=False)
    for col in ("name", "in", "out", "class", "quant"):
        table.add_column(col, justify="right" if col in ("in", "out") else "left", overflow="fold")
    for p in s.projections:
        table.add_row(p.name, f"{p.in_features:,}", f"{p.out_features:,}", p.cls, p.quant or "—")
    return table


def _yes(value: bool | None) -> str:
    return "—" if value is None else ("[green]yes[/]" if value else "[red]no[/]")


def memory_table_view(rows: list[MemoryRow], title: str, show_gpu: bool = False) -> Table:
    table = Table(title=title, title_justify="left", expand=True, show_edge=False)
    for col in ("format", "weights", "KV", "overhead", "total", "fits RAM") + (("fits GPU",) if show_gpu else ()):
        table.add_column(col, justify="left" if col == "format" else "right")
    for r in rows:
        cells = [
            f"{r.format} [dim]{r.runtime}[/]",
            size_text(r.weights_bytes),
            size_text(r.kv_bytes),
            size_text(r.overhead_bytes),
            size_text(r.total_bytes),
            _yes(r.fits),
        ]
        table.add_row(*cells, *((_yes(r.fits_gpu),) if show_gpu else ()))
    return table


def pairs_table(rows: list[tuple[str, str]], title: str) -> Table:
    table = Table(title=title, title_justify="left", expand=True, show_edge=False, show_header=False)
    table.add_column("", style="dim", no_wrap=True)
    table.add_column("", overflow="fold")
    for label, value in rows:
        table.add_row(label, value)
    return table


def node_label(node: ModuleNode) -> str:
    """One tree row: name, class, ×N when folded, detail and parameters."""
    times = f" [b]×{node.count}[/b]" if node.count > 1 else ""
    detail = f" [dim]{escape(node.detail)}[/]" if node.detail else ""
    params = f" [dim]{node.params * node.count:,} params[/]" if node.params else ""
    return f"{escape(node.name)}: [b]{escape(node.cls)}[/b]{times}{detail}{params}"


def module_tree_view(node: ModuleNode, tree: RichTree | None = None) -> RichTree:
    branch = RichTree(node_label(node)) if tree is None else tree.add(node_label(node))
    for child in node.children:
        module_tree_view(child, branch)
    return branch
