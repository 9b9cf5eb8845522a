"""The token view: a passage coloured by per-token KLD between a reference and a
candidate; with the cursor on a token, both models' top tokens and probabilities.

Opened from the Quant tab (a variant against the matrix's reference) and from the
Duel tab (B against A, on A's prompt and answer). The two models run in their own
worker processes, from a thread worker; the screen never waits.
"""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Footer, Static

from llmbench.engine.errors import LlmbenchError
from llmbench.engine.experiments.fidelity.run import Text as Passage
from llmbench.engine.experiments.fidelity.tokens import token_view

from ..messages import Ready
from ..workers import ReportsWorkerErrors, engine_work
from .page import PageScreen

# KLD (nats) -> background: what a person reads as fine, doubtful, wrong
SHADES = ((0.01, None), (0.1, "#5f5f00"), (0.5, "#875f00"), (1.0, "#af5f00"), (float("inf"), "#af0000"))


def shade(kld: float | None) -> str | None:
    if kld is None:
        return None
    return next(colour for limit, colour in SHADES if kld < limit)


def visible(piece: str) -> str:
    return piece.replace("\n", "⏎\n").replace("\t", "→")


class TokenView(ReportsWorkerErrors, PageScreen):
    BINDINGS = [
        Binding("right,l", "move(1)", "Next token"),
        Binding("left,h", "move(-1)", "Previous"),
        Binding("n", "worst(1)", "Next large KLD"),
        Binding("p", "worst(-1)", "Previous large KLD", show=False),
    ]

    def __init__(self, reference: str, candidate: str, passage: Passage, ctx: int = 256) -> None:
        super().__init__()
        self.reference, self.candidate, self.passage, self.ctx = reference, candidate, passage, ctx
        self.view: dict | None = None
        self.cursor = 1

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(f"{self.candidate} against {self.reference}: running both models…", id="tv-title",
                         classes="page-status")  # fmt: skip
            with VerticalScroll(id="tv-scroll", classes="page-body"):
                yield Static("", id="tv-text")
            yield Static("", id="tv-detail")
        yield Footer()

    def on_mount(self) -> None:
        self.compute()

    @engine_work("token-view")
    def compute(self) -> None:
        try:
            view = token_view(self.reference, self.candidate, self.passage, ctx=self.ctx)
        except LlmbenchError as exc:
            self.post_message(Ready("tokens", error=str(exc)))
            return
        self.post_message(Ready("tokens", view))

    def on_ready(self, message: Ready) -> None:
        title = self.query_one("#tv-title", Static)
        if message.error:
            title.update(Text(f"token view: {message.error}", style="bold red"))
            return
        self.view = view = message.value
        title.update(
            Text(
                f"{view['candidate']} against {view['reference']}: {len(view['tokens'])} tokens, mean KLD "
                f"{view['kld_mean']:.4f}, same top {100 * view['same_top_p']:.1f}% (one passage, one sample). "
                "Background: KLD ≥0.01 ≥0.1 ≥0.5 ≥1 darker to red."
            )
        )
        self.action_worst(1)

    def render_text(self) -> Text:
        out = Text()
        for i, cell in enumerate(self.view["tokens"]):
            style = f"on {shade(cell['kld'])}" if shade(cell["kld"]) else ""
            if i == self.cursor:
                style = "reverse bold"
            out.append(visible(cell["text"]), style=style)
        return out

    def _show(self) -> None:
        if self.view is None:
            return
        self.query_one("#tv-text", Static).update(self.render_text())
        cell = self.view["tokens"][self.cursor]
        self.query_one("#tv-detail", Static).update(detail_table(cell))

    def action_move(self, step: int) -> None:
        if self.view is None:
            return
        self.cursor = max(1, min(len(self.view["tokens"]) - 1, self.cursor + step))
        self._show()

    def action_worst(self, direction: int) -> None:
        """To the next (or previous) token of KLD ≥ 0.1, wrapping around."""
        if self.view is None:
            return
        cells = self.view["tokens"]
        n = len(cells)
        for k in range(1, n):
            i = (self.cursor + direction * k) % n
            if cells[i]["kld"] is not None and cells[i]["kld"] >= 0.1:
                self.cursor = i
                break
        self._show()


def detail_table(cell: dict) -> Table:
    """The token under the cursor: its KLD, both models' probability of it, their top tokens."""
    title = (f"{visible(cell['text'])!r}: KLD {cell['kld']:.4f} · p(ref) {100 * cell['p_ref']:.1f}% · "
             f"p(cand) {100 * cell['p_cand']:.1f}%")  # fmt: skip
    table = Table(title=title, title_justify="left", box=None, padding=(0, 1), expand=True)
    table.add_column("reference's top", ratio=1)
    table.add_column("p", justify="right")
    table.add_column("candidate's top", ratio=1)
    table.add_column("p", justify="right")
    ref, cand = cell["ref_top"], cell["cand_top"]
    for k in range(max(len(ref), len(cand))):
        row = []
        for tops in (ref, cand):
            if k < len(tops):
                piece, prob = tops[k]
                mark = " ◀" if piece == cell["text"] else ""
                row += [Text(repr(visible(piece)) + mark), f"{100 * prob:.1f}%"]
            else:
                row += ["", ""]
        table.add_row(*row)
    return table
