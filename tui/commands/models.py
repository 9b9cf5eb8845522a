"""``llmbench models list|pull|add|rm``."""

from __future__ import annotations

from engine import models
from engine.errors import LlmbenchError


def _mib(n: int | None) -> str:
    return f"{n / 2**20:,.0f} MiB" if n else "—"


def run(args) -> int:
    from rich.console import Console

    console = Console()
    err = Console(stderr=True)
    action = args.models_command
    if action == "list":
        entries = models.list_models()
        if args.format == "json":
            from ..cli import dump_json

            dump_json([e.__dict__ for e in entries])
            return 0
        from rich.table import Table

        table = Table(title="models", title_justify="left")
        for col in ("name", "kind", "status", "size", "path"):
            table.add_column(col, overflow="fold")
        for e in entries:
            style = {"ready": "green", "missing": "red"}.get(e.status, "yellow")
            table.add_row(e.name, e.kind, f"[{style}]{e.status}[/]", _mib(e.size_bytes), e.path)
        console.print(table)
        return 0
    if action == "pull":
        failed = 0
        for name in args.names:
            try:
                pulled = _pull_with_bar(name, args.force, err)
            except LlmbenchError as exc:
                err.print(f"llmbench: error: {exc}", markup=False, highlight=False, soft_wrap=True)
                failed += 1
                continue
            if name.startswith("hf:") and pulled.path.stem not in models.DEMO_MODELS:
                models.add_model(pulled.path.stem, pulled.path)
                console.print(f"{name}: registered as {pulled.path.stem}", highlight=False, soft_wrap=True)
            if pulled.fetched:
                console.print(f"{name}: pulled to {pulled.path} (sha256 verified)", highlight=False, soft_wrap=True)
            elif not args.quiet_if_present:
                console.print(f"{name}: already present at {pulled.path}", highlight=False, soft_wrap=True)
        return 1 if failed else 0
    if action == "add":
        info = models.add_model(args.name, args.path)
        console.print(f"added {args.name}: {info.path} ({info.arch or '?'}, {info.quant or '?'}, {_mib(info.size_bytes)})",
                      highlight=False, soft_wrap=True)
        return 0
    if action == "rm":
        console.print(models.remove_model(args.name), highlight=False, soft_wrap=True)
        return 0
    return 2


def _pull_with_bar(name: str, force: bool, console) -> models.Pulled:
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn

    columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task(f"{name}: checking", total=None)

        def progress(stage: str, done: int, total: int) -> None:
            if stage.startswith("download "):
                bar.update(task, description=f"{name}: {stage} ({done + 1}/{total} from PyPI)", total=None)
            elif stage in ("extract", "verify"):
                bar.update(task, description=f"{name}: {stage}", completed=done, total=total)

        return models.pull(name, progress=progress, force=force)
