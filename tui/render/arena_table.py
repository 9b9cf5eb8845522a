"""The arena leaderboard as a Rich table, and its notes: what ``llmbench arena
leaderboard`` prints and the Duel tab's Leaderboard page shows."""

from __future__ import annotations

from llmbench.engine.experiments.arena.leaderboard import Battles, Row
from llmbench.engine.experiments.arena.report import COLUMNS, notes, pareto_lines, table_rows

from .tables import rich_table

RIGHT = ("#", "n", "W/T", "KLD", "top p", "tok/s", "RAM")


def leaderboard_table(rows: list[Row], battles: Battles, title: str | None):
    return rich_table(title, COLUMNS, table_rows(rows, battles), right=RIGHT, no_wrap=("rating (95% CI)", "RAM"))


def leaderboard_notes(rows: list[Row], battles: Battles, resamples: int, pareto: bool) -> list[str]:
    """The lines under the table: the columns, the method, what was not counted; the front."""
    return [*notes(rows, battles, resamples), *(pareto_lines(rows) if pareto else [])]
