"""llama-bench's own formats: ``bench -o sql|json|jsonl|csv`` carry llama-bench's fields,
and llama.cpp's own ``scripts/compare-llama-bench.py`` reads a SQLite that holds a
llama-bench run and a llmbench run of the same model and set-up, and compares them."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from llmbench.engine.experiments.bench import llama_bench
from llmbench.engine.runtime.record import save_report
from llmbench.tui.cli import main
from tests.helpers import cli, one_line_error

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "llama-bench-smollm2.sql"
# the set-up llmbench's llama.cpp runs with, as llama-bench is told it (what --emit prints)
SAME_SETUP = ["-p", "32", "-n", "8", "-r", "3", "-t", "1", "-b", "512", "-ub", "512", "-fa", "1", "-ngl", "0",
              "-lm", "mmap"]  # fmt: skip


def _llama_bench_sql(llama_tools, model: Path) -> str:
    """A real llama-bench run: by the built llama-bench when there is one, else the run
    recorded in tests/fixtures (this machine's model path put in)."""
    built = llama_tools.tool("llama-bench")
    if built is not None:
        done = subprocess.run([str(built), "-m", str(model), *SAME_SETUP, "-o", "sql"], capture_output=True,
                              text=True, timeout=300)  # fmt: skip
        assert done.returncode == 0, done.stderr[-2000:]
        return done.stdout
    recorded = FIXTURE.read_text()
    return recorded.replace("/root/.cache/llmbench/demo-models/SmolLM2-135M-Instruct.Q4_1.gguf", str(model))


def _bench(capsys, model: Path, fmt: str, *more: str) -> str:
    args = ["bench", str(model), "-p", "32", "-n", "8", "-r", "2", "--warmup", "0", "-t", "1", "--no-record"]
    assert main([*args, *more, "-o", fmt]) == 0
    return capsys.readouterr().out


def test_compare_llama_bench_reads_a_llama_bench_run_beside_a_llmbench_run(demo_paths, llama_tools, tmp_path,
                                                                            capsys):  # fmt: skip
    script = llama_tools.script("compare-llama-bench.py")
    if script is None:
        pytest.skip("compare-llama-bench.py: the llama-cpp-python sdist cannot be fetched here")
    model = demo_paths["smollm2"]
    db = sqlite3.connect(tmp_path / "runs.sqlite")
    db.executescript(_llama_bench_sql(llama_tools, model))
    # llama-bench's build here is "unknown": a name as long, so that the script keeps both whole
    db.executescript(_bench(capsys, model, "sql", "--build-commit", "llmbnch"))
    db.commit()
    columns = [row[1] for row in db.execute("PRAGMA table_info(llama_bench)")]
    assert columns == list(llama_bench.FIELDS), "llama-bench's table, as llama-bench writes it"
    own = db.execute("SELECT l.avg_ts, m.test, m.load_s FROM llama_bench l JOIN llmbench m USING "
                     f"({', '.join(llama_bench.KEY)})").fetchall()  # fmt: skip
    assert [t for _, t, _ in own] == ["pp32", "tg8"] and all(ts > 0 and load > 0 for ts, _, load in own)
    done = subprocess.run([sys.executable, str(script), "-i", str(tmp_path / "runs.sqlite"), "-b", "unknown",
                           "-c", "llmbnch"], capture_output=True, text=True, cwd=tmp_path, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    lines = [line for line in done.stdout.splitlines() if line.startswith("|")]
    assert "t/s unknown" in lines[0] and "t/s llmbnch" in lines[0] and "Speedup" in lines[0]
    body = [[cell.strip() for cell in line.strip("|").split("|")] for line in lines[2:]]
    assert [row[2] for row in body] == ["pp32", "tg8"], done.stdout  # every test paired on the same set-up
    assert all(float(row[3]) > 0 and float(row[4]) > 0 and float(row[5]) > 0 for row in body)


def test_json_jsonl_and_csv_use_llama_benchs_fields_then_llmbenchs_own(demo_paths, capsys):
    model = demo_paths["smollm2"]
    rows = json.loads(_bench(capsys, model, "json"))
    assert list(rows[0])[: len(llama_bench.FIELDS)] == list(llama_bench.FIELDS)
    first = rows[0]
    assert first["build_commit"] == "llmbench" and first["backends"] == "CPU" and first["n_threads"] == 1
    assert first["model_type"].startswith("llama ") and first["model_type"].endswith("Q4_1")
    assert first["n_batch"] == 512 and first["type_k"] == "f16" and first["flash_attn"] == 1
    assert isinstance(first["avg_ns"], int) and len(first["samples_ns"]) == 2 and first["test_time"].endswith("Z")
    assert {"ttft_ms", "load_s", "peak_rss_mib", "host_busy"} <= set(first), "llmbench's own figures after"
    lines = _bench(capsys, model, "jsonl").splitlines()
    assert [json.loads(line)["test"] for line in lines] == ["pp32", "tg8"]
    table = list(csv.reader(io.StringIO(_bench(capsys, model, "csv"))))
    assert table[0][: len(llama_bench.FIELDS)] == list(llama_bench.FIELDS) and len(table) == 3


def test_an_old_bench_session_exports_to_llama_benchs_sql(demo_paths, capsys, home, tmp_path):
    """A session recorded before the set-up was kept: its rows still load, NULL where unknown."""
    result = json.loads(_bench(capsys, demo_paths["smollm2"], "json"))
    old_rows = [{k: v for k, v in r.items() if k not in {*llama_bench.FIELDS} - {
        "model_filename", "model_size", "model_n_params", "n_threads", "n_prompt", "n_gen", "n_depth", "avg_ns",
        "stddev_ns", "avg_ts", "stddev_ts"}} for r in result]  # fmt: skip
    path, why = save_report("bench", "old", {"rows": old_rows, "reps": 2, "warmup": 0, "text": "t", "partial": False},
                            "smollm2", {}, "# Bench\n", "old")  # fmt: skip
    assert why is None
    done = cli("sessions", "export", str(path), "--format", "sql", home=home)
    assert done.returncode == 0, done.stderr
    db = sqlite3.connect(":memory:")
    db.executescript(done.stdout)
    got = db.execute("SELECT n_prompt, n_gen, avg_ts, n_batch, build_commit FROM llama_bench").fetchall()
    assert [(p, g) for p, g, *_ in got] == [(32, 0), (0, 8)] and all(ts > 0 for _, _, ts, *_ in got)
    assert all(b is None and c == "llmbench" for *_, b, c in got), "unknown set-up: NULL, never a guess"
    one_line_error(cli("sessions", "export", "last", "--format", "sql", home=tmp_path / "empty"), "no session")


def test_the_backends_are_named_as_llama_bench_names_them():
    from llmbench.engine.runtime.backends.llama_handles import _backends

    assert _backends("CPU : SSE3 = 1 | AVX2 = 1 | OPENMP = 1 | REPACK = 1 | ") == "CPU"
    assert _backends("CUDA : ARCHS = 890 | USE_GRAPHS = 1 | PEER_MAX_BATCH_SIZE = 128 | CPU : AVX2 = 1 | ") == "CUDA"
