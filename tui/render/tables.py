"""Rich tables as every command prints them: plain-text cells (a model's ``[/]`` is not
markup), right-aligned numbers, long cells folded."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def rich_table(
    title: str | None,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    right: Sequence[str] = (),
    no_wrap: Sequence[str] = (),
    **options: Any,
):
    """A rich table: ``right`` names the right-aligned columns, ``no_wrap`` those that never
    wrap; other long cells fold. Cells are plain text (a model's ``[/]`` is not markup);
    pass a rich ``Text`` for a styled one."""
    from rich.table import Table
    from rich.text import Text

    table = Table(title=title, title_justify="left", **options)
    for col in columns:
        table.add_column(col, justify="right" if col in right else "left", overflow="fold", no_wrap=col in no_wrap)
    for row in rows:
        table.add_row(*[c if isinstance(c, Text) else Text(str(c)) for c in row])
    return table
