"""Sessions: an append-only JSONL event log per run, written as it happens.

Each line is one JSON object with a ``type``. The first line is the header
(``type: "session"``) with the schema version. Every line is flushed when written
and the file is fsynced after each finished answer, so a crash leaves a readable
file whose last line at worst is cut short; ``read_session`` tolerates that.
"""

from __future__ import annotations

import json
import os
import platform
import re
import secrets
import time
from dataclasses import asdict, dataclass, field, is_dataclass
from pathlib import Path
from typing import Any

from . import __version__, paths
from .errors import SessionError

SCHEMA_VERSION = 1


def slug(text: str, limit: int = 40) -> str:
    """A file-name-safe slug: lowercase words, no path separators, never empty."""
    words = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return words[:limit].rstrip("-") or "untitled"


def host_info() -> dict[str, Any]:
    import psutil

    return {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": platform.processor() or None,
        "cpu_count": os.cpu_count(),
        "physical_cores": psutil.cpu_count(logical=False),
        "ram_bytes": psutil.virtual_memory().total,
        "python": platform.python_version(),
    }


def to_record(obj: Any) -> Any:
    if is_dataclass(obj):
        return asdict(obj)
    return obj


class SessionWriter:
    """Writes one session file. Never overwrites: names are unique and opened with 'x'."""

    def __init__(self, kind: str, title: str, meta: dict[str, Any], directory: Path | None = None):
        directory = directory or paths.sessions_dir()
        try:
            paths.ensure(directory)
        except OSError as exc:
            raise SessionError(f"{directory}: cannot create the sessions folder ({exc.strerror})") from None
        stamp = time.strftime("%Y%m%d-%H%M%S")
        name = f"{stamp}-{slug(kind, 12)}-{slug(title)}-{secrets.token_hex(3)}.jsonl"
        self.path = directory / name
        try:
            self._fh = open(self.path, "x", encoding="utf-8")
        except OSError as exc:
            raise SessionError(f"{self.path}: cannot write the session ({exc.strerror})") from None
        self.write(
            "session",
            schema=SCHEMA_VERSION,
            kind=kind,
            title=title,
            created=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            llmbench=__version__,
            host=host_info(),
            **meta,
        )
        self.sync()

    def write(self, type_: str, **fields: Any) -> None:
        if self._fh.closed:
            return
        record = {"type": type_, **{k: to_record(v) for k, v in fields.items()}}
        self._fh.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")
        self._fh.flush()

    def sync(self) -> None:
        if not self._fh.closed:
            self._fh.flush()
            os.fsync(self._fh.fileno())

    def close(self) -> None:
        if not self._fh.closed:
            self.sync()
            self._fh.close()


@dataclass
class SessionLog:
    path: Path
    header: dict[str, Any]
    events: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def read_session(path: str | Path) -> SessionLog:
    """Read a session file; a cut-short last line becomes a warning, not an error."""
    p = Path(path)
    try:
        lines = p.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise SessionError(f"{p}: no such session file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SessionError(f"{p}: cannot read the session ({exc})") from None
    events, warnings = [], []
    for i, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            events.append(json.loads(line))
        except ValueError:
            if i == len(lines):
                warnings.append(f"{p}: the last line ({i}) is cut short, probably by a crash; it was skipped")
            else:
                raise SessionError(f"{p}: line {i} is not valid JSON") from None
    if not events or events[0].get("type") != "session":
        raise SessionError(f"{p}: not an llmbench session (no header line)")
    header = events[0]
    if header.get("schema", 0) > SCHEMA_VERSION:
        raise SessionError(
            f"{p}: schema version {header.get('schema')} is newer than this llmbench understands ({SCHEMA_VERSION})"
        )
    return SessionLog(p, header, events[1:], warnings)
