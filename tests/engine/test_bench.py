"""``llmbench bench`` on the demo SmolLM2 with small tests: the plan, the statistics,
depth in the KV cache, every output format, sessions and bad input."""

from __future__ import annotations

import csv
import io
import json
import re
import sqlite3
import statistics

import pytest

from llmbench.engine.errors import BenchError
from llmbench.engine.experiments.bench.report import render
from llmbench.engine.experiments.bench.run import Bench, plan
from llmbench.engine.experiments.fidelity.run import read_text
from llmbench.engine.jobs import Finished
from llmbench.engine.runtime.speed import SpeedTest
from llmbench.engine.util.cpus import usable_cpus
from llmbench.engine.util.stats import mean_std
from llmbench.tui.cli import main


def test_the_plan_uses_llama_benchs_names_and_order():
    tests = plan([64], [16], [(64, 16)], [0, 128])
    assert [t.name for t in tests] == ["pp64", "tg16", "pp64+tg16", "pp64 @ d128", "tg16 @ d128", "pp64+tg16 @ d128"]
    assert SpeedTest(64, 16, 128).context == 208 and SpeedTest(64, 16).tokens == 80
    with pytest.raises(BenchError, match="no test to run"):
        plan([0], [0], [], [0])
    with pytest.raises(BenchError, match="none may be negative"):
        plan([-1], [16], [], [0])


def test_mean_and_stddev_are_llama_benchs():
    m, s = mean_std([100.0, 110.0, 120.0])
    assert m == 110.0 and s == pytest.approx(statistics.stdev([100.0, 110.0, 120.0]))
    assert mean_std([5.0]) == (5.0, 0.0) and mean_std([]) == (None, None)


@pytest.fixture(scope="module")
def result(demo_paths, tmp_path_factory):
    home = tmp_path_factory.mktemp("bench-text")
    text = home / "text.txt"
    text.write_text(read_text(None).content[:6000])
    spec = f"gguf:{demo_paths['smollm2']}"
    bench = Bench([spec], plan([32], [8], [], [0, 64]), read_text(text), reps=3, warmup=1, threads=2, record=False)
    events = list(bench.run())
    assert isinstance(events[-1], Finished)
    assert [e.done for e in events[:-1]] == list(range(1, 4 * 4 + 1)), "1 warmup + 3 reps, 4 tests"
    return events[-1].result.to_json()


def test_samples_match_the_reported_mean_and_stddev(result):
    rows = {r["test"]: r for r in result["rows"]}
    assert list(rows) == ["pp32", "tg8", "pp32 @ d64", "tg8 @ d64"] and not result["partial"]
    for r in rows.values():
        assert len(r["samples_ns"]) == 3 and r["error"] is None
        tokens = r["n_prompt"] + r["n_gen"]
        assert r["samples_ts"] == [pytest.approx(tokens * 1e9 / ns) for ns in r["samples_ns"]]
        assert r["avg_ts"] == pytest.approx(statistics.mean(r["samples_ts"]))
        assert r["stddev_ts"] == pytest.approx(statistics.stdev(r["samples_ts"]))
        assert r["n_threads"] == 2 and r["model_n_params"] > 100e6 and r["peak_rss_mib"] > 50
    assert rows["pp32"]["ttft_ms"] > 0 and rows["tg8"]["ttft_ms"] is None


def test_beside_a_busy_loop_auto_leaves_its_core_and_the_figure_is_marked(demo_paths, busy_core):
    """The contention guard and the thread policy on a real run: with a loop holding one CPU,
    auto runs on the others (1 thread on 2 CPUs), and the row says the host was busy."""
    text = read_text(None)
    bench = Bench([f"gguf:{demo_paths['smollm2']}"], plan([0], [64], [], [0]), text, reps=1, warmup=0, record=False)
    result = list(bench.run())[-1].result.to_json()
    (row,) = result["rows"]
    assert row["error"] is None and row["host_busy"] is True and row["host_others_cpus"] >= 0.5, row["host"]
    assert row["n_threads"] == max(1, usable_cpus() - 1)
    assert render(result, "md").count("(host busy)") == 1 and "host busy during 1 of 1 tests" in render(result, "md")


def test_depth_changes_the_kv_fill_the_engine_reports(result):
    kv = {r["test"]: r["kv_tokens"] for r in result["rows"]}
    assert kv == {"pp32": 32, "tg8": 8, "pp32 @ d64": 96, "tg8 @ d64": 72}


def test_every_output_format(result):
    md = render(result, "md")
    assert "| model | size | params | backend | threads | test | t/s |" in md and " ± " in md
    flat = list(csv.DictReader(io.StringIO(render(result, "csv"))))
    assert [r["test"] for r in flat] == ["pp32", "tg8", "pp32 @ d64", "tg8 @ d64"]
    rows = json.loads(render(result, "json"))
    assert {"avg_ts", "stddev_ts", "samples_ts", "samples_ns", "n_depth", "build", "host"} <= set(rows[0])
    assert [json.loads(line)["test"] for line in render(result, "jsonl").splitlines()] == [r["test"] for r in rows]
    db = sqlite3.connect(":memory:")
    db.executescript(render(result, "sql"))
    key = "build_commit, model_filename, n_prompt, n_gen, n_depth, test_time"
    got = db.execute(f"SELECT m.test, l.n_depth, l.avg_ts FROM llama_bench l JOIN llmbench m USING ({key}) "
                     "ORDER BY l.rowid").fetchall()  # fmt: skip
    assert [(t, d) for t, d, _ in got] == [("pp32", 0), ("tg8", 0), ("pp32 @ d64", 64), ("tg8 @ d64", 64)]
    assert all(ts > 0 for *_, ts in got)


def test_the_cli_records_a_session_and_refuses_bad_input(smollm2, tmp_path, capsys, monkeypatch):
    text = tmp_path / "t.txt"
    text.write_text(read_text(None).content[:4000])
    args = ["bench", smollm2, "-p", "16", "-n", "4", "-r", "2", "--warmup", "0", "--text", str(text)]
    assert main([*args, "-o", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["test"] for r in rows] == ["pp16", "tg4"] and all(len(r["samples_ns"]) == 2 for r in rows)
    assert main(["sessions", "list", "--kind", "bench", "--format", "json"]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 1
    cases = [
        (["-r", "0"], "-r 0: at least 1 repetition"),
        (["-d", "9000"], "a test needs 9,016 tokens of context .* over the 8,192 it was trained for"),
        (["-p", "0", "-n", "0"], "no test to run"),
    ]
    for extra, says in cases:
        assert main([*args, *extra, "--no-record"]) == 1
        out = capsys.readouterr()
        assert re.search(says, out.err + out.out), (extra, out)
    over = usable_cpus() + 1
    assert main([*args, "-t", str(over), "-r", "1", "--no-record", "-o", "csv"]) == 0
    assert f"-t {over}: {over} threads is more than the {usable_cpus()} CPU" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # argparse: exit status 2, its one-line usage error
        main([*args, "-o", "xml"])
    assert "invalid choice: 'xml'" in capsys.readouterr().err
    monkeypatch.setenv("LLMBENCH_MAX_RAM", "50M")  # the memory check, before anything loads
    assert main([*args, "--no-record"]) == 1
    out = capsys.readouterr()
    assert re.search(r"needs about \d+ MiB \(weights .*\) but 50 MiB is free \(LLMBENCH_MAX_RAM\)", out.out + out.err)
    assert main([*args, "--no-record", "--force", "-r", "1", "--warmup", "0"]) == 0, "--force loads it anyway"


@pytest.mark.slow
def test_an_hf_model_is_benched_on_its_own_cache(registered, tmp_path):
    text = tmp_path / "t.txt"
    text.write_text(read_text(None).content[:4000])
    bench = Bench(["hf:smollm2?dtype=fp32"], plan([16], [4], [], [0, 32]), read_text(text), reps=2, warmup=0,
                  threads=2, record=False)  # fmt: skip
    result = next(e for e in bench.run() if isinstance(e, Finished)).result.to_json()
    rows = {r["test"]: r for r in result["rows"]}
    assert all(r["error"] is None and len(r["samples_ts"]) == 2 for r in rows.values())
    assert {t: r["kv_tokens"] for t, r in rows.items()} == {"pp16": 16, "tg4": 4, "pp16 @ d32": 48, "tg4 @ d32": 36}
    assert rows["pp16"]["backend"] == "transformers" and rows["pp16"]["ttft_ms"] > 0


class _Streaming:
    """A server that sends a role-only chunk first (as llama-server and vLLM do), then
    up to four pieces (max_tokens), then its usage and (unless ``timings`` is off) llama-server's timings."""

    timings = True

    @classmethod
    def handler(cls):
        import http.server
        import time

        from tests.helpers import LlamaServerLike

        class Handler(LlamaServerLike):
            def do_POST(self):
                asked = json.loads(self.rfile.read(int(self.headers["Content-Length"])))["max_tokens"]
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                self._event({"choices": [{"index": 0, "delta": {"role": "assistant"}, "finish_reason": None}]})
                time.sleep(0.03)
                for piece in ("a", " b", " c", " d")[
                    :asked
                ]:  # as llama-server: max_tokens (llmbench stops there anyway)
                    self._event({"choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]})
                last = {"choices": [{"index": 0, "delta": {}, "finish_reason": "length"}],
                        "usage": {"prompt_tokens": 17, "completion_tokens": 4}}  # fmt: skip
                if cls.timings:
                    last["timings"] = {"prompt_n": 17, "prompt_ms": 20.0, "predicted_n": 4, "predicted_ms": 30.0}
                self._event(last)
                self.wfile.write(b"data: [DONE]\n\n")

        return http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)


@pytest.mark.slow
def test_an_openai_server_is_benched_with_its_first_chunk_apart_from_its_first_token(home, capsys):
    import threading

    httpd = _Streaming.handler()
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    url = f"openai:http://127.0.0.1:{httpd.server_address[1]}/v1#tiny"
    try:
        assert main(["bench", url, "-p", "16", "-n", "4", "-r", "2", "-o", "json", "--no-record"]) == 0
        pp, tg = json.loads(capsys.readouterr().out)
        _Streaming.timings = False
        assert main(["bench", url, "-p", "16", "-n", "0", "-r", "1", "--no-record", "--quiet"]) == 0
        table = capsys.readouterr().out
    finally:
        _Streaming.timings = True
        httpd.shutdown()
    assert pp["backend"] == "openai" and pp["test"] == "pp16" and len(pp["samples_ts"]) == 2
    assert pp["ttfr_ms"] < pp["ttft_ms"], "the role-only chunk comes 30 ms before the first content"
    assert pp["samples_ts"][0] == pytest.approx(17 * 1e9 / pp["samples_ns"][0]), "the server's prompt size"
    assert tg["engine"]["source"] == "llama-server" and tg["engine"]["gen_n"] == 4
    assert "server timings: none" in table and "1st chunk" in table
