"""The collection of sessions: the user's folder and the shipped samples, finding a
session by name, and the names and tags given later (a sidecar; the log itself is
never rewritten)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .. import paths
from ..errors import SessionError
from ..runtime.record import SUFFIX, slug
from ..util.files import atomic_write_text, loads_json


def samples_dir() -> Path | None:
    """The recorded sample sessions shipped with llmbench (the repository's ``sessions/``)."""
    override = os.environ.get("LLMBENCH_SAMPLES")
    folder = Path(override) if override else paths.package_data("samples")
    return folder if folder is not None and folder.is_dir() and any(folder.glob(f"*{SUFFIX}")) else None


def _meta_path(path: Path) -> Path:
    return path.with_name(path.name.removesuffix(SUFFIX) + ".meta.json")


def read_meta(path: Path) -> dict[str, Any]:
    """The name and tags given to a session after it was recorded ({} when none)."""
    try:
        data = loads_json(_meta_path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def is_sample(path: Path) -> bool:
    samples = samples_dir()
    return samples is not None and path.resolve().parent == samples.resolve()


def _own(path: Path, action: str) -> None:
    if is_sample(path):
        raise SessionError(
            f"{path.name}: a sample shipped with llmbench cannot be {action}; export or re-run it instead"
        )


def write_meta(path: Path, *, title: str | None = None, tags: Iterable[str] | None = None) -> dict[str, Any]:
    """Rename or tag a session: written atomically beside it, the log is untouched."""
    _own(path, "renamed or tagged")
    meta = read_meta(path)
    if title is not None:
        title = " ".join(title.split())
        if not title:
            raise SessionError("a session name cannot be empty")
        meta["title"] = title[:200]
    if tags is not None:
        clean = sorted({slug(t, 30) for t in tags if t.strip()})
        meta["tags"] = clean
    target = _meta_path(path)
    try:
        atomic_write_text(target, json.dumps(meta, ensure_ascii=False, indent=1))
    except OSError as exc:
        raise SessionError(f"{target}: cannot save the name or tags ({exc.strerror})") from None
    return meta


def remove(path: Path) -> None:
    """Delete a session (and its sidecar). Only files in the sessions folder."""
    _own(path, "deleted")
    folder = paths.sessions_dir().resolve()
    if path.resolve().parent != folder:
        raise SessionError(f"{path}: not in the sessions folder ({folder}); not deleted")
    try:
        path.unlink()
    except FileNotFoundError:
        raise SessionError(f"{path}: no such session file") from None
    except OSError as exc:
        raise SessionError(f"{path}: cannot delete it ({exc.strerror})") from None
    _meta_path(path).unlink(missing_ok=True)


def session_files(include_samples: bool = True) -> list[Path]:
    """Session files, newest first: the user's, then the samples."""
    found: list[Path] = []
    folder = paths.sessions_dir()
    try:
        found += sorted(folder.glob(f"*{SUFFIX}"), key=lambda p: p.name, reverse=True)
    except OSError:
        pass
    samples = samples_dir() if include_samples else None
    if samples is not None:
        found += sorted(samples.glob(f"*{SUFFIX}"), key=lambda p: p.name, reverse=True)
    return found


def find(ref: str) -> Path:
    """A session by path, file name, or unique prefix of its name (``last`` is the newest)."""
    ref = ref.strip()
    if not ref:
        raise SessionError("name a session: its file, its name, a prefix of it, or 'last'")
    candidate = Path(ref).expanduser()
    if ref.endswith(SUFFIX) and (candidate.is_file() or os.sep in ref):
        if not candidate.exists():
            raise SessionError(f"{candidate}: no such session file")
        return candidate
    files = session_files()
    if ref == "last":
        own = session_files(include_samples=False)
        if not own:
            raise SessionError(f"no sessions recorded yet in {paths.sessions_dir()}")
        return own[0]
    if os.sep in ref or ref.startswith("."):
        raise SessionError(f"{ref}: not a session name (names have no path separators)")
    stem = ref.removesuffix(SUFFIX)
    exact = [f for f in files if f.name.removesuffix(SUFFIX) == stem]
    if exact:
        return exact[0]
    matches = [f for f in files if f.name.startswith(stem) or stem in f.name]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise SessionError(f"{ref}: no session with that name in {paths.sessions_dir()} (llmbench sessions list)")
    names = ", ".join(m.name for m in matches[:4])
    raise SessionError(
        f"{ref}: {len(matches)} sessions match ({names}{', …' if len(matches) > 4 else ''}); give more of the name"
    )
