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


FIXTURES = FIXTURE.parent


def _imported(home, *files: Path) -> list[dict]:
    done = cli("sessions", "import", *map(str, files), home=home)
    assert done.returncode == 0, done.stderr
    listed = cli("sessions", "list", "--kind", "bench", "--no-samples", "--format", "json", home=home)
    return json.loads(listed.stdout)


def test_llama_benchs_json_jsonl_sql_and_sqlite_import_as_bench_sessions(home, tmp_path):
    db = sqlite3.connect(tmp_path / "runs.sqlite")
    db.executescript((FIXTURES / "llama-bench-smollm2.sql").read_text())
    db.commit()
    (from_json,) = _imported(home, FIXTURES / "llama-bench-smollm2.json")
    sessions = _imported(home, FIXTURES / "llama-bench-smollm2.jsonl", FIXTURES / "llama-bench-smollm2.sql",
                         tmp_path / "runs.sqlite")  # fmt: skip
    assert len(sessions) == 4
    from_sql = next(s for s in sessions if s["id"] != from_json["id"] and "sql" in _shown(home, s))
    raw = json.loads((FIXTURES / "llama-bench-smollm2.json").read_text())
    shown = _shown(home, from_json)
    assert "imported from llama-bench" in shown and "build unknown" in shown and "of 3 repetitions" in shown
    assert f"{raw[0]['avg_ts']:.2f} ± {raw[0]['stddev_ts']:.2f}" in shown and "| pp32 |" in shown
    assert raw[0]["cpu_info"] in shown, "the host it ran on, not this one"
    # the JSON keeps every sample: compare gives an interval; SQL keeps none, and says so
    jsonl = next(s for s in sessions if "jsonl)" in _shown(home, s))
    done = cli("sessions", "compare", from_json["id"], jsonl["id"], "--format", "json", home=home)
    changes = json.loads(done.stdout)["changes"]
    assert [c["what"].split()[-1] for c in changes] == ["pp32", "tg8"] and changes[0]["a_n"] == 3
    assert all(c["ratio_ci95"] is not None for c in changes), "3 samples a side: an interval"
    done = cli("sessions", "compare", from_json["id"], from_sql["id"], "--format", "json", home=home)
    changes = json.loads(done.stdout)["changes"]
    assert all(c["b_n"] == 0 and c["verdict"] == "the samples' count not recorded: no interval" for c in changes)


def _shown(home, session: dict) -> str:
    return cli("sessions", "show", session["id"], home=home).stdout


def test_a_llmbench_sql_imports_with_its_own_figures(demo_paths, home, tmp_path, capsys):
    db = sqlite3.connect(tmp_path / "mine.sqlite")
    db.executescript(_bench(capsys, demo_paths["smollm2"], "sql"))
    db.commit()
    (session,) = _imported(home, tmp_path / "mine.sqlite")
    shown = cli("sessions", "show", session["id"], home=home).stdout
    assert "imported from llmbench" in shown and " ms |" in shown, "its TTFT came with it"


@pytest.mark.parametrize(
    ("name", "content", "says"),
    [
        ("notes.txt", "hello", "not a llama-bench result"),
        ("empty.json", "[]", "no llama-bench rows"),
        ("rows.json", '[{"model_filename": "m.gguf", "n_prompt": 8}]', "lacks llama-bench's n_gen, avg_ts"),
        ("neg.jsonl", '{"model_filename": "m", "n_prompt": 8, "n_gen": 0, "avg_ts": -3}', "is not a speed"),
        ("nan.json", '[{"model_filename": "m", "n_prompt": 8, "n_gen": 0, "avg_ts": NaN}]', "is not a speed"),
        ("zero.json", '[{"model_filename": "m", "n_prompt": 0, "n_gen": 0, "avg_ts": 3}]', "a test of no tokens"),
        ("count.json", '[{"model_filename": "m", "n_prompt": -8, "n_gen": 0, "avg_ts": 3}]', "not a count of tokens"),
        ("bad.json", "[{", "not valid JSON"),
        ("other.sql", "CREATE TABLE test (a INTEGER);", "no llama_bench table (it has test)"),
        ("attach.sql", "CREATE TABLE llama_bench (a); ATTACH DATABASE 'x.db' AS x;", "not SQL that sqlite3 runs"),
        ("syntax.sql", "SELEC 1;", "not SQL that sqlite3 runs"),
    ],
)
def test_bad_files_are_one_line_and_import_nothing(home, tmp_path, name, content, says):
    path = tmp_path / name
    path.write_text(content)
    one_line_error(cli("sessions", "import", str(path), home=home), name, says)
    assert not list(tmp_path.glob("x.db")), "an imported script writes no file"
    assert not (home / "sessions").is_dir() or not list((home / "sessions").glob("*.jsonl"))


def test_a_sqlite_without_the_table_is_named(home, tmp_path):
    db = sqlite3.connect(tmp_path / "other.sqlite")
    db.execute("CREATE TABLE test_backend_ops (op_name TEXT)")
    db.commit()
    one_line_error(cli("sessions", "import", str(tmp_path / "other.sqlite"), home=home),
                   "other.sqlite: no llama_bench table (it has test_backend_ops)")  # fmt: skip


def test_emit_prints_the_same_measurement_for_llama_bench_vllm_and_guidellm(demo_paths, capsys, llama_tools):
    model = str(demo_paths["smollm2"])
    args = ["bench", model, "hf:/nowhere", "openai:http://127.0.0.1:9/v1#smol", "-p", "32", "-n", "8", "-r", "3",
            "-t", "1"]  # fmt: skip
    assert main([*args, "--emit", "llama-bench"]) == 0
    out = capsys.readouterr().out.splitlines()
    (cmd,) = [line for line in out if line.startswith("llama-bench ")]
    assert f"-m {model} -p 32 -n 8 -d 0 -r 3 -b 512 -ub 512 -fa 1 -lm mmap -ngl 0 -t 1" in cmd
    assert any("hf:/nowhere" in line and line.startswith("#") for line in out), "a model it cannot run: said"
    assert any("openai:" in line and "not one" in line for line in out)
    assert main([*args, "--emit", "vllm", "-d", "0,64"]) == 0
    out = capsys.readouterr().out.splitlines()
    vllm = [line for line in out if line.startswith("vllm bench serve")]
    assert any("--base-url http://127.0.0.1:9 --model smol" in line and "--random-input-len 32 --random-output-len 1"
               in line and "--num-prompts 3 --max-concurrency 1 --ignore-eos" in line for line in vllm)  # fmt: skip
    assert any(line.startswith("# -d 0,64: vllm sets no cache depth") for line in out)
    assert main([*args, "--emit", "guidellm"]) == 0
    out = capsys.readouterr().out
    assert "guidellm benchmark --target http://127.0.0.1:9 --model smol --data prompt_tokens=16,output_tokens=8" in out
    # the llama-bench command runs as printed, and what it writes imports back
    built = llama_tools.tool("llama-bench")
    if built is not None:
        done = subprocess.run(cmd.replace("llama-bench ", f"{built} ", 1).split(" > ")[0].split(), capture_output=True,
                              text=True, timeout=300)  # fmt: skip
        assert done.returncode == 0, done.stderr[-2000:]
        assert [r["n_prompt"] for r in json.loads(done.stdout)] == [32, 0]
