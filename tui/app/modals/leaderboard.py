"""The arena's leaderboard page (Ctrl+R in the Duel tab): the table ``llmbench arena
leaderboard POOL --pareto`` prints, worked out off the event loop."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Footer, Static

from llmbench.engine.errors import LlmbenchError

from ...render.arena_table import leaderboard_notes, leaderboard_table
from ..messages import Ready
from ..workers import ReportsWorkerErrors, engine_work
from .page import PageScreen

RESAMPLES = 1000


class LeaderboardScreen(ReportsWorkerErrors, PageScreen):
    BINDINGS = [Binding("r", "refresh", "Again")]

    def __init__(self, pool: str | None) -> None:
        super().__init__()
        self.pool = pool or None
        self.rows: list | None = None

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static("fitting the ratings…", id="board-status", classes="page-status")
            with VerticalScroll(id="board-scroll", classes="page-body"):
                yield Static("", id="board-table")
                yield Static("", id="board-notes")
        yield Footer()

    def on_mount(self) -> None:
        self.action_refresh()

    def action_refresh(self) -> None:
        self.query_one("#board-status", Static).update("fitting the ratings…")
        self.fit()

    @engine_work("leaderboard")
    def fit(self) -> None:
        from llmbench.engine.experiments.arena.leaderboard import leaderboard
        from llmbench.engine.experiments.arena.pools import get_pool

        try:
            reference = get_pool(self.pool).reference if self.pool else None
            self.post_message(Ready("board", leaderboard(self.pool, reference, resamples=RESAMPLES)))
        except LlmbenchError as exc:
            self.post_message(Ready("board", error=str(exc)))

    def on_ready(self, message: Ready) -> None:
        status = self.query_one("#board-status", Static)
        if message.error:
            status.update(Text(f"leaderboard: {message.error}", style="bold red"))
            return
        self.rows, battles = message.value
        where = f"pool {self.pool}" if self.pool else "every pool"
        if not self.rows:
            status.update(f"no counted battles of {where} yet: Ctrl+B, a prompt, then your vote")
            return
        status.update(f"arena leaderboard · {where} (r: again · `llmbench arena leaderboard` prints the same)")
        self.query_one("#board-table", Static).update(leaderboard_table(self.rows, battles, title=None))
        notes = leaderboard_notes(self.rows, battles, RESAMPLES, pareto=True)
        self.query_one("#board-notes", Static).update(Text("\n".join(notes)))
