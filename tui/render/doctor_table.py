"""``llmbench doctor``'s checks as a rich table: the CLI prints it, the TUI's Doctor page shows it."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text

STYLES = {"ok": "green", "info": "cyan", "warn": "yellow", "fail": "bold red"}


def found_and_fix(check) -> Text:
    """What was found, and the fix on a line of its own below it."""
    text = Text(check.found)
    if check.fix:
        text.append(f"\n→ {check.fix}", style="yellow")
    return text


def doctor_table(checks, title: str | None = "llmbench doctor") -> Table:
    table = Table(title=title, title_justify="left", expand=True)
    table.add_column("area", no_wrap=True)
    table.add_column("verdict", no_wrap=True)
    table.add_column("found (→ the fix)", overflow="fold", ratio=1)
    for c in checks:
        table.add_row(c.area, Text(c.verdict, style=STYLES[c.verdict]), found_and_fix(c))
    return table
