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
from engine.inspect.report import display_name

from ..inspect_tables import memory_table_view, projection_table, summary_table


@dataclass
class Inspected(Message):
    a: ModelSummary
    b: ModelSummary | None
    memory: list[MemoryRow]
    ctx: int


@dataclass
class InspectFailed(Message):
    error: str


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
            memory_table_view(message.memory, f"memory: {display_name(message.a)} at context {message.ctx:,}",
                              any(r.fits_gpu is not None for r in message.memory)))
        self.summary = message.a

    def on_inspect_failed(self, message: InspectFailed) -> None:
        self.query_one("#inspect-error", Static).update(message.error)
        self.notify(message.error, severity="error", timeout=8)
