"""``sessions import FILE``: llama-bench's own results (``-o json``, ``-o jsonl``, ``-o sql``,
or a SQLite that holds its ``llama_bench`` table) as bench sessions, one per build in
the file, keeping the tool, the build and the host (CPU, GPU, backends). Their rows
are llmbench's bench rows (``run.py``), so ``sessions compare`` and the reports take
them like llmbench's own; what llama-bench does not record (TTFT, load, RAM; in SQL the
single samples and so their count) stays empty, never guessed.

A file that is not such a result is one line naming it and what is wrong; so is a row
with an absurd figure (a negative or non-finite t/s, a test with no tokens).
"""

from __future__ import annotations

import math
import sqlite3
from pathlib import Path

from ...errors import SessionError
from ...runtime.speed import SpeedTest
from ...util.files import json_lines, loads_json
from .llama_bench import FIELDS, KEY

OWN_KEY = "_llmbench"  # a row's own figures, when llmbench wrote it (its llmbench table)

MAX_BYTES = 64 * 2**20  # a llama-bench result of a thousand runs is well under 1 MiB
NEEDED = ("model_filename", "n_prompt", "n_gen", "avg_ts")
TOOL = "llama-bench"


def read_rows(path: Path) -> tuple[list[dict], str]:
    """llama-bench's rows of ``path`` and the format they were read from."""
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise SessionError(
                f"{path}: {size / 2**20:.0f} MiB, more than a llama-bench result ({MAX_BYTES >> 20} MiB)"
            )
        head = path.read_bytes()[:16]
    except FileNotFoundError:
        raise SessionError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise SessionError(f"{path}: a folder, not a llama-bench result") from None
    except OSError as exc:
        raise SessionError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    if head.startswith(b"SQLite format 3"):
        return _from_db(path, sqlite3.connect(f"file:{path}?mode=ro", uri=True)), "sqlite"
    text = path.read_text(encoding="utf-8", errors="replace")
    stripped = text.lstrip()
    if stripped.startswith("["):
        return _from_json(path, text), "json"
    if stripped.startswith("{"):
        return _from_jsonl(path, text), "jsonl"
    if path.suffix.lower() == ".sql" or stripped.upper().startswith(("CREATE", "INSERT", "BEGIN", "PRAGMA")):
        db = sqlite3.connect(":memory:")
        db.set_authorizer(_no_attach)  # a script may only build tables in memory: no ATTACH of a file
        try:
            db.executescript(text)
        except sqlite3.Error as exc:
            raise SessionError(f"{path}: not SQL that sqlite3 runs ({exc})") from None
        return _from_db(path, db), "sql"
    raise SessionError(f"{path}: not a llama-bench result (its -o json, jsonl or sql, or a SQLite of them)")


def _no_attach(action: int, *_args) -> int:
    return sqlite3.SQLITE_DENY if action in (sqlite3.SQLITE_ATTACH, sqlite3.SQLITE_DETACH) else sqlite3.SQLITE_OK


def _from_json(path: Path, text: str) -> list[dict]:
    try:
        data = loads_json(text)
    except ValueError as exc:
        raise SessionError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
        raise SessionError(f"{path}: not llama-bench's JSON (a list of objects, one per test)")
    return data


def _from_jsonl(path: Path, text: str) -> list[dict]:
    rows = []
    for i, row, why in json_lines(text):
        if why:
            raise SessionError(f"{path}: line {i} is {why}")
        rows.append(row)
    return rows


def _from_db(path: Path, db: sqlite3.Connection) -> list[dict]:
    try:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        if "llama_bench" not in tables:
            raise SessionError(f"{path}: no llama_bench table (it has {', '.join(tables) or 'no table'})")
        rows = _table(db, "llama_bench")
        if "llmbench" in tables:  # written by llmbench's -o sql: its own figures, by the row's key
            own = {tuple(str(r.get(k)) for k in KEY): r for r in _table(db, "llmbench")}
            for r in rows:
                if (mine := own.get(tuple(str(r.get(k)) for k in KEY))) is not None:
                    r[OWN_KEY] = mine
        return rows
    except sqlite3.Error as exc:
        raise SessionError(f"{path}: not a SQLite that can be read ({exc})") from None
    finally:
        db.close()


def _table(db: sqlite3.Connection, name: str) -> list[dict]:
    cursor = db.execute(f"SELECT * FROM {name} ORDER BY rowid")
    names = [c[0] for c in cursor.description]
    return [dict(zip(names, row)) for row in cursor]


def bench_row(raw: dict, path: Path, index: int) -> dict:
    """One llama-bench row as a llmbench bench row (its own fields kept as they are)."""
    missing = [k for k in NEEDED if raw.get(k) is None]
    if missing:
        raise SessionError(f"{path}: row {index} lacks llama-bench's {', '.join(missing)}: not a llama-bench result")
    try:
        test = SpeedTest(_count(raw, "n_prompt"), _count(raw, "n_gen"), _count(raw, "n_depth", 0))
        avg, std = float(raw["avg_ts"]), float(raw.get("stddev_ts") or 0.0)
    except (TypeError, ValueError) as exc:
        raise SessionError(f"{path}: row {index}: {exc}") from None
    if test.tokens == 0:
        raise SessionError(f"{path}: row {index}: a test of no tokens (n_prompt and n_gen 0)")
    if not (math.isfinite(avg) and avg > 0 and math.isfinite(std) and std >= 0):
        raise SessionError(f"{path}: row {index}: t/s {raw['avg_ts']} ± {raw.get('stddev_ts')} is not a speed")
    samples_ts = [float(x) for x in raw.get("samples_ts") or [] if isinstance(x, (int, float))]
    samples_ns = [float(x) for x in raw.get("samples_ns") or [] if isinstance(x, (int, float))]
    name = Path(str(raw["model_filename"])).name
    own = raw.get(OWN_KEY) or {}
    return {
        **{k: raw.get(k) for k in FIELDS},
        "spec": str(raw["model_filename"]),
        "model": name[:-5] if name.endswith(".gguf") else name,
        "backend": "llama.cpp",
        "test": test.name,
        "n_prompt": test.n_prompt,
        "n_gen": test.n_gen,
        "n_depth": test.depth,
        "avg_ts": avg,
        "stddev_ts": std,
        "samples_ts": samples_ts,
        "samples_ns": samples_ns,
        **{
            k: own.get(k)
            for k in (
                "ttft_ms",
                "ttft_ms_std",
                "ttfr_ms",
                "kv_tokens",
                "load_s",
                "peak_rss_mib",
                "peak_vram_mib",
                "vram_source",
                "placement",
                "mem_rss",
                "mem_file",
                "mem_anon",
                "mem_estimate",
                "mem_estimate_error",
                "host_busy",
                "host_others_cpus",
                "error",
            )
        },  # fmt: skip
        **{k: _json(own.get(k)) for k in ("engine", "memory")},
        "host": None,
        "tool": "llmbench" if own else TOOL,
    }


def _json(value):
    """A JSON column of the llmbench table, as it was written."""
    if isinstance(value, str):
        try:
            return loads_json(value)
        except ValueError:
            return None
    return value


def _count(raw: dict, key: str, default: int | None = None) -> int:
    value = raw.get(key, default)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():  # llama-bench's SQL quotes every value
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0 or value > 10**8:
        raise ValueError(f"{key} {value!r} is not a count of tokens")
    return value


def results(path: Path) -> list[dict]:
    """One bench result per build in the file, as ``BenchResult.to_json`` has it, with
    ``source``: the tool, the file and its format."""
    raw, fmt = read_rows(path)
    if not raw:
        raise SessionError(f"{path}: no llama-bench rows in it")
    by_build: dict[tuple[str, str], list[dict]] = {}
    for i, r in enumerate(raw, 1):
        row = bench_row(r, path, i)
        by_build.setdefault((row["tool"], str(r.get("build_commit") or "unknown")), []).append(row)
    out = []
    for (tool, build), rows in by_build.items():
        counts = sorted({len(r["samples_ts"]) for r in rows})
        first = rows[0]
        out.append({
            "tests": list(dict.fromkeys(r["test"] for r in rows)),
            "reps": counts[0] if len(counts) == 1 and counts[0] else None,  # SQL keeps no samples: unknown
            "warmup": None,
            "text": "llama-bench's own tokens",
            "n_ctx": None,
            "rows": rows,
            "runs": None,
            "runs_total": None,
            "partial": False,
            "elapsed_s": None,
            "build": {tool: build, "build_number": first.get("build_number")},
            "host": {"processor": first.get("cpu_info"), "cpu_name": first.get("cpu_info"),
                     "gpu_info": first.get("gpu_info") or None, "backends": first.get("backends")},  # fmt: skip
            "source": {"tool": tool, "file": str(path), "format": fmt, "build_commit": build},
            "build_commit": build,
        })  # fmt: skip
    return out


def import_file(path: str | Path) -> list[tuple[Path, dict]]:
    """The file's results saved as bench sessions: each session's path and its result."""
    from ...runtime.record import save_report
    from .report import markdown_report, summary_line

    path = Path(path).expanduser()
    saved = []
    for result in results(path):
        title = f"{result['source']['tool']} {result['build_commit']}: " + ", ".join(
            dict.fromkeys(r["model"] for r in result["rows"])
        )
        session, why = save_report("bench", title, result, result["rows"][0]["spec"], {}, markdown_report(result),
                                   summary_line(result), host=result["host"])  # fmt: skip
        if session is None:
            raise SessionError(why)
        saved.append((session, result))
    return saved


def describe(result: dict) -> str:
    """``llama-bench build 3f4fc97 (JSON): 4 rows, Intel(R) Xeon(R) …``: one line of an import."""
    return (f"{result['source']['tool']} build {result['build_commit']} ({result['source']['format']}): {len(result['rows'])} rows, "
            f"{result['host'].get('cpu_name') or '?'}, backends {result['host'].get('backends') or '?'}")  # fmt: skip
