"""Index files into a collection, with a progress bar; Esc cancels (the old index stays)."""

from __future__ import annotations

import shlex

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, ProgressBar, Static
from textual.worker import get_current_worker

from llmbench.engine.errors import LlmbenchError
from llmbench.engine.jobs import Progress
from llmbench.engine.runtime.events import Channel

from ..bridge import Bridge
from ..messages import EngineEvent, Ready
from ..workers import ReportsWorkerErrors, engine_work


class IndexDialog(ReportsWorkerErrors, ModalScreen[str | None]):
    BINDINGS = [Binding("escape", "cancel", "Cancel / close")]

    def __init__(self, client, collection: str):
        super().__init__()
        self.client, self.collection = client, collection
        self.running = False
        self._cancel = False

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static("[b]Index documents[/b]: PDF, Markdown, HTML and text files, or folders of them")
            yield Label("Collection (new or existing)")
            yield Input(self.collection if self.collection != "demo" else "docs", id="index-name")
            yield Label("Files or folders (separated by spaces; quote paths with spaces)")
            yield Input(placeholder="~/manuals/guide.pdf ~/notes/", id="index-paths")
            yield ProgressBar(total=None, show_eta=False, id="index-bar")
            yield Static("Enter starts · Esc cancels or closes", id="index-status")

    def on_mount(self) -> None:
        self.query_one("#index-paths", Input).focus()

    @on(Input.Submitted)
    def start(self) -> None:
        if self.running:
            return
        name = self.query_one("#index-name", Input).value.strip()
        try:
            paths = shlex.split(self.query_one("#index-paths", Input).value)
        except ValueError as exc:
            self._say(f"[red]paths: {exc}[/red]")
            return
        if not name or (not paths and name != "demo"):
            self._say("[red]a collection name and at least one file or folder[/red]")
            return
        self.running, self._cancel = True, False
        self.add_class("-running")  # the bar shows from here (idle, it would sweep for nothing)
        self._say("starting…")
        self.index(name, paths)

    def _say(self, text: str) -> None:
        self.query_one("#index-status", Static).update(text)

    def on_engine_event(self, message: EngineEvent) -> None:
        p = message.event
        if not isinstance(p, Progress):
            return
        bar = self.query_one("#index-bar", ProgressBar)
        if p.total:
            bar.update(total=p.total, progress=p.done)
        rate = f" · {p.rate:,.1f} chunks/s" if p.rate else ""
        self._say(f"{p.stage}: {p.done}/{p.total or '?'}{rate} · {p.detail}")

    @engine_work("index")
    def index(self, name: str, paths: list[str]) -> None:
        worker = get_current_worker()
        bridge = Bridge(self.post_message)
        try:
            report = self.client.index_add(
                name,
                paths,
                progress=lambda p: bridge.feed(Channel.RAG, p),
                cancelled=lambda: self._cancel or worker.is_cancelled,
            )
        except LlmbenchError as exc:
            self.post_message(Ready("index", name, str(exc)))
            return
        finally:
            bridge.flush()
        self.post_message(Ready("index", (name, report)))

    def on_ready(self, message: Ready) -> None:
        self.running = False
        if message.error:
            self._say(f"[red]{message.error}[/red]\n(the collection is unchanged) · Esc closes")
        else:
            self._finished(*message.value)

    def worker_failed(self, worker) -> None:
        self.running = False

    def _finished(self, name: str, report) -> None:
        lines = [
            f"[b]{name}[/b]: {len(report.added)} added, {len(report.updated)} updated, "
            f"{len(report.unchanged)} unchanged · {report.chunks} chunks in {report.total_s:.1f} s"
        ]
        if report.chunks_per_s:
            lines.append(f"embedded {report.new_chunks} chunks at {report.chunks_per_s:,.1f} chunks/s")
        lines += [f"[yellow]{w}[/yellow]" for w in report.warnings]
        lines += [f"[red]{f}[/red]" for f in report.failed]
        self._say("\n".join(lines) + "\nEsc closes")
        self.indexed = name

    def action_cancel(self) -> None:
        if self.running:
            self._cancel = True
            self._say("cancelling… (the collection stays as it was)")
            return
        self.dismiss(getattr(self, "indexed", None))
