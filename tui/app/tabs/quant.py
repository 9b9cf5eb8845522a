"""The Quant tab: the quantization matrix of one base model, filled in as each variant runs.

The matrix runs in a thread worker (each variant in its own worker process, the
MiniLM scoring in a service process), so the screen never waits; Esc cancels. The
quality columns (Mean KLD, Same top p, PPL ratio) come from the fidelity pass; below
the table, the report and the size-vs-KLD chart; ``t`` on a variant opens the token
view of it against the reference.
"""

from __future__ import annotations

from pathlib import Path

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Input, Label, Markdown, Static, TabbedContent, TabPane
from textual.worker import get_current_worker
from textual_plotext import PlotextPlot

from llmbench.engine.errors import LlmbenchError, ParamError, QuantizeError
from llmbench.engine.experiments.quant.fidelity import DEFAULT_GGUF_TYPES, FidelityStarted, parse_types
from llmbench.engine.experiments.quant.matrix import (
    DEFAULT_PARAMS,
    HF_VARIANTS,
    Finished,
    Quantizing,
    QuantMatrix,
    QuestionAsked,
    VariantDone,
    VariantStarted,
)
from llmbench.engine.experiments.quant.report import COLUMNS, markdown_report, table_rows, write_reports
from llmbench.engine.jobs import Progress
from llmbench.engine.runtime.events import Channel, Error
from llmbench.engine.runtime.params import parse_param

from ...render.charts import size_kld_chart
from ..bridge import Bridge
from ..messages import EngineEvent, Ready, TokenBatch
from ..modals.token_view import TokenView
from ..widgets.model_input import ModelInput
from ..workers import ReportsWorkerErrors, engine_work

ALL_VARIANTS = ",".join([*HF_VARIANTS, "gguf"])


class QuantView(ReportsWorkerErrors, Vertical):
    BINDINGS = [
        Binding("escape", "cancel", "Cancel", show=False),
        Binding("t", "tokens", "Token view"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.matrix: QuantMatrix | None = None
        self.running = False
        self.result: dict | None = None
        self._answer = ""

    def compose(self) -> ComposeResult:
        with Horizontal(classes="bar"):
            yield Label("base")
            yield ModelInput(
                self.app.config.get("quant_base", "smollm2"),
                id="quant-base",
                placeholder="model folder, .gguf or name",
            )
            yield Label("questions")
            yield Input(
                self.app.config.get("quant_questions", ""),
                id="quant-questions",
                placeholder="built-in (6 short questions)",
            )
        with Horizontal(classes="bar"):
            yield Label("variants")
            yield Input(self.app.config.get("quant_variants", ALL_VARIANTS), id="quant-variants")
            yield Label("gguf types")
            yield Input(self.app.config.get("quant_types", ",".join(DEFAULT_GGUF_TYPES)), id="quant-types",
                        placeholder="none")  # fmt: skip
            yield Label("max tokens")
            yield Input(self.app.config.get("quant_tokens", str(DEFAULT_PARAMS.max_tokens)), id="quant-tokens",
                        type="integer")  # fmt: skip
        yield Static(
            "Enter runs every variant: answers (greedy), then KLD against the full-precision reference; Esc cancels.",
            id="quant-status",
        )
        yield Static("", id="quant-error")
        table = DataTable(id="quant-table", cursor_type="row", zebra_stripes=True)
        table.add_columns(*COLUMNS)
        yield table
        yield Static("", id="quant-live")
        with TabbedContent(id="quant-tabs"):
            with TabPane("Report", id="quant-report-pane"):
                yield Markdown("", id="quant-report")
            with TabPane("Size vs KLD", id="quant-chart-pane"):
                yield PlotextPlot(id="quant-chart")

    @on(Input.Submitted)
    def start(self) -> None:
        if self.running:
            self.notify("a matrix is running; Esc cancels it", severity="warning")
            return
        base = self.query_one("#quant-base", Input).value.strip()
        questions = self.query_one("#quant-questions", Input).value.strip() or None
        names = [n.strip() for n in self.query_one("#quant-variants", Input).value.split(",") if n.strip()]
        try:
            tokens = parse_param(
                "max_tokens", self.query_one("#quant-tokens", Input).value or DEFAULT_PARAMS.max_tokens
            )
            params = DEFAULT_PARAMS.replace(max_tokens=tokens).validate()
            types = parse_types(self.query_one("#quant-types", Input).value)
        except (ParamError, QuantizeError) as exc:
            self.query_one("#quant-error", Static).update(str(exc))
            return
        self.running = True
        self.app.remember(  # the next start of the tab begins from here
            quant_base=base,
            quant_questions=questions or "",
            quant_variants=self.query_one("#quant-variants", Input).value,
            quant_types=self.query_one("#quant-types", Input).value,
            quant_tokens=self.query_one("#quant-tokens", Input).value,
        )
        self.query_one("#quant-error", Static).update("")
        self.query_one("#quant-report", Markdown).update("")
        self.query_one("#quant-table", DataTable).clear()
        self.query_one("#quant-status", Static).update(f"{base}: reading the model and the questions…")
        self.run_matrix(base, questions, params, names or None, types)

    def _similarity(self):
        """MiniLM in a service process: importing it in this one would freeze the screen."""
        from llmbench.engine.rag.embed import Embedder
        from llmbench.engine.util.service import Service

        service = Service(Embedder, "quant-embedder")

        def similarity(pairs):
            try:
                return service.call("similarity", list(pairs))
            finally:
                service.stop(graceful=True)

        return similarity

    @engine_work("quant")
    def run_matrix(self, base: str, questions: str | None, params, names: list[str] | None, types) -> None:
        worker = get_current_worker()
        try:
            self.matrix = matrix = QuantMatrix(base, questions, params, names=names, similarity=self._similarity(),
                                               reserve_cores=1, gguf_types=types)  # fmt: skip
        except LlmbenchError as exc:
            self.post_message(Ready("matrix", error=str(exc)))
            return
        self.post_message(Ready("variants", matrix.variants))
        done = Bridge(self.post_message).pump(matrix.run(), lambda: worker.is_cancelled, matrix.cancel, Finished)
        data = done.result.to_json()  # what the reports, the chart and the token view read
        self.post_message(Ready("matrix", (data, write_reports(data))))

    def on_ready(self, message: Ready) -> None:
        table = self.query_one("#quant-table", DataTable)
        if message.what == "variants":
            for v in message.value:
                table.add_row(
                    v.name, v.runtime, *["…"] * (len(COLUMNS) - 3), f"skipped: {v.skip}" if v.skip else "", key=v.name
                )
            return
        self.running, self.matrix = False, None
        if message.error:
            self.query_one("#quant-error", Static).update(message.error)
            self.query_one("#quant-status", Static).update("")
            return
        result, files = message.value
        self.result = result
        for row in table_rows(result):
            self._update_row(row[0], row)
        ended = "cancelled after" if result.get("cancelled") else "done in"
        where = str(files["md"]).replace(str(Path.home()), "~", 1)
        self.query_one("#quant-status", Static).update(
            f"{ended} {result['elapsed_s']:.0f} s · {'partial ' if result.get('cancelled') else ''}report {where}"
        )
        self.query_one("#quant-live", Static).update("")
        self.query_one("#quant-report", Markdown).update(markdown_report(result))
        self._draw_chart(result)

    def _draw_chart(self, result: dict) -> None:
        chart = self.query_one("#quant-chart", PlotextPlot)
        plt = chart.plt
        plt.clear_data()
        plt.clear_figure()
        if size_kld_chart(result["rows"], 0, 0, plt=plt) is None:
            plt.title("size vs KLD: fewer than two variants have a KLD")
        chart.refresh()

    def on_token_batch(self, message: TokenBatch) -> None:
        self._answer += message.text
        self.query_one("#quant-live", Static).update(self._answer[-240:])

    def on_engine_event(self, message: EngineEvent) -> None:
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
            case Error(message=text) if message.channel != Channel.MATRIX:
                self.query_one("#quant-error", Static).update(text)
            case Quantizing(variant=name, path=path):
                status.update(f"{name}: llama.cpp quantizes {path}…")
            case FidelityStarted(variant=name, index=i, total=n):
                what = "reference" if i == 0 else f"{i}/{n}"
                status.update(f"fidelity [{what}] {name}: scoring the text…")
                live.update("")
            case Progress(done=done, total=total, rate=rate):
                speed = f", {rate:,.0f} tokens/s" if rate else ""
                live.update(f"chunk {done}/{total}{speed}")
            case VariantDone(row=row):
                partial = {"rows": [row.to_dict()], "reference_variant": None}
                self._update_row(row.variant, table_rows(partial)[0])

    def _update_row(self, key: str, cells: list[str]) -> None:
        table = self.query_one("#quant-table", DataTable)
        for column, value in zip(table.columns, cells):
            table.update_cell(key, column, value)

    def worker_failed(self, worker) -> None:
        self.running, self.matrix = False, None

    def action_tokens(self) -> None:
        """The token view of the variant under the cursor against the matrix's reference."""
        from llmbench.engine.experiments.fidelity.run import default_text, read_text

        result = self.result
        fid = (result or {}).get("fidelity") or {}
        if not fid.get("reference_spec"):
            self.notify("run a matrix with its fidelity pass first", severity="warning")
            return
        table = self.query_one("#quant-table", DataTable)
        row = result["rows"][table.cursor_row] if 0 <= table.cursor_row < len(result["rows"]) else None
        if row is None or not row.get("fidelity"):
            self.notify("this variant has no KLD to show", severity="warning")
            return
        try:
            passage = read_text(fid["text_path"]) if fid.get("text_path") else default_text()
        except LlmbenchError as exc:
            self.notify(str(exc), severity="error")
            return
        self.app.push_screen(TokenView(fid["reference_spec"], row["spec"], passage, ctx=min(256, fid["ctx"])))

    def action_cancel(self) -> None:
        if self.matrix is not None:
            self.matrix.cancel()
            self.query_one("#quant-status", Static).update("cancelling…")
