"""Files written whole or not at all, and file digests.

``atomic_write_text`` writes a temporary file beside the target and renames it over
the target, so a crash or a full disk never leaves a half-written file.
``loads_json`` parses JSON from a file or a server: every way it can fail, nesting too
deep for Python's stack included, is a ValueError.
``file_sha256`` reads through ``hashlib.file_digest``; ``cached_sha256`` remembers
the digest of big files by path, size and modification time. ``exclusive`` serialises
the writers of one thing (a collection) across processes.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

from .. import paths

Progress = Callable[[str, int, int], None]  # (stage, done, total)


def atomic_write_text(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` in one step; raises OSError (the old file stays)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(3)}.tmp")
    try:
        with tmp.open("w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError) and exc.filename is None:  # a write's error names no file: this one
            raise OSError(exc.errno, exc.strerror, str(path)) from None
        raise


def loads_json(text: str | bytes) -> Any:
    """``json.loads``, where JSON nested too deep to parse (``[[[[…``) is a ValueError
    like any other malformed JSON, not a RecursionError."""
    try:
        return json.loads(text)
    except RecursionError:
        raise ValueError("nested too deeply") from None


def read_json_file(path: Path, what: str) -> tuple[Any, str | None]:
    """``(data, None)``; ``(None, None)`` when there is no file; ``(None, why)`` when it cannot
    be read or parsed, ``why`` one line naming the file and ``what`` it holds."""
    from ..errors import first_line

    try:
        return loads_json(path.read_text(encoding="utf-8")), None
    except FileNotFoundError:
        return None, None
    except (OSError, ValueError) as exc:  # (UnicodeDecodeError is a ValueError)
        why = exc.strerror if isinstance(exc, OSError) else f"not valid JSON: {first_line(exc)}"
        return None, f"{path}: {what} unreadable ({why})"


def keep_aside(path: Path) -> Path:
    """Copy a file that is about to be replaced because it could not be parsed to
    ``NAME.damaged-STAMP`` beside it, so no setting in it is lost; returns the copy."""
    import shutil

    target = path.with_name(f"{path.name}.damaged-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(2)}")
    shutil.copy2(path, target)
    return target


def fsync_path(path: Path) -> None:
    """A written file (or a folder's entries) on disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_json(path: Path, data: Any) -> None:
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False))


class _Counting:
    """A binary file that reports how much of it has been read (for ``file_digest``)."""

    def __init__(self, fh: BinaryIO, total: int, progress: Progress, stage: str):
        self.fh, self.total, self.progress, self.stage, self.done = fh, total, progress, stage, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        n = self.fh.readinto(buffer)
        self.done += n or 0
        self.progress(self.stage, self.done, self.total)
        return n


def file_sha256(path: Path, progress: Progress | None = None, stage: str = "verify") -> str:
    """The SHA-256 of a file; ``progress(stage, done, total)`` as it is read."""
    with Path(path).open("rb") as fh:
        source = _Counting(fh, Path(path).stat().st_size, progress, stage) if progress else fh
        return hashlib.file_digest(source, "sha256").hexdigest()


def cached_sha256(path: str | Path) -> str:
    """SHA-256 of a file, remembered by (path, size, mtime) so that big files hash once."""
    p = Path(path).resolve()
    st = p.stat()
    key = f"{p}|{st.st_size}|{st.st_mtime_ns}"
    cache_file = paths.cache_dir() / "sha256.json"
    try:
        cache = json.loads(cache_file.read_text())
    except (OSError, ValueError):
        cache = {}
    if not isinstance(cache, dict):
        cache = {}
    if isinstance(cache.get(key), str):
        return cache[key]
    digest = file_sha256(p)
    cache = {k: v for k, v in cache.items() if not k.startswith(f"{p}|")}
    cache[key] = digest
    try:
        atomic_write_json(cache_file, cache)
    except OSError:
        pass  # a read-only cache only costs speed
    return digest


@contextlib.contextmanager
def exclusive(lock_path: Path, what: str, waiting: Callable[[str], object] = lambda _: None,
              cancelled: Callable[[], bool] = lambda: False, poll_s: float = 0.2):  # fmt: skip
    """Hold an exclusive lock on ``lock_path`` (``flock``: released by the kernel when the
    holder dies, so a crash leaves no stale lock). Another holder: say so once through
    ``waiting`` and wait for it, unless ``cancelled()`` turns true (``LlmbenchError``)."""
    import fcntl

    from ..errors import LlmbenchError

    paths.ensure(lock_path.parent)
    with open(lock_path, "a+b") as fh:
        said = False
        while True:
            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not said:
                    waiting(f"waiting for another llmbench run that is writing {what}…")
                    said = True
                if cancelled():
                    raise LlmbenchError(f"{what}: cancelled while another run was writing it") from None
                time.sleep(poll_s)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
