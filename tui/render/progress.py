"""The progress bar every long command shows on stderr, fed by the engine's
``Progress`` events: a row per stage, its count, its rate (chunks/s while embedding)
and its elapsed time. A stage counted in bytes (``unit="B"``: quantizing) shows sizes."""

from __future__ import annotations

from contextlib import contextmanager

from llmbench.engine.jobs import Progress
from llmbench.engine.util.fmt import size_text


def _count(p: Progress) -> str:
    if p.unit == "B":
        return f"{size_text(p.done)}/{size_text(p.total)}" if p.total else size_text(p.done)
    return f"{p.done}/{p.total}" if p.total else str(p.done)


@contextmanager
def progress_bar(enabled: bool = True):
    """A rich progress bar on stderr fed by ``Progress`` events (chunks/s while embedding)."""
    if not enabled:
        yield lambda p: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, TextColumn, TimeElapsedColumn
    from rich.progress import Progress as Bar

    console = Console(stderr=True)
    with Bar(
        TextColumn("{task.fields[stage]:<6}"),
        BarColumn(),
        TextColumn("{task.fields[count]}"),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        TextColumn("{task.description}"),
        console=console,
        transient=False,
    ) as bar:
        tasks: dict[str, int] = {}

        def update(p: Progress) -> None:
            if p.stage not in tasks:
                tasks[p.stage] = bar.add_task(p.detail, total=p.total or None, stage=p.stage, rate="", count="")
            rate = f"{p.rate:,.0f} {p.unit}/s" if p.rate else ""
            bar.update(tasks[p.stage], completed=p.done, total=p.total or None, description=p.detail, rate=rate,
                       count=_count(p))  # fmt: skip

        yield update
