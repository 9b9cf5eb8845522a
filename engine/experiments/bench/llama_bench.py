"""llama-bench's own output formats for a bench result: its field names, types and order
(``llama-bench -o json|jsonl|csv|sql`` of the llama.cpp that llama-cpp-python vendors),
so that llama.cpp's ``scripts/compare-llama-bench.py`` and a SQLite of llama-bench runs
take llmbench's rows as they take llama-bench's.

Each row carries llama-bench's fields first, with the values of the engine's set-up as
the worker reported it (``Loaded.setup``: n_batch, type_k, flash_attn, ...), then
llmbench's own figures (TTFT, load, memory split, placement, VRAM source, host busy).
In SQL the own figures go to a second table, ``llmbench``, keyed like the row, so that
llama-bench and llmbench can each append to the same database first: llama-bench's
``INSERT`` names only its columns, and llmbench's never meets a column it lacks.

A row of an engine that is not llama.cpp (transformers, a server) keeps NULL where a
llama.cpp setting means nothing there: compare-llama-bench never pairs it with a
llama-bench row.
"""

from __future__ import annotations

import json

from ...util.host import cpu_name

BUILD = "llmbench"  # the build_commit of llmbench's rows (bench --build-commit names another)

FIELDS = (
    "build_commit", "build_number", "cpu_info", "gpu_info", "backends", "model_filename", "model_type",
    "model_size", "model_n_params", "n_batch", "n_ubatch", "n_threads", "cpu_mask", "cpu_strict", "poll",
    "type_k", "type_v", "n_gpu_layers", "n_cpu_moe", "split_mode", "main_gpu", "no_kv_offload", "flash_attn",
    "devices", "tensor_split", "tensor_buft_overrides", "load_mode", "lazy_mode", "embeddings", "no_op_offload",
    "no_host", "repack", "fit_target", "fit_min_ctx", "n_prompt", "n_gen", "n_depth", "test_time", "avg_ns",
    "stddev_ns", "avg_ts", "stddev_ts",
)  # fmt: skip
INTS = {"build_number", "n_batch", "n_ubatch", "n_threads", "poll", "model_size", "model_n_params", "n_gpu_layers",
        "main_gpu", "n_prompt", "n_gen", "n_depth", "avg_ns", "stddev_ns", "no_op_offload", "n_cpu_moe", "fit_target",
        "fit_min_ctx", "flash_attn"}  # fmt: skip
BOOLS = {"no_kv_offload", "cpu_strict", "embeddings", "no_host", "repack"}
REALS = {"avg_ts", "stddev_ts"}
# what llama.cpp always runs with in llmbench (llama-cpp-python sets no thread pool,
# no CPU mask, no device list, no tensor overrides, no fitting)
FIXED = {"build_number": 0, "gpu_info": "", "cpu_mask": "0x0", "cpu_strict": False, "poll": 50, "n_cpu_moe": 0,
         "devices": "auto", "tensor_split": "0.00", "tensor_buft_overrides": "none", "fit_target": 0,
         "fit_min_ctx": 0}  # fmt: skip
# llmbench's own figures, after llama-bench's (SQL: the llmbench table)
OWN = (
    "spec", "model", "backend", "test", "threads", "ttft_ms", "ttft_ms_std", "ttfr_ms", "kv_tokens", "load_s", "peak_rss_mib",
    "peak_vram_mib", "vram_source", "placement", "mem_rss", "mem_file", "mem_anon", "mem_estimate",
    "mem_estimate_error", "host_busy", "host_others_cpus", "error", "engine", "memory",
)  # fmt: skip
KEY = ("build_commit", "model_filename", "n_prompt", "n_gen", "n_depth", "test_time")  # joins the two SQL tables


def fields_of(row: dict, result: dict, build: str | None = None) -> dict:
    """llama-bench's fields of one llmbench row, in llama-bench's order and types. A row
    of an older session lacks the set-up: those fields are NULL (None)."""
    llama = row.get("backend") == "llama.cpp"
    out = {}
    for name in FIELDS:
        value = row.get(name)
        if value is None and llama and name in FIXED:
            value = FIXED[name]
        out[name] = value
    out["build_commit"] = build or result.get("build_commit") or BUILD
    out["build_number"] = FIXED["build_number"]
    out["cpu_info"] = row.get("cpu_info") or (result.get("host") or {}).get("cpu_name") or cpu_name()
    out["gpu_info"] = row.get("gpu_info") or ""
    out["backends"] = row.get("backends") or ("CPU" if llama else row.get("backend"))
    if not isinstance(out["n_threads"], int):  # auto changed the count between runs ("1-2"): not one setting
        out["n_threads"] = None
    for name in ("avg_ns", "stddev_ns"):
        out[name] = None if out[name] is None else round(out[name])
    for name in BOOLS:
        out[name] = None if out[name] is None else bool(out[name])
    return out


def own_of(row: dict) -> dict:
    """llmbench's own fields of a row; ``threads``: the count the runs used, or ``1-2``
    when auto changed it between them (llama-bench's ``n_threads`` is then NULL)."""
    return {name: row.get("n_threads" if name == "threads" else name) for name in OWN}


def json_rows(result: dict, build: str | None = None) -> list[dict]:
    """llama-bench's JSON objects (its fields, then ``samples_ns`` and ``samples_ts``), then
    llmbench's own fields, the build's versions and the host."""
    return [{**fields_of(r, result, build), "samples_ns": [round(x) for x in r.get("samples_ns") or []],
             "samples_ts": r.get("samples_ts") or [], **own_of(r), "build": result.get("build"),
             "host": result.get("host")} for r in result["rows"]]  # fmt: skip


def csv_header() -> list[str]:
    return [*FIELDS, *OWN]


def csv_row(row: dict, result: dict, build: str | None = None) -> list:
    values = {**fields_of(row, result, build), **own_of(row)}
    return ["" if values[k] is None else int(values[k]) if isinstance(values[k], bool) else values[k]
            for k in csv_header()]  # fmt: skip


def sql(result: dict, build: str | None = None) -> str:
    """``CREATE TABLE IF NOT EXISTS llama_bench`` as llama-bench writes it and one INSERT
    per row; llmbench's own figures in the ``llmbench`` table, keyed by ``KEY``."""

    def typed(name: str) -> str:
        return "INTEGER" if name in INTS or name in BOOLS else "REAL" if name in REALS else "TEXT"

    own_types = {k: "TEXT" if k in ("spec", "model", "backend", "test", "threads", "vram_source", "placement", "error")
                 else "INTEGER" if k in ("kv_tokens", "host_busy")
                 else "TEXT" if k in ("engine", "memory")  # JSON
                 else "REAL" for k in OWN}  # fmt: skip
    out = ["CREATE TABLE IF NOT EXISTS llama_bench (", ",\n".join(f"  {k} {typed(k)}" for k in FIELDS), ");", "",
           "CREATE TABLE IF NOT EXISTS llmbench (", ",\n".join([*(f"  {k} {typed(k)}" for k in KEY),
                                                                *(f"  {k} {t}" for k, t in own_types.items())]),
           ");", ""]  # fmt: skip
    for r in result["rows"]:
        lb = fields_of(r, result, build)
        out.append(
            f"INSERT INTO llama_bench ({', '.join(FIELDS)}) VALUES ({', '.join(_value(lb[k]) for k in FIELDS)});"
        )
        own = [*(lb[k] for k in KEY), *own_of(r).values()]
        out.append(f"INSERT INTO llmbench ({', '.join([*KEY, *OWN])}) VALUES ({', '.join(map(_value, own))});")
    return "\n".join(out) + "\n"


def _value(v) -> str:
    if v is None:
        return "NULL"
    if isinstance(v, bool):
        return str(int(v))
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, (dict, list)):
        v = json.dumps(v)
    return "'" + str(v).replace("'", "''") + "'"
