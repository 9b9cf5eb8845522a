"""Markdown tables for every report: cells escaped so a ``|`` never breaks a row."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def cell(value: Any) -> str:
    """One table cell: pipes escaped, line breaks folded into spaces."""
    text = "" if value is None else str(value)
    return " ".join(text.replace("|", "\\|").split())


def table(header: Sequence[Any], rows: Sequence[Sequence[Any]], align: str = "") -> list[str]:
    """The lines of a Markdown table. ``align`` has one letter per column: l, r or c
    (missing letters are left-aligned)."""
    marks = {"l": "---", "r": "---:", "c": ":---:"}
    rule = [marks.get(align[i] if i < len(align) else "l", "---") for i in range(len(header))]
    out = ["| " + " | ".join(cell(h) for h in header) + " |", "|" + "|".join(rule) + "|"]
    out += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return out


def quote(text: str) -> str:
    """A block quote of ``text`` (empty lines kept as ``>``)."""
    return "\n".join("> " + line if line else ">" for line in text.strip().splitlines()) or "> *(empty)*"
