"""Files written whole or not at all, and file digests.

Every output llmbench writes goes through ``staged``: it is written under a hidden
temporary name beside the target (``.NAME.PID.XXXXXX.part``) and renamed over the
target when complete, so a crash, a kill or a full disk never leaves a half-written
file under the real name. Partials that a killed run left (their process is gone) are
removed when the next run of the same kind writes to that folder, or by
``llmbench doctor --clean``. ``output_error`` is the one line for a write that failed:
a full disk names the output's folder. ``atomic_write_text`` is ``staged`` for text.
``loads_json`` parses JSON from a file or a server: every way it can fail, nesting too
deep for Python's stack included, is a ValueError.
``file_sha256`` reads through ``hashlib.file_digest``; ``cached_sha256`` remembers
the digest of big files by path, size and modification time. ``exclusive`` serialises
the writers of one thing (a collection) across processes.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import re
import secrets
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

from .. import paths

StageCallback = Callable[[str, int, int], None]  # progress as (stage, done, total)


PART_SUFFIX = ".part"
_PART = re.compile(r"^\.(?P<name>.+)\.(?P<pid>\d+)\.[0-9a-f]{6}\.part$")
FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)


def part_path(target: Path) -> Path:
    """The hidden temporary name ``target`` is written under: ``.NAME.PID.XXXXXX.part``."""
    return target.with_name(f".{target.name}.{os.getpid()}.{secrets.token_hex(3)}{PART_SUFFIX}")


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # another user's process: alive
        return True
    return True


def stale_parts(folder: Path, kind: str = "*") -> list[Path]:
    """Partial outputs in ``folder`` whose target matches the glob ``kind`` (``*.gguf``)
    and whose writer is gone: a killed run's leftovers. A live writer's are kept."""
    from fnmatch import fnmatchcase

    try:
        entries = list(os.scandir(folder))
    except OSError:
        return []
    out = []
    for entry in entries:
        m = _PART.match(entry.name)
        if m and fnmatchcase(m["name"], kind) and not _alive(int(m["pid"])):
            out.append(Path(entry.path))
    return sorted(out)


def stale_parts_under(root: Path, depth: int = 3) -> list[Path]:
    """``stale_parts`` of every kind in ``root`` and its folders ``depth`` levels down
    (not inside partial folders themselves)."""
    found, level = [], [Path(root)]
    for _ in range(depth + 1):
        below = []
        for folder in level:
            found += stale_parts(folder)
            with contextlib.suppress(OSError):
                below += [Path(e.path) for e in os.scandir(folder)
                          if e.is_dir(follow_symlinks=False) and not _PART.match(e.name)]  # fmt: skip
        level = below
    return sorted(set(found))


def path_bytes(path: Path) -> int:
    """What a file or a folder holds on disk (its allocated blocks: a sparse partial
    counts what it really takes)."""
    paths_ = [path] if not path.is_dir() else [p for p in path.rglob("*") if p.is_file()]
    total = 0
    for p in paths_:
        with contextlib.suppress(OSError):
            total += p.lstat().st_blocks * 512
    return total


def remove_path(path: Path) -> None:
    """A file or a folder, gone (missing is fine)."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def sweep_parts(folder: Path, kind: str = "*") -> list[Path]:
    """Remove ``stale_parts(folder, kind)``; returns what was removed."""
    gone = stale_parts(folder, kind)
    for p in gone:
        remove_path(p)
    return gone


def disk_full(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and exc.errno in FULL_ERRNOS


def output_error(target: Path, exc: OSError) -> str:
    """One line for a failed write of ``target``. A full disk names the output's folder
    (the place to free), whatever file the error itself named."""
    if disk_full(exc):
        try:
            free = f"; {shutil.disk_usage(target.parent).free / 2**20:.1f} MiB free there without its partial"
        except OSError:
            free = ""
        return f"{target.parent}: the disk is full, {target.name} was not written{free}"
    return f"{target}: cannot write it ({exc.strerror or exc})"


@contextlib.contextmanager
def staged(target: Path, kind: str | None = None) -> Iterator[Path]:
    """Write ``target`` whole or not at all: yields the temporary path to create (a file
    or a folder), renamed over ``target`` when the block ends; removed when it raises
    (the old ``target`` stays). Stale partials of the same ``kind`` (a glob of target
    names, by default ``*SUFFIX`` of the target) in that folder go first. An OSError
    is raised with ``target`` as its file name."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    sweep_parts(target.parent, kind or (f"*{target.suffix}" if target.suffix else target.name))
    tmp = part_path(target)
    try:
        yield tmp
        if tmp.is_dir() and target.is_dir():  # a folder replaces a folder: the old one goes first
            shutil.rmtree(target)
        os.replace(tmp, target)
    except BaseException as exc:
        remove_path(tmp)
        if isinstance(exc, OSError) and exc.filename != str(target):  # a write's error names this output
            raise OSError(exc.errno, exc.strerror, str(target)) from None
        raise


def scratch_dir(name: str, parent: Path | None = None) -> Path:
    """A fresh working folder for one run (``llmbench-NAME``, partial-named under the
    temporary folder or ``parent``): the caller removes it; a killed run's is removed by
    the next run that asks for one of the same ``name``."""
    import tempfile

    folder = Path(parent) if parent is not None else Path(tempfile.gettempdir())
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"llmbench-{name}"
    sweep_parts(folder, target.name)
    tmp = part_path(target)
    tmp.mkdir()
    return tmp


def atomic_write_text(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` in one step; raises OSError (the old file stays)."""
    with staged(path, path.name) as tmp, tmp.open("w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())


def loads_json(text: str | bytes) -> Any:
    """``json.loads``, where JSON nested too deep to parse (``[[[[…``) is a ValueError
    like any other malformed JSON, not a RecursionError."""
    try:
        return json.loads(text)
    except RecursionError:
        raise ValueError("nested too deeply") from None


def json_lines(text: str) -> Iterator[tuple[int, dict | None, str | None]]:
    """Each non-blank line of JSONL: ``(line number, object, None)``, or ``(line number,
    None, why)`` when the line is not valid JSON or not a JSON object."""
    for i, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = loads_json(line)
        except ValueError as exc:
            yield i, None, f"not valid JSON ({getattr(exc, 'msg', exc)})"
            continue
        yield (i, obj, None) if isinstance(obj, dict) else (i, None, "not a JSON object")


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

    def __init__(self, fh: BinaryIO, total: int, progress: StageCallback, stage: str):
        self.fh, self.total, self.progress, self.stage, self.done = fh, total, progress, stage, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        n = self.fh.readinto(buffer)
        self.done += n or 0
        self.progress(self.stage, self.done, self.total)
        return n


def file_sha256(path: Path, progress: StageCallback | None = None, stage: str = "verify") -> str:
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
