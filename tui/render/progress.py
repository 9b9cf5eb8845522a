"""The progress bar every long command shows on stderr, fed by the engine's
``Progress`` events: a row per stage, its count, its rate (chunks/s while embedding)
and its elapsed time."""

from __future__ import annotations

from contextlib import contextmanager

from llmbench.engine.runtime.jobs import Progress


@contextmanager
def progress_bar(enabled: bool = True):
    """A rich progress bar on stderr fed by ``Progress`` events (chunks/s while embedding)."""
    if not enabled:
        yield lambda p: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
    from rich.progress import Progress as Bar

    console = Console(stderr=True)
    with Bar(
        TextColumn("{task.fields[stage]:<6}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        TextColumn("{task.description}"),
        console=console,
        transient=False,
    ) as bar:
        tasks: dict[str, int] = {}

        def update(p: Progress) -> None:
            if p.stage not in tasks:
                tasks[p.stage] = bar.add_task(p.detail, total=p.total or None, stage=p.stage, rate="")
            rate = f"{p.rate:,.0f} {p.unit}/s" if p.rate else ""
            bar.update(tasks[p.stage], completed=p.done, total=p.total or None, description=p.detail, rate=rate)

        yield update
