"""A compact stats table: two label/value pairs per row, to fit a half-width pane."""

from __future__ import annotations

from rich.table import Table
from textual.widgets import Static

from engine.metrics import STAT_ROWS, format_stat
from engine.types import Stats


def stats_table(stats: Stats | None, mode: str | None = None) -> Table:
    table = Table.grid(padding=(0, 1), expand=True)
    for style in ("dim", "bold", "dim", "bold"):
        table.add_column(style=style, no_wrap=True)
    values = stats.to_dict() if stats else {}
    cells = []
    for key, label, _ in STAT_ROWS:
        if key == "peak_gpu_mib" and not values.get(key):
            continue
        cells.append((label, format_stat(key, values.get(key))))
    if mode:
        cells.append(("mode", mode))
    for i in range(0, len(cells), 2):
        row = [*cells[i], *(cells[i + 1] if i + 1 < len(cells) else ("", ""))]
        table.add_row(*row)
    return table


class StatsView(Static):
    DEFAULT_CSS = """
    StatsView { height: auto; padding: 0 1; }
    """

    def show(self, stats: Stats | None, mode: str | None = None) -> None:
        self.stats = stats
        self.update(stats_table(stats, mode))
