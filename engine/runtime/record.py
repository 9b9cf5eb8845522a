"""Recording a run as it happens: the session file, one JSON record per line.

The first line is the header (``type: "session"``) with the schema version and the
kind: ``duel``, ``chat``, ``rag-duel``, ``eval``, ``inspect``, ``quant-matrix``, ``fidelity`` or ``bench``.
Every event after it is written through the event codec (``events.encode``), so
what a session holds is exactly what the run yielded. Each line is flushed when
written and the file is fsynced after each finished answer, so a crash leaves a
readable file whose last line at worst is cut short: a live session is a journal. A
session saved at once (``save_snapshot``: an inspection, a batch result) is written
whole or not at all (``util.files.staged``). Names never collide (a slug
plus a random suffix, opened with ``x``) and nothing that looks like a secret is
written (``util.redact``). Reading, listing and replaying are ``sessions``'.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import secrets
import time
from pathlib import Path
from typing import Any

from .. import __version__, paths
from ..errors import SessionError
from ..util.files import output_error, part_path, sweep_parts
from ..util.host import host_info
from ..util.redact import env_secrets, redact, redact_text
from .events import Channel, Snapshot, encode

SCHEMA_VERSION = 2
SUFFIX = ".jsonl"
KINDS = ("duel", "chat", "rag-duel", "eval", "inspect", "quant-matrix", "fidelity", "bench")
_BULK = {"token", "resources"}  # records a model writes many of: its own output, not scanned for secrets


def slug(text: str, limit: int = 40) -> str:
    """A file-name-safe slug: lowercase words, no path separators, never empty."""
    words = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return words[:limit].rstrip("-") or "untitled"


class SessionWriter:
    """Writes one session file. Never overwrites: names are unique and opened with 'x'.

    After the first ``Prompt`` every line carries the ``run`` it belongs to. ``whole``:
    written under a partial name, given its own by ``close`` (a snapshot saved at once)."""

    def __init__(self, kind: str, title: str, meta: dict[str, Any], directory: Path | None = None,
                 whole: bool = False):  # fmt: skip
        directory = directory or paths.sessions_dir()
        try:
            paths.ensure(directory)
        except OSError as exc:
            raise SessionError(f"{directory}: cannot create the sessions folder ({exc.strerror})") from None
        if whole:
            sweep_parts(directory, f"*{SUFFIX}")  # a killed save's partial
        stamp = time.strftime("%Y%m%d-%H%M%S")
        self._env = env_secrets()
        title = redact_text(title, self._env)
        self.run = 0
        for _ in range(5):
            name = f"{stamp}-{slug(kind, 12)}-{slug(title)}-{secrets.token_hex(3)}{SUFFIX}"
            self.path = directory / name
            self._file = part_path(self.path) if whole else self.path
            try:
                self._fh = open(self._file, "x", encoding="utf-8")
                break
            except FileExistsError:
                continue
            except OSError as exc:
                raise SessionError(f"{self.path}: cannot write the session ({exc.strerror})") from None
        else:
            raise SessionError(f"{directory}: no free session name")
        self.error: str | None = None  # set when a write fails (a full disk): recorded up to there
        header = {
            "type": "session",
            "schema": SCHEMA_VERSION,
            "kind": kind,
            "title": title,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "clock": "monotonic_ns",
            "llmbench": __version__,
            "host": host_info(),
            **meta,
        }
        self._write(header)
        self.sync()
        if self.error:  # not even the header: no 0-byte or cut file is left to break the listings
            self._file.unlink(missing_ok=True)
            raise SessionError(self.error.replace("; recorded up to here", ""))

    def event(self, channel: Channel | str | None, event: Any) -> None:
        """Record one event (the codec decides its fields)."""
        self._write(encode(channel, event))

    def _write(self, record: dict[str, Any]) -> None:
        if self._fh.closed:
            return
        if record["type"] == "prompt":
            self.run = record.get("run") or self.run + 1
        if self.run and "run" not in record:
            record = {**record, "run": self.run}
        if record["type"] not in _BULK:
            record = redact(record, self._env)
        try:
            self._fh.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")
            self._fh.flush()
        except OSError as exc:
            self._failed(exc)

    def sync(self) -> None:
        if not self._fh.closed:
            try:
                self._fh.flush()
                os.fsync(self._fh.fileno())
            except OSError as exc:
                self._failed(exc)

    def close(self) -> None:
        if not self._fh.closed:
            self.sync()
            with contextlib.suppress(OSError):
                self._fh.close()
        if self._file != self.path:  # written whole: its name now, or nothing at all
            try:
                if self.error is None:
                    os.replace(self._file, self.path)
            except OSError as exc:
                self.error = output_error(self.path, exc)
            finally:
                self._file.unlink(missing_ok=True)

    def _failed(self, exc: OSError) -> None:
        """A write failed (ENOSPC, EIO, a quota): stop recording, keep what was written (the
        last line may be cut, which readers skip), and say so; the run itself goes on."""
        why = "disk full" if exc.errno in (errno.ENOSPC, errno.EDQUOT) else exc.strerror or type(exc).__name__
        self.error = (
            output_error(self.path, exc) if self._file != self.path else f"{self.path}: {why}; recorded up to here"
        )
        with contextlib.suppress(OSError):
            self._fh.close()  # (its buffer cannot be written either)

    def discard(self) -> None:
        """Close and remove the file: a run with nothing worth keeping (no model it names
        could be found), which would only clutter the sessions list."""
        with contextlib.suppress(OSError):
            self._fh.close()
        self._file.unlink(missing_ok=True)


def save_snapshot(kind: str, title: str, record: dict[str, Any], meta: dict[str, Any]) -> Path:
    """A one-record session: an inspection or a quantization matrix as it was at this moment."""
    w = SessionWriter(kind, title, meta, whole=True)
    try:
        w.event(None, Snapshot(kind, record))
    finally:
        w.close()
    if w.error:
        raise SessionError(w.error.replace("; recorded up to here", ""))
    return w.path


def save_report(kind: str, title: str, result: dict, spec: str, params: dict, report_md: str,
                summary: str, host: dict | None = None) -> tuple[Path | None, str | None]:  # fmt: skip
    """A batch run's result saved once, with its report and its line for the sessions
    list: ``(path, None)``, or ``(None, why)`` when it cannot be written. ``host``: the
    machine it ran on, when not this one (an imported run)."""
    meta = {"contestants": {"a": {"spec": spec, "params": params}}} | ({"host": host} if host else {})
    try:
        return save_snapshot(kind, title, {**result, "report_md": report_md, "summary_line": summary}, meta), None
    except SessionError as exc:
        return None, str(exc)
