"""The Quant tab: the quantization matrix of one base model, filled in as each variant runs.

The matrix runs in a thread worker (each variant in its own worker process, the
MiniLM scoring in a service process), so the screen never waits; Esc cancels.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.suggester import SuggestFromList
from textual.widgets import DataTable, Input, Label, Markdown, Static
from textual.worker import get_current_worker

from engine import models
from engine.errors import LlmbenchError
from engine.quant_matrix import (COLUMNS, HF_VARIANTS, MatrixDone, QuantMatrix, QuestionAsked, VariantDone,
                                 VariantStarted, markdown_report, table_rows, write_reports)
from engine.types import Error, Token

ALL_VARIANTS = ",".join([*HF_VARIANTS, "gguf"])


@dataclass
class MatrixEvent(Message):
    source: str
    event: object


@dataclass
class MatrixFailed(Message):
    error: str


class QuantView(Vertical):
    DEFAULT_CSS = """
    QuantView { height: 1fr; }
    QuantView .bar { height: 1; padding: 0 1; }
    QuantView .bar Label { width: auto; padding: 0 1 0 0; color: $text-muted; }
    QuantView .bar Input { height: 1; border: none; padding: 0 1; margin-right: 1; width: 1fr; }
    QuantView #quant-tokens { width: 8; }
    QuantView #quant-status { height: 1; padding: 0 1; color: $text-muted; }
    QuantView #quant-error { height: auto; padding: 0 1; color: $error; }
    QuantView #quant-table { height: auto; max-height: 14; }
    QuantView #quant-live { height: 3; padding: 0 1; border-top: solid $primary-darken-2; }
    QuantView #quant-report { height: 1fr; padding: 0 1; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel", show=False)]

    def __init__(self) -> None:
        super().__init__()
        self.matrix: QuantMatrix | None = None
        self.result: dict | None = None

    def compose(self) -> ComposeResult:
        with Horizontal(classes="bar"):
            yield Label("base")
            yield Input("smollm2", id="quant-base", suggester=SuggestFromList(models.known_names()),
                        placeholder="model folder, .gguf or name")
            yield Label("questions")
            yield Input(id="quant-questions", placeholder="built-in (6 short questions)")
        with Horizontal(classes="bar"):
            yield Label("variants")
            yield Input(ALL_VARIANTS, id="quant-variants")
            yield Label("max tokens")
            yield Input("48", id="quant-tokens", type="integer")
        yield Static("Enter runs every variant on the question set (greedy); Esc cancels.", id="quant-status")
        yield Static("", id="quant-error")
        table = DataTable(id="quant-table", cursor_type="row", zebra_stripes=True)
        table.add_columns(*COLUMNS)
        yield table
        yield Static("", id="quant-live")
        yield Markdown("", id="quant-report")

    @on(Input.Submitted)
    def start(self) -> None:
        if self.matrix is not None:
            self.notify("a matrix is running; Esc cancels it", severity="warning")
            return
        base = self.query_one("#quant-base", Input).value.strip()
        questions = self.query_one("#quant-questions", Input).value.strip() or None
        names = [n.strip() for n in self.query_one("#quant-variants", Input).value.split(",") if n.strip()]
        tokens = self.query_one("#quant-tokens", Input).value.strip() or "48"
        from engine.quant_matrix import DEFAULT_PARAMS

        try:
            params = DEFAULT_PARAMS.replace(max_tokens=int(tokens)).validate()
            self.matrix = QuantMatrix(base, questions, params, names=names or None, similarity=self._similarity(),
                                      reserve_cores=1)
        except (LlmbenchError, ValueError) as exc:
            self.query_one("#quant-error", Static).update(str(exc))
            return
        self.query_one("#quant-error", Static).update("")
        self.query_one("#quant-report", Markdown).update("")
        table = self.query_one("#quant-table", DataTable)
        table.clear()
        for v in self.matrix.variants:
            table.add_row(v.name, v.runtime, *["…"] * (len(COLUMNS) - 3), f"skipped: {v.skip}" if v.skip else "",
                          key=v.name)
        self.run_matrix(self.matrix)

    def _similarity(self):
        """MiniLM in a service process: importing it in this one would freeze the screen."""
        from engine.rag.embed import Embedder
        from engine.service import Service

        service = Service(Embedder, "quant-embedder")

        def similarity(pairs):
            try:
                return service.call("similarity", list(pairs))
            finally:
                service.stop(graceful=True)

        return similarity

    @work(thread=True, exclusive=True, group="quant")
    def run_matrix(self, matrix: QuantMatrix) -> None:
        worker = get_current_worker()
        try:
            for source, event in matrix.run():
                if worker.is_cancelled:
                    matrix.cancel()
                self.post_message(MatrixEvent(source, event))
        except LlmbenchError as exc:
            self.post_message(MatrixFailed(str(exc)))

    def on_matrix_event(self, message: MatrixEvent) -> None:
        event, status = message.event, self.query_one("#quant-status", Static)
        live = self.query_one("#quant-live", Static)
        match event:
            case VariantStarted(index=i, total=n, variant=v):
                status.update(f"[{i}/{n}] {v.name}: loading {v.spec}…")
                live.update("")
            case QuestionAsked(variant=name, index=i, total=n, question=q):
                status.update(f"{name}: question {i}/{n}")
                live.update(f"[b]{q}[/b]\n")
                self._answer = ""
            case Token(text=text):
                self._answer = getattr(self, "_answer", "") + text
                live.update(self._answer[-240:])
            case Error(message=text) if message.source != "matrix":
                self.query_one("#quant-error", Static).update(f"{message.source}: {text}")
            case VariantDone(row=row):
                partial = {"rows": [row.to_dict()], "reference_variant": None}
                self._update_row(row.variant, table_rows(partial)[0])
            case MatrixDone(result=result):
                self.matrix = None
                self.result = result
                for row in table_rows(result):
                    self._update_row(row[0], row)
                files = write_reports(result)
                status.update(f"done in {result['elapsed_s']:.0f} s · report {files['md']}")
                live.update("")
                self.query_one("#quant-report", Markdown).update(markdown_report(result))

    def _update_row(self, key: str, cells: list[str]) -> None:
        table = self.query_one("#quant-table", DataTable)
        for column, value in zip(table.columns, cells):
            table.update_cell(key, column, value)

    def on_matrix_failed(self, message: MatrixFailed) -> None:
        self.matrix = None
        self.query_one("#quant-error", Static).update(message.error)

    def action_cancel(self) -> None:
        if self.matrix is not None:
            self.matrix.cancel()
            self.query_one("#quant-status", Static).update("cancelling…")
