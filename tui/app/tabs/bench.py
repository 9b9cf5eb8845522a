"""The Bench tab: ``llmbench bench`` in the TUI. The table fills as the tests finish; the
chart shows t/s against context depth for each model, with the spread of the
repetitions; Esc stops the run (the finished rows stay)."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.suggester import SuggestFromList
from textual.widgets import DataTable, Input, Label, Static
from textual.worker import get_current_worker
from textual_plotext import PlotextPlot

from llmbench.engine.errors import LlmbenchError
from llmbench.engine.jobs import Progress
from llmbench.engine.runtime.events import Channel

from ...render.charts import depth_chart
from ..bridge import Bridge
from ..messages import EngineEvent, Ready
from ..workers import ReportsWorkerErrors, engine_work

COLUMNS = ("model", "test", "t/s", "TTFT", "peak RAM")


def _counts(text: str, what: str) -> list[int]:
    try:
        return [int(x) for x in text.replace(" ", "").split(",") if x]
    except ValueError:
        raise LlmbenchError(f"{what}: {text!r} is not comma-separated whole numbers, as 0,512") from None


class BenchView(ReportsWorkerErrors, Vertical):
    BINDINGS = [Binding("escape", "cancel", "Cancel", show=False)]

    def __init__(self) -> None:
        super().__init__()
        self.bench = None
        self.running = False

    def compose(self) -> ComposeResult:
        with Horizontal(classes="bar"):
            yield Label("models")
            yield Input("smollm2", id="bench-models", suggester=SuggestFromList(self.app.model_names),
                        placeholder="names or .gguf paths, space-separated")  # fmt: skip
            yield Label("p")
            yield Input("128", id="bench-p", tooltip="prompt tokens of the pp test (0: none)")
            yield Label("n")
            yield Input("32", id="bench-n", tooltip="generated tokens of the tg test (0: none)")
        with Horizontal(classes="bar"):
            yield Label("depth")
            yield Input("0,512", id="bench-depth", tooltip="tokens in the KV cache before each test, e.g. 0,512,2048")
            yield Label("reps")
            yield Input("3", id="bench-reps", tooltip="timed repetitions after one warmup")
            yield Static("Enter runs · Esc stops", id="bench-hint")
        yield Static("", id="bench-status")
        yield Static("", id="bench-error")
        table = DataTable(id="bench-table", cursor_type="row", zebra_stripes=True)
        table.add_columns(*COLUMNS)
        yield table
        yield PlotextPlot(id="bench-chart")

    def _value(self, name: str) -> str:
        return self.query_one(f"#bench-{name}", Input).value.strip()

    @on(Input.Submitted)
    def start(self) -> None:
        if self.running:
            self.notify("a bench is running; Esc stops it", severity="warning")
            return
        from llmbench.engine.experiments.bench.run import plan

        specs = self._value("models").split()
        try:
            p, n, d = (_counts(self._value(k), k) for k in ("p", "n", "depth"))
            reps = _counts(self._value("reps"), "reps")
            tests = plan(p, n, [], d or [0])
            if not specs:
                raise LlmbenchError("models: give at least one model")
        except LlmbenchError as exc:
            self.query_one("#bench-error", Static).update(str(exc))
            return
        self.running = True
        self.query_one("#bench-error", Static).update("")
        self.query_one("#bench-table", DataTable).clear()
        self.query_one("#bench-status", Static).update(f"loading {', '.join(specs)}…")
        self.run_bench(specs, tests, reps[0] if reps else 3)

    @engine_work("bench")
    def run_bench(self, specs: list[str], tests: list, reps: int) -> None:
        from llmbench.engine.experiments.bench.run import Bench
        from llmbench.engine.experiments.fidelity.run import default_text
        from llmbench.engine.jobs import Finished

        from ..workers import UI_CORES

        worker = get_current_worker()
        try:
            self.bench = bench = Bench(specs, tests, default_text(), reps=reps, reserve_cores=UI_CORES)
        except LlmbenchError as exc:
            self.post_message(Ready("bench", error=str(exc)))
            return
        events = ((Channel.RUN, e) for e in bench.run())
        done = Bridge(self.post_message).pump(events, lambda: worker.is_cancelled, bench.cancel, Finished)
        self.post_message(Ready("bench", done.result if done else None))

    def on_engine_event(self, message: EngineEvent) -> None:
        if isinstance(message.event, Progress) and self.bench is not None:
            e = message.event
            self.query_one("#bench-status", Static).update(f"[{e.done}/{e.total}] {e.detail}")
            self._show(self.bench.rows())

    def on_ready(self, message: Ready) -> None:
        self.running, self.bench = False, None
        if message.error or message.value is None:
            self.query_one("#bench-error", Static).update(message.error or "the bench stopped before any result")
            return
        result = message.value
        self._show(result.rows)
        stopped = " (stopped early: the finished runs)" if result.partial else ""
        errors = "; ".join(dict.fromkeys(f"{r['spec']}: {r['error']}" for r in result.rows if r["error"]))
        self.query_one("#bench-error", Static).update(errors)
        from llmbench.engine.experiments.bench.report import reps_text

        self.query_one("#bench-status", Static).update(
            f"done in {result.elapsed_s:.0f} s{stopped} · {reps_text(result.rows)}"
            + (f" · session {result.session}" if result.session else "")
        )

    def _show(self, rows: list[dict]) -> None:
        from llmbench.engine.experiments.bench.report import table_rows

        table = self.query_one("#bench-table", DataTable)
        table.clear()
        for cells in table_rows({"rows": rows}):
            table.add_row(cells[0], cells[5], cells[6], cells[7], cells[9])
        chart = self.query_one("#bench-chart", PlotextPlot)
        chart.plt.clear_data()
        chart.plt.clear_figure()
        if depth_chart(rows, 0, 0, plt=chart.plt) is None:
            chart.plt.title("t/s against depth: after the first repetition")
        chart.refresh()

    def worker_failed(self, worker) -> None:
        self.running, self.bench = False, None

    def action_cancel(self) -> None:
        if self.bench is not None:
            self.bench.cancel()
            self.query_one("#bench-status", Static).update("stopping after the run in hand…")
