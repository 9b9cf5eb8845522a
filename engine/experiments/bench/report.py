"""A bench result as llama-bench prints it: a table (terminal or Markdown), and
llama-bench's own CSV, JSON, JSONL and SQL (``llama_bench.py``)."""

from __future__ import annotations

import csv
import io
import json

from ...runtime.memory_split import buffers_text, memory_text
from ...runtime.metrics import engine_text
from ...util.cpus import HostLoad, worst
from ...util.fmt import MIB, size_text
from ...util.markdown import table
from . import llama_bench

COLUMNS = ("model", "size", "params", "backend", "threads", "test", "t/s", "TTFT", "load", "peak RAM")
FORMATS = ("table", "md", "csv", "json", "jsonl", "sql")


def _params(n: int | None) -> str:
    if not n:
        return "—"
    return f"{n / 1e9:.2f} B" if n >= 1e9 else f"{n / 1e6:.2f} M"


def ts_text(row: dict) -> str:
    n = len(row["samples_ts"])
    if row["avg_ts"] is None:
        return "—"
    busy = " (host busy)" if row.get("host_busy") else ""
    if n == 1:
        return f"{row['avg_ts']:.2f} (1 sample){busy}"
    return f"{row['avg_ts']:.2f} ± {row['stddev_ts']:.2f}{busy}"


def table_rows(result: dict) -> list[list[str]]:
    out = []
    for r in result["rows"]:
        ttft = "—" if r["ttft_ms"] is None else f"{r['ttft_ms']:.0f} ± {r['ttft_ms_std']:.0f} ms"
        if r["ttft_ms"] is not None and len(r["samples_ts"]) == 1:
            ttft = f"{r['ttft_ms']:.0f} ms (1 sample)"
        if r.get("ttfr_ms") is not None:  # a server: its first chunk of any kind, then its first content
            ttft += f" (1st chunk {r['ttfr_ms']:.0f} ms)"
        out.append([
            r["model"],
            size_text(r["model_size"]) if r["model_size"] else "—",
            _params(r["model_n_params"]),
            r["backend"] or "—",
            str(r["n_threads"] or "—"),
            r["test"],
            r["error"] if r["error"] and not r["samples_ts"] else ts_text(r),
            ttft,
            "—" if r["load_s"] is None else f"{r['load_s']:.2f} s",
            (size_text(r["peak_rss_mib"] * MIB) if r["peak_rss_mib"] else "—")
            + (f" + {size_text(r['peak_vram_mib'] * MIB)} VRAM ({r.get('vram_source')})" if r.get("peak_vram_mib") else "")
            + (f", {r['placement']}" if r.get("placement") else ""),
        ])  # fmt: skip
    return out


def reps_text(rows: list[dict]) -> str:
    """``t/s avg ± stddev of 3 repetitions`` as many as ran (a stopped run may have fewer, or
    one: then no stddev)."""
    counts = sorted({len(r["samples_ts"]) for r in rows if r["samples_ts"]})
    if not counts and any(r.get("avg_ts") is not None for r in rows):  # imported from llama-bench's SQL
        return "t/s avg ± stddev (the repetitions' count not recorded)"
    if not counts:
        return "no repetition finished"
    if counts == [1]:
        return "t/s of 1 repetition (one sample: no stddev)"
    n = f"{counts[0]}" if len(counts) == 1 else f"{counts[0]}-{counts[-1]}"
    return f"t/s avg ± stddev of {n} repetitions"


def heading(result: dict) -> str:
    if source := result.get("source"):  # imported (sessions import)
        own = " on its own tokens; no TTFT, load or RAM recorded" if source["tool"] == "llama-bench" else ""
        return (f"imported from {source['tool']} ({source['file']}, {source['format']}), build "
                f"{source.get('build_commit')}; {reps_text(result['rows'])}, as {source['tool']} measured them"
                f"{own}")  # fmt: skip
    partial = " PARTIAL: stopped early;" if result["partial"] else ""
    return (f"{result['reps']} repetitions after {result['warmup']} warmup, interleaved across models and tests;"
            f"{partial} t/s and TTFT are avg ± stddev of the repetitions, load one sample per model; "
            f"the cache filled from {result['text']}{busy_note(result['rows'])}")  # fmt: skip


def busy_note(rows: list[dict]) -> str:
    """``; host busy during 2 of 4 tests (marked): up to 0.98 of 2 CPUs used by others``."""
    busy = [r for r in rows if r.get("host_busy")]
    if not busy:
        return ""
    top = worst(HostLoad.from_dict(r.get("host")) for r in busy)
    return f"; host busy during {len(busy)} of {len(rows)} tests (marked): up to {top.text().split(': ', 1)[1]}"


def memory_lines(result: dict) -> list[str]:
    """Per model, after its runs: the RSS split, the engine's buffers, and the estimate."""
    out, seen = [], set()
    for r in result["rows"]:
        if r.get("memory") and r["spec"] not in seen:
            seen.add(r["spec"])
            buffers = buffers_text(r["memory"])
            out.append(
                f"{r['model']}: RSS {memory_text(r['memory'])}" + (f"; engine buffers: {buffers}" if buffers else "")
            )
    return out


def server_lines(result: dict) -> list[str]:
    """What each server said of its own speed, beside what llmbench measured (tg rows)."""
    out = []
    for r in result["rows"]:
        if r.get("backend") == "openai" and r["samples_ts"]:
            gen = r["avg_ts"] if r["n_gen"] and not r["n_prompt"] else None
            out.append(f"{r['model']} {r['test']}: {engine_text(r.get('engine'), gen, remote=True)}")
    return out


def markdown_report(result: dict) -> str:
    lines = ["# Bench", "", heading(result) + ".", ""]
    lines += table(COLUMNS, table_rows(result), "l" + "r" * 4 + "l" + "r" * 4)
    lines += ["", *[f"- {line}" for line in server_lines(result)]] if server_lines(result) else []
    mem = memory_lines(result)
    lines += ["", "Memory after the runs (RSS = file-backed + anonymous pages; est: Inspect's estimate):", "",
              *[f"- {line}" for line in mem]] if mem else []  # fmt: skip
    errors = {r["spec"]: r["error"] for r in result["rows"] if r["error"]}
    lines += ["", *[f"- {spec}: {why}" for spec, why in errors.items()]] if errors else []
    return "\n".join(lines) + "\n"


def summary_line(result: dict) -> str:
    """``SmolLM2 tg128 108.2 ± 2.1 t/s · ...``: the bench in the sessions list."""
    parts = [f"{r['model']} {r['test']} {ts_text(r)} t/s" for r in result["rows"] if r["avg_ts"] is not None]
    return " · ".join(parts[:4]) + (" …" if len(parts) > 4 else "")


def render(result: dict, fmt: str, build: str | None = None) -> str:
    """The result as ``-o`` asks: ``md`` (llmbench's table), or llama-bench's own
    ``csv``, ``json``, ``jsonl`` and ``sql`` (``llama_bench.py``); ``build``: the
    ``build_commit`` its rows carry (default ``llmbench``)."""
    if fmt == "md":
        return markdown_report(result)
    if fmt == "json":
        return json.dumps(llama_bench.json_rows(result, build), indent=2, ensure_ascii=False, default=str) + "\n"
    if fmt == "jsonl":
        return "".join(
            json.dumps(r, ensure_ascii=False, default=str) + "\n" for r in llama_bench.json_rows(result, build)
        )
    if fmt == "csv":
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow(llama_bench.csv_header())
        for r in result["rows"]:
            w.writerow(llama_bench.csv_row(r, result, build))
        return buf.getvalue()
    if fmt == "sql":
        return llama_bench.sql(result, build)
    raise ValueError(fmt)
