"""Reading a session file back: tolerant of crashes and damage, brought up to date
by ``MIGRATIONS``, and decoded into typed events by the one event codec.

A cut-short last line or a damaged line in the middle is skipped with a warning,
and the rest replays; a newer schema is read as far as it can be, with a warning.
Only a missing, unreadable or header-less file is an error.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import SessionError
from ..runtime.events import Decoded, decode
from ..runtime.record import SCHEMA_VERSION
from ..util.files import loads_json


@dataclass
class SessionLog:
    path: Path
    header: dict[str, Any]
    events: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def kind(self) -> str:
        return self.header.get("kind", "duel")

    def of_type(self, *types: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e.get("type") in types]

    def decoded(self) -> list[Decoded]:
        """The records as typed events (records the codec cannot read are left out)."""
        return [d for d in map(decode, self.events) if d is not None]


def _v1_to_v2(header: dict, events: list[dict]) -> None:
    """Schema 1 had no run number on events and no clock name: every event belongs to
    the run of the prompt record before it; t_ns were always CLOCK_MONOTONIC."""
    header.setdefault("clock", "monotonic_ns")
    run = 0
    for e in events:
        if e.get("type") == "prompt":
            run = e.get("run") or run + 1
            e["run"] = run
        elif run and "run" not in e:
            e["run"] = run


# (from_version, migration): applied in order to reach SCHEMA_VERSION.
MIGRATIONS: list[tuple[int, Callable[[dict, list[dict]], None]]] = [
    (1, _v1_to_v2),
]


def migrate(header: dict, events: list[dict]) -> int:
    """Bring an older log up to SCHEMA_VERSION in place; returns the version it had."""
    version = header.get("schema", 1)
    if not isinstance(version, int) or version < 1:
        version = 1
    original = version
    for start, step in MIGRATIONS:
        if version == start:
            step(header, events)
            version = start + 1
    header["schema"] = max(version, original)
    return original


def read_session(path: str | Path) -> SessionLog:
    """Read a session file. A cut-short last line or a damaged line in the middle is
    skipped with a warning; a newer schema is read as far as it can be, with a warning.
    Only a missing, unreadable or header-less file is an error."""
    p = Path(path).expanduser()
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise SessionError(f"{p}: no such session file") from None
    except IsADirectoryError:
        raise SessionError(f"{p}: is a folder, not a session file") from None
    except OSError as exc:
        raise SessionError(f"{p}: cannot read the session ({exc.strerror})") from None
    text = raw.decode("utf-8", errors="replace")
    lines = text.splitlines()
    events, warnings, bad = [], [], []
    for i, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            obj = loads_json(line)
        except ValueError:
            obj = None
        if not isinstance(obj, dict):
            if i == len(lines) and events:
                warnings.append(f"{p}: the last line ({i}) is cut short, probably by a crash; it was skipped")
            else:
                bad.append(i)
            continue
        events.append(obj)
    if not events or events[0].get("type") != "session":
        raise SessionError(f"{p}: not an llmbench session (the first line is not a session header)")
    if bad:
        shown = ", ".join(map(str, bad[:5])) + (f" and {len(bad) - 5} more" if len(bad) > 5 else "")
        warnings.append(f"{p}: {len(bad)} damaged line(s) skipped (line {shown}); the rest replays")
    header = events[0]
    version = header.get("schema", 1)
    if isinstance(version, int) and version > SCHEMA_VERSION:
        warnings.append(
            f"{p}: schema version {version} is newer than this llmbench understands "
            f"({SCHEMA_VERSION}); showing what it can read — upgrade llmbench for the rest"
        )
    body = events[1:]
    migrate(header, body)
    return SessionLog(p, header, body, warnings)
