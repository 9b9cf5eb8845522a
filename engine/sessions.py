"""Sessions: an append-only JSONL event log per run, written as it happens.

Each line is one JSON object with a ``type``. The first line is the header
(``type: "session"``) with the schema version and the kind: ``duel``, ``chat``,
``rag-duel``, ``eval`` or ``inspect``. Every line is flushed when written and the
file is fsynced after each finished answer, so a crash leaves a readable file
whose last line at worst is cut short; ``read_session`` tolerates that, and skips
(and reports) any other damaged line rather than refusing the whole file.

Older files are brought up to date on read by ``MIGRATIONS``, an ordered list of
functions, one per schema step. A name or tags given later live in a small
sidecar (``NAME.meta.json``) so the log itself is never rewritten. Nothing that
looks like an API key or token is ever written (``redact``).
"""

from __future__ import annotations

import json
import os
import platform
import re
import secrets
import sys
import time
from dataclasses import asdict, dataclass, field, is_dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

from . import __version__, paths
from .errors import SessionError

SCHEMA_VERSION = 2
SUFFIX = ".jsonl"
KINDS = ("duel", "chat", "rag-duel", "eval", "inspect")


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


# ---------------------------------------------------------------- secrets

REDACTED = "[redacted]"
_SECRET_KEY = re.compile(
    r"^(api[_-]?key|.*[_-]api[_-]?key|.*[_-]?access[_-]?token|auth[_-]?token|hf[_-]?token|token|secret|.*[_-]secret"
    r"|password|passwd|authorization|cookie|bearer)$",
    re.I,
)
_SECRET_TEXT = [  # (pattern, replacement)
    (re.compile(r"\bsk-[A-Za-z0-9_\-]{16,}"), REDACTED),  # OpenAI-style keys
    (re.compile(r"\bhf_[A-Za-z0-9]{20,}"), REDACTED),  # Hugging Face tokens
    (re.compile(r"\bgh[pousr]_[A-Za-z0-9]{20,}"), REDACTED),  # GitHub tokens
    (re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9._\-]{8,}"), r"\g<1>" + REDACTED),
    (re.compile(r"(?i)([?&](?:api[_-]?key|key|token|access_token|auth)=)[^&\s#]+"), r"\g<1>" + REDACTED),
    (re.compile(r"(://[^/\s:@]+:)[^@\s/]+(@)"), r"\g<1>" + REDACTED + r"\g<2>"),  # user:password@host
]
_SECRET_ENV = re.compile(r"(KEY|TOKEN|SECRET|PASSWORD)", re.I)


def _env_secrets() -> list[str]:
    return [v for k, v in os.environ.items() if _SECRET_ENV.search(k) and len(v) >= 8]


def redact_text(text: str, env: Iterable[str] = ()) -> str:
    for value in env:
        if value in text:
            text = text.replace(value, REDACTED)
    for pattern, replacement in _SECRET_TEXT:
        text = pattern.sub(replacement, text)
    return text


def redact(value: Any, env: Iterable[str] | None = None) -> Any:
    """The value with secrets replaced: keys named like credentials, strings that look
    like API keys or tokens, URL credentials, and the values of secret environment variables."""
    env = list(_env_secrets() if env is None else env)
    if isinstance(value, dict):
        return {k: (REDACTED if isinstance(k, str) and _SECRET_KEY.match(k) and v not in (None, "")
                    else redact(v, env)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact(v, env) for v in value]
    if isinstance(value, str):
        return redact_text(value, env)
    return value


def to_record(obj: Any) -> Any:
    if is_dataclass(obj):
        return asdict(obj)
    return obj


# ---------------------------------------------------------------- writing

# Records a model writes many of: not scanned for secrets (they are its own output).
_BULK = {"token", "resources"}


class SessionWriter:
    """Writes one session file. Never overwrites: names are unique and opened with 'x'.

    After the first ``prompt`` record every line carries the ``run`` it belongs to."""

    def __init__(self, kind: str, title: str, meta: dict[str, Any], directory: Path | None = None):
        directory = directory or paths.sessions_dir()
        try:
            paths.ensure(directory)
        except OSError as exc:
            raise SessionError(f"{directory}: cannot create the sessions folder ({exc.strerror})") from None
        stamp = time.strftime("%Y%m%d-%H%M%S")
        self._env = _env_secrets()
        title = redact_text(title, self._env)
        self.run = 0
        for _ in range(5):
            name = f"{stamp}-{slug(kind, 12)}-{slug(title)}-{secrets.token_hex(3)}{SUFFIX}"
            self.path = directory / name
            try:
                self._fh = open(self.path, "x", encoding="utf-8")
                break
            except FileExistsError:
                continue
            except OSError as exc:
                raise SessionError(f"{self.path}: cannot write the session ({exc.strerror})") from None
        else:
            raise SessionError(f"{directory}: no free session name")
        self.write(
            "session",
            schema=SCHEMA_VERSION,
            kind=kind,
            title=title,
            created=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            clock="monotonic_ns",
            llmbench=__version__,
            host=host_info(),
            **meta,
        )
        self.sync()

    def write(self, type_: str, **fields: Any) -> None:
        if self._fh.closed:
            return
        if type_ == "prompt":
            self.run = fields.get("run") or self.run + 1
        record = {"type": type_, **{k: to_record(v) for k, v in fields.items()}}
        if self.run and "run" not in record:
            record["run"] = self.run
        if type_ not in _BULK:
            record = redact(record, self._env)
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


def save_snapshot(kind: str, title: str, record: dict[str, Any], meta: dict[str, Any]) -> Path:
    """A one-record session: an inspection (``inspect``) as it was at this moment."""
    w = SessionWriter(kind, title, meta)
    try:
        w.write(kind, **record)
    finally:
        w.close()
    return w.path


# ---------------------------------------------------------------- reading


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
            obj = json.loads(line)
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
        warnings.append(f"{p}: schema version {version} is newer than this llmbench understands "
                        f"({SCHEMA_VERSION}); showing what it can read — upgrade llmbench for the rest")
    body = events[1:]
    migrate(header, body)
    return SessionLog(p, header, body, warnings)


# ---------------------------------------------------------------- the collection of sessions


def samples_dir() -> Path | None:
    """The recorded sample sessions shipped with llmbench (the repository's ``sessions/``)."""
    override = os.environ.get("LLMBENCH_SAMPLES")
    candidates = [Path(override)] if override else [
        Path(__file__).resolve().parent.parent / "sessions",
        Path(sys.prefix) / "share" / "llmbench" / "sessions",
    ]
    return next((c for c in candidates if c.is_dir() and any(c.glob(f"*{SUFFIX}"))), None)


def _meta_path(path: Path) -> Path:
    return path.with_name(path.name.removesuffix(SUFFIX) + ".meta.json")


def read_meta(path: Path) -> dict[str, Any]:
    """The name and tags given to a session after it was recorded ({} when none)."""
    try:
        data = json.loads(_meta_path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def is_sample(path: Path) -> bool:
    samples = samples_dir()
    return samples is not None and path.resolve().parent == samples.resolve()


def _own(path: Path, action: str) -> None:
    if is_sample(path):
        raise SessionError(f"{path.name}: a sample shipped with llmbench cannot be {action}; "
                           f"export or re-run it instead")


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
    tmp = target.with_name(f".{target.name}.{secrets.token_hex(3)}.tmp")
    try:
        tmp.write_text(json.dumps(meta, ensure_ascii=False, indent=1), encoding="utf-8")
        os.replace(tmp, target)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
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
    raise SessionError(f"{ref}: {len(matches)} sessions match ({names}{', …' if len(matches) > 4 else ''}); "
                       f"give more of the name")
