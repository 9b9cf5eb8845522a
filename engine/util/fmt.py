"""Sizes as people read them: one format for every table, message and report."""

from __future__ import annotations

MIB = 2**20
GIB = 2**30


def size_text(n: int | float | None, none: str = "—") -> str:
    """``235 MiB``, ``1,024 MiB``, ``12.5 GiB`` (GiB from 10 GiB up); ``none`` for no value."""
    if n is None:
        return none
    return f"{n / MIB:,.0f} MiB" if n < 10 * GIB else f"{n / GIB:,.1f} GiB"
