"""What every command prints through: JSON, Markdown tables, one-line errors, and the
reports of batch runs (rich tables and the progress bar are in ..render)."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any

FORMATS = ("table", "json", "md")  # what --format offers; a command may offer fewer


class CliError(Exception):
    """Printed as one line, exit status 1."""


def dump_json(data: Any) -> None:
    print(json.dumps(data, indent=2, ensure_ascii=False, default=str))


def console(stderr: bool = False):
    from rich.console import Console

    return Console(stderr=stderr)


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
