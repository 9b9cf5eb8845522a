"""What every command prints through: JSON, Markdown tables, rich tables, one-line
errors, and the reports of batch runs."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from typing import Any

FORMATS = ("table", "json", "md")  # what --format offers; a command may offer fewer


class CliError(Exception):
    """Printed as one line, exit status 1."""


def dump_json(data: Any) -> None:
    print(json.dumps(data, indent=2, ensure_ascii=False, default=str))


def console(stderr: bool = False):
    from rich.console import Console

    return Console(stderr=stderr)


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


def print_report(
    fmt: str, result: dict, files: dict, markdown: Callable[[dict], str], table: Callable[[dict], None]
) -> None:
    """A batch run's result (evaluation, quant matrix) as JSON, Markdown or a table, and where its reports went."""
    if fmt == "json":
        dump_json({**result, "files": {k: str(v) for k, v in files.items()}})
        return
    if fmt == "md":
        print(markdown(result))
    else:
        table(result)
    print("reports: " + "  ".join(str(f) if i == 0 else f.name for i, f in enumerate(files.values())), file=sys.stderr)
