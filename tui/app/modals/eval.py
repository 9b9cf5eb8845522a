"""Batch evaluation: a question set against one or two models with RAG.

A row per question and model with bars for cosine similarity and response time,
and a summary (mean cosine, mean and median time, speed ratio, retrieval hit rate).
The CSV, JSON and Markdown reports are written when it ends.
"""

from __future__ import annotations

from pathlib import Path

from rich.markup import escape
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Input, Label, Static
from textual.worker import get_current_worker

from llmbench.engine.errors import LlmbenchError
from llmbench.engine.experiments.evaluate.questions import load_questions
from llmbench.engine.experiments.evaluate.run import (
    Evaluation,
    Finished,
    QuestionDone,
    QuestionStarted,
    write_reports,
)
from llmbench.engine.rag.demo import DEMO_COLLECTION, DEMO_QUESTIONS
from llmbench.engine.runtime.params import GenParams

from ..bridge import Bridge
from ..messages import EngineEvent, Ready
from ..workers import UI_CORES, ReportsWorkerErrors, engine_work

BAR = 12
BARS_FROM_COLS = 110  # narrower: no bar columns, so TTFT, tok/s and the retrieval hit stay on screen


def bar(fraction: float | None, style: str) -> Text:
    if fraction is None:
        return Text("—", style="dim")
    fraction = max(0.0, min(1.0, fraction))
    full = round(fraction * BAR)
    return Text("█" * full, style=style) + Text("░" * (BAR - full), style="dim")


class EvalScreen(ReportsWorkerErrors, Screen):
    BINDINGS = [Binding("escape", "back", "Cancel / back")]

    def __init__(self, client, collection: str, spec_a: str, spec_b: str | None, params: GenParams, k: int):
        super().__init__()
        self.client, self.collection = client, collection
        self.spec_a, self.spec_b, self.params, self.k = spec_a, spec_b, params, k
        self.evaluation: Evaluation | None = None
        self.running = False
        self.max_time = 1e-9
        self.result: dict | None = None
        self.files: dict | None = None
        self.bars = True  # the cosine and time bars, where the screen is wide enough

    def compose(self) -> ComposeResult:
        models = self.spec_a + (f" vs {self.spec_b}" if self.spec_b else "")
        demo = self.collection == DEMO_COLLECTION
        with Vertical():
            yield Static(f"Evaluation · collection {self.collection} · k={self.k} · {escape(models)}", id="eval-head")
            with Horizontal(id="eval-file"):
                yield Label("Questions (JSONL or CSV)")
                yield Input(
                    id="eval-questions",
                    placeholder="empty: the demo's questions" if demo else "path to questions.jsonl",
                )
            yield DataTable(id="eval-table", zebra_stripes=True, cursor_type="row")
            yield Static("", id="eval-summary")
            yield Static("Enter runs the evaluation · Esc cancels or goes back", id="eval-status")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        self.bars = self.app.size.width >= BARS_FROM_COLS
        for col in ("id", "model", "cosine", "", "time", "", "TTFT", "tok/s", "retrieval"):
            if col or self.bars:
                table.add_column(col)
        self.query_one("#eval-questions", Input).focus()

    def _status(self, text: str) -> None:
        self.query_one("#eval-status", Static).update(text)

    @on(Input.Submitted, "#eval-questions")
    def start(self, event: Input.Submitted) -> None:
        if self.running:
            return
        self.query_one(DataTable).clear()
        self.query_one("#eval-summary", Static).update("")
        self.running = True
        self.max_time = 1e-9
        self.run_eval(event.value.strip())

    @engine_work("eval")
    def run_eval(self, questions_file: str) -> None:
        worker = get_current_worker()
        bridge = Bridge(self.post_message)
        try:
            if not questions_file and self.collection == DEMO_COLLECTION:
                questions_file = str(DEMO_QUESTIONS)
            elif not questions_file:
                raise LlmbenchError("give a questions file (JSONL or CSV: question, answer, optional source)")
            questions = load_questions(questions_file)
            self.post_message(Ready("status", f"loading {self.collection} and the embedder…"))
            self.client.open(self.collection)
            self.evaluation = Evaluation(
                self.collection,
                questions,
                self.spec_a,
                self.spec_b,
                self.params,
                retriever=self.client.retriever(self.collection),
                k=self.k,
                reserve_cores=UI_CORES,
            )
            with self.evaluation as ev:
                done = bridge.pump(ev.run(), lambda: worker.is_cancelled, ev.cancel, Finished)
            data = done.result.to_json()  # what the reports and the table read
            self.post_message(Ready("eval", (data, write_reports(data))))
        except LlmbenchError as exc:
            self.post_message(Ready("eval", error=str(exc)))

    def on_engine_event(self, message: EngineEvent) -> None:
        event = message.event
        if isinstance(event, QuestionStarted):
            self._status(f"[{event.index}/{event.total}] {escape(event.question.question)}")
        elif isinstance(event, QuestionDone):
            self._add_rows(event.rows)

    def on_ready(self, message: Ready) -> None:
        if message.what == "status":
            self._status(str(message.value))
            return
        self.running = False
        if message.error:
            self._status(f"[red]{escape(message.error)}[/red]")
        else:
            self.result, self.files = message.value
            self._finished()

    def worker_failed(self, worker) -> None:
        self.running = False

    def _add_rows(self, rows) -> None:
        table = self.query_one(DataTable)
        for r in rows:
            if r.resp_time:
                self.max_time = max(self.max_time, r.resp_time)
            hit = {True: Text("hit", style="green"), False: Text("miss", style="red"), None: Text("—")}[r.retrieval_hit]
            cells = [
                r.id,
                r.model,
                f"{r.cosine:.3f}" if r.cosine is not None else (r.error or "—")[:30],
                bar(r.cosine, "green") if self.bars else None,
                f"{r.resp_time:.2f} s" if r.resp_time is not None else "—",
                bar(r.resp_time / self.max_time if r.resp_time else None, "yellow") if self.bars else None,
                f"{r.ttft_ms:.0f} ms" if r.ttft_ms is not None else "—",
                f"{r.tok_s:.1f}" if r.tok_s is not None else "—",
                hit,
            ]
            table.add_row(*(c for c in cells if c is not None))
        table.move_cursor(row=table.row_count - 1)

    def _finished(self) -> None:
        summary = self.result["summary"]
        lines = []
        for name, s in summary["models"].items():

            def f(v, fmt):
                return "—" if v is None else fmt.format(v)

            lines.append(
                f"[b]{escape(name)}[/b]: mean cosine {f(s['mean_cosine'], '{:.3f}')} · mean {f(s['mean_resp_time'], '{:.2f} s')}"
                f" · median {f(s['median_resp_time'], '{:.2f} s')} · {f(s['mean_tok_s'], '{:.1f} tok/s')}"
                f" · retrieval hit rate {f(s['hit_rate'], '{:.0%}')} · errors {s['errors']}"
            )
        if "speed" in summary:
            lines.append(f"[b]{escape(summary['speed']['text'])}[/b]")
        self.query_one("#eval-summary", Static).update("\n".join(lines))
        folder = Path(self.files["csv"]).parent
        self._status(f"done · reports in {escape(str(folder))} (eval.csv, eval.json, eval.md)")
        self.notify(f"evaluation written to {folder}", timeout=8)

    def action_back(self) -> None:
        if self.running and self.evaluation is not None:
            self.evaluation.cancel()
            self._status("cancelling…")
            return
        self.dismiss()
