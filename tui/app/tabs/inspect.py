"""The Inspect tab: a model's architecture, its projections and the memory it needs."""

from __future__ import annotations

from dataclasses import dataclass

from rich.table import Table
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import Input, Label, Static, Tree
from textual.worker import get_current_worker

from llmbench.engine.errors import LlmbenchError
from llmbench.engine.inspect import AdapterSummary, ModelSummary
from llmbench.engine.inspect import inspect_source as read_source
from llmbench.engine.inspect.adapter import adapter_rows
from llmbench.engine.inspect.hf import UnknownFamily
from llmbench.engine.inspect.isolated import InspectCancelled, inspect_isolated
from llmbench.engine.inspect.memory import MemoryRow, machine_memory, memory_table
from llmbench.engine.inspect.modules import ModuleNode
from llmbench.engine.inspect.report import display_name

from ...render.inspect_tables import memory_table_view, node_label, pairs_table, projection_table, summary_table
from ..widgets.model_input import ModelInput
from ..workers import ReportsWorkerErrors, engine_work


@dataclass
class Inspected(Message):
    a: ModelSummary
    b: ModelSummary | None
    memory: list[MemoryRow]
    ctx: int
    memory_b: list[MemoryRow] | None = None  # the model compared, when there is one


@dataclass
class InspectFailed(Message):
    error: str


@dataclass
class ModulesReady(Message):
    """The module trees, which may come seconds after the summary (transformers builds them)."""

    trees: list[tuple[str, ModuleNode]]


@dataclass
class AdapterInspected(Message):
    adapter: AdapterSummary


class InspectView(ReportsWorkerErrors, Vertical):
    BINDINGS = [
        Binding("up", "scroll('up')", "Scroll", show=False),
        Binding("down", "scroll('down')", "Scroll", show=False),
        Binding("pageup", "scroll('page_up')", "Page up"),
        Binding("pagedown", "scroll('page_down')", "Page down"),
    ]

    def action_scroll(self, how: str) -> None:
        """The results scroll from the model fields too: type, Enter, then read."""
        results = self.query_one("#inspect-results", VerticalScroll)
        {"up": results.scroll_up, "down": results.scroll_down,
         "page_up": results.scroll_page_up, "page_down": results.scroll_page_down}[how](animate=False)  # fmt: skip

    def compose(self) -> ComposeResult:
        with Horizontal(id="inspect-bar"):
            yield Label("model")
            yield ModelInput(id="inspect-src", placeholder="name, .gguf, folder or config.json")
            yield Label("vs")
            yield ModelInput(id="inspect-compare", placeholder="(optional)")
            yield Label("ctx")
            yield Input("4096", id="inspect-ctx", type="integer")
        yield Static("", id="inspect-error")
        with VerticalScroll(id="inspect-results"):
            yield Static(
                "Type a model and press Enter: its architecture, projections and memory per format "
                "appear here (PageUp/PageDown scroll them). Nothing is loaded: GGUF headers and "
                "config.json are read.",
                id="inspect-summary",
                classes="block",
            )
            yield Static("", id="inspect-projections", classes="block")
            yield Static("", id="inspect-modules-status")
            yield Tree("modules", id="inspect-modules")
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

    @engine_work("inspect")
    def inspect(self, src: str, other: str | None, ctx: int) -> None:
        """Summary first, then the module trees, each in a child process (see isolated.py)."""
        worker = get_current_worker()

        def inspect_source(spec: str, tree: bool = False):
            if not tree and not spec.startswith("hf:"):
                try:  # headers and configs read in milliseconds, here
                    return read_source(spec, tree=False, meta=False)
                except UnknownFamily:
                    pass  # transformers builds it: in a child process
            return inspect_isolated(spec, tree, lambda: worker.is_cancelled)

        try:
            a = inspect_source(src)
            if isinstance(a, AdapterSummary):
                self.post_message(AdapterInspected(a))
                return
            b = inspect_source(other) if other else None
            if isinstance(b, AdapterSummary):
                self.post_message(InspectFailed(f"{other}: a LoRA adapter; compare works on models"))
                return
            ram, gpu = machine_memory()
            rows = memory_table(a, ctx, 1, ram, gpu)
            rows_b = memory_table(b, ctx, 1, ram, gpu) if b is not None else None
        except InspectCancelled:
            return
        except LlmbenchError as exc:
            self.post_message(InspectFailed(str(exc)))
            return
        self.post_message(Inspected(a, b, rows, ctx, rows_b))
        trees = []
        for spec, summary in ((src, a), (other, b)):
            if summary is None:
                continue
            try:
                tree = summary.module_tree or inspect_source(spec, tree=True).module_tree
            except InspectCancelled:
                return
            except LlmbenchError as exc:
                self.post_message(InspectFailed(f"module tree: {exc}"))
                continue
            if tree is not None:
                trees.append((display_name(summary), tree))
        self.post_message(ModulesReady(trees))

    def on_modules_ready(self, message: ModulesReady) -> None:
        tree = self.query_one("#inspect-modules", Tree)
        tree.clear()
        tree.show_root = False
        for _name, node in message.trees:
            self._add_nodes(tree.root.add(node_label(node), data=node, expand=True), node, depth=0)
        tree.root.expand()
        tree.set_class(bool(message.trees), "-ready")
        if message.trees:
            tree.cursor_line = 0  # Enter folds at once after Tab, no arrow key first
        status = self.query_one("#inspect-modules-status", Static)
        status.update(
            "modules (Enter or click folds a branch; identical layers are folded as ×N)" if message.trees else ""
        )

    def _add_nodes(self, parent, node: ModuleNode, depth: int) -> None:
        for child in node.children:
            if child.children:
                branch = parent.add(node_label(child), data=child, expand=depth < 2)
                self._add_nodes(branch, child, depth + 1)
            else:
                parent.add_leaf(node_label(child), data=child)

    def on_adapter_inspected(self, message: AdapterInspected) -> None:
        self.query_one("#inspect-error", Static).update("")
        for wid in ("#inspect-projections", "#inspect-memory", "#inspect-modules-status"):
            self.query_one(wid, Static).update("")
        self.query_one("#inspect-modules", Tree).set_class(False, "-ready")
        a = message.adapter
        self.query_one("#inspect-summary", Static).update(pairs_table(adapter_rows(a), f"LoRA adapter: {a.source}"))
        self.summary = a

    def on_inspected(self, message: Inspected) -> None:
        self.query_one("#inspect-error", Static).update("")
        self.query_one("#inspect-modules-status", Static).update("modules: building the module tree…")
        self.query_one("#inspect-modules", Tree).set_class(False, "-ready")
        warning = self.app.current_theme.warning or "yellow"
        self.query_one("#inspect-summary", Static).update(summary_table(message.a, message.b, f"bold {warning}"))
        projections = [projection_table(s) for s in (message.a, message.b) if s is not None and s.projections]
        grid = Table.grid(expand=True)
        for t in projections:
            grid.add_row(t)
        self.query_one("#inspect-projections", Static).update(grid)
        memory = Table.grid(expand=True)
        for summary, rows in ((message.a, message.memory), (message.b, message.memory_b)):
            if summary is not None and rows:
                title = f"memory: {display_name(summary)} at context {message.ctx:,}"
                memory.add_row(memory_table_view(rows, title, any(r.fits_gpu is not None for r in rows)))
        self.query_one("#inspect-memory", Static).update(memory)
        self.query_one("#inspect-results", VerticalScroll).scroll_home(animate=False)  # the top, a comparison too
        self.summary = message.a

    def on_inspect_failed(self, message: InspectFailed) -> None:
        self.query_one("#inspect-error", Static).update(message.error)
        self.notify(message.error, severity="error", timeout=8)
