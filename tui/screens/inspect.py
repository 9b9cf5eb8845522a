"""The Inspect tab: a model's architecture, its projections and the memory it needs."""

from __future__ import annotations

from dataclasses import dataclass

from rich.table import Table
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.suggester import SuggestFromList
from textual.widgets import Input, Label, Static

from engine import models
from engine.errors import LlmbenchError
from engine.inspect import ModelSummary, inspect_source
from engine.inspect.memory import MemoryRow, machine_memory, memory_table
from engine.inspect.report import compare_rows, mib, summary_rows


@dataclass
class Inspected(Message):
    a: ModelSummary
    b: ModelSummary | None
    memory: list[MemoryRow]
    ctx: int


@dataclass
class InspectFailed(Message):
    error: str


def _title(s: ModelSummary) -> str:
    return s.name or s.source


def summary_table(a: ModelSummary, b: ModelSummary | None, highlight: str = "bold yellow") -> Table:
    table = Table(expand=True, show_edge=False, title=None)
    table.add_column("", style="dim", no_wrap=True)
    if b is None:
        table.add_column(_title(a), overflow="fold")
        for label, value in summary_rows(a):
            table.add_row(label, value)
        return table
    table.add_column(_title(a), overflow="fold")
    table.add_column(_title(b), overflow="fold")
    for label, va, vb, differs in compare_rows(a, b):
        table.add_row(label, va, vb, style=highlight if differs else None)
    return table


def projection_table(s: ModelSummary) -> Table:
    table = Table(title=f"layer 0 projections: {_title(s)}", title_justify="left", expand=True, show_edge=False)
    for col in ("name", "in", "out", "class", "quant"):
        table.add_column(col, justify="right" if col in ("in", "out") else "left", overflow="fold")
    for p in s.projections:
        table.add_row(p.name, f"{p.in_features:,}", f"{p.out_features:,}", p.cls, p.quant or "—")
    return table


def memory_view(rows: list[MemoryRow], title: str) -> Table:
    table = Table(title=title, title_justify="left", expand=True, show_edge=False)
    for col in ("format", "weights", "KV", "total", "fits"):
        table.add_column(col, justify="left" if col == "format" else "right")
    for r in rows:
        fits = "—" if r.fits is None else ("[green]yes[/]" if r.fits else "[red]no[/]")
        table.add_row(f"{r.format} [dim]{r.runtime}[/]", mib(r.weights_bytes), mib(r.kv_bytes), mib(r.total_bytes), fits)
    return table


class InspectView(Vertical):
    DEFAULT_CSS = """
    InspectView { height: 1fr; }
    InspectView #inspect-bar { height: 1; padding: 0 1; }
    InspectView #inspect-bar Label { width: auto; padding: 0 1 0 0; color: $text-muted; }
    InspectView #inspect-bar Input { height: 1; border: none; padding: 0 1; margin-right: 1; width: 1fr; }
    InspectView #inspect-ctx { width: 10; }
    InspectView #inspect-error { color: $error; height: auto; padding: 0 1; }
    InspectView VerticalScroll { height: 1fr; padding: 0 1; }
    InspectView .block { height: auto; margin-bottom: 1; }
    """

    def compose(self) -> ComposeResult:
        names = SuggestFromList(models.known_names(), case_sensitive=False)
        with Horizontal(id="inspect-bar"):
            yield Label("model")
            yield Input(id="inspect-src", suggester=names, placeholder="name, .gguf, folder or config.json")
            yield Label("vs")
            yield Input(id="inspect-compare", suggester=names, placeholder="(optional)")
            yield Label("ctx")
            yield Input("4096", id="inspect-ctx", type="integer")
        yield Static("", id="inspect-error")
        with VerticalScroll():
            yield Static("Type a model and press Enter: its architecture, projections and memory per format "
                         "appear here. Nothing is loaded: GGUF headers and config.json are read.",
                         id="inspect-summary", classes="block")
            yield Static("", id="inspect-projections", classes="block")
            yield Static("", id="inspect-memory", classes="block")

    @on(Input.Submitted)
    def submit(self, event: Input.Submitted) -> None:
        src = self.query_one("#inspect-src", Input).value.strip()
        if not src:
            self.query_one("#inspect-src", Input).focus()
            return
        other = self.query_one("#inspect-compare", Input).value.strip() or None
        try:
            ctx = int(self.query_one("#inspect-ctx", Input).value or 4096)
        except ValueError:
            ctx = 4096
        self.query_one("#inspect-error", Static).update("reading…")
        self.inspect(src, other, max(ctx, 1))

    @work(thread=True, exclusive=True, group="inspect", exit_on_error=False)
    def inspect(self, src: str, other: str | None, ctx: int) -> None:
        try:
            a = inspect_source(src)
            b = inspect_source(other) if other else None
            ram, gpu = machine_memory()
            rows = memory_table(a, ctx, 1, ram, gpu)
        except LlmbenchError as exc:
            self.post_message(InspectFailed(str(exc)))
            return
        self.post_message(Inspected(a, b, rows, ctx))

    def on_inspected(self, message: Inspected) -> None:
        self.query_one("#inspect-error", Static).update("")
        warning = self.app.current_theme.warning or "yellow"
        self.query_one("#inspect-summary", Static).update(summary_table(message.a, message.b, f"bold {warning}"))
        projections = [projection_table(s) for s in (message.a, message.b) if s is not None and s.projections]
        grid = Table.grid(expand=True)
        for t in projections:
            grid.add_row(t)
        self.query_one("#inspect-projections", Static).update(grid)
        self.query_one("#inspect-memory", Static).update(
            memory_view(message.memory, f"memory: {_title(message.a)} at context {message.ctx:,}"))
        self.summary = message.a

    def on_inspect_failed(self, message: InspectFailed) -> None:
        self.query_one("#inspect-error", Static).update(message.error)
        self.notify(message.error, severity="error", timeout=8)
