"""The OpenAI-compatible backend against llama-cpp-python's own server, started here on
127.0.0.1 with SmolLM2: streaming, the API key, and the server's faults."""

from __future__ import annotations

import http.server
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from llmbench.engine.errors import SpecError
from llmbench.engine.runtime.duel import Duel
from llmbench.engine.runtime.events import Done, Error, Started, Token
from llmbench.engine.runtime.metrics import engine_text, server_text
from llmbench.engine.runtime.params import GenParams
from tests.helpers import LlamaServerLike, cli, one_line_error

KEY = "sk-test-4f1c9e2d7a"
PARAMS = GenParams(temperature=0, max_tokens=16, n_ctx=512)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_server(model_path, key: str | None = KEY):
    port = _free_port()
    cmd = [
        sys.executable,
        "-m",
        "llama_cpp.server",
        "--model",
        str(model_path),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--n_ctx",
        "1024",
        "--n_threads",
        "1",
    ]
    if key:
        cmd += ["--api_key", key]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            req = urllib.request.Request(url + "/models", headers={"Authorization": f"Bearer {key}"})
            urllib.request.urlopen(req, timeout=2).close()
            return proc, url
        except OSError:
            if proc.poll() is not None:
                pytest.fail("llama_cpp.server exited at start")
            time.sleep(0.3)
    proc.kill()
    pytest.fail("llama_cpp.server did not start within 90 s")


def _stop(proc) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(5)


@pytest.fixture(scope="module")
def server(demo_paths):
    proc, url = _start_server(demo_paths["smollm2"])
    yield url
    _stop(proc)


def _run(duel, prompt="What is the capital of France? Answer in one sentence."):
    seen = {"a": [], "b": []}
    for side, event in duel.run(prompt):
        if side in seen:
            seen[side].append(event)
    return seen


def _done(events):
    return next((e for e in events if isinstance(e, Done)), None)


def _error(events):
    return next((e for e in events if isinstance(e, Error)), None)


def test_remote_specs_are_checked(registered):
    from llmbench.engine import models

    m = models.resolve("openai:http://127.0.0.1:8080/v1#llama-3?strict=1")
    assert (m.backend, m.name, m.path, m.quant) == (
        "openai",
        "llama-3@127.0.0.1:8080",
        "http://127.0.0.1:8080/v1",
        "remote",
    )
    for bad, why in (
        ("openai:localhost:8080#m", "expected openai:http://HOST:PORT/v1#MODEL"),
        ("openai:http://h/v1#m?temp=1", "unknown option 'temp'"),
        ("openai:http://h/v1#m?timeout=soon", "timeout must be a number"),
    ):
        with pytest.raises(SpecError, match=why):
            models.resolve(bad)


@pytest.mark.slow
def test_a_served_model_duels_a_local_one_and_its_key_never_reaches_the_session(server, registered, monkeypatch):
    monkeypatch.setenv("LLMBENCH_API_KEY", KEY)
    with Duel(f"openai:{server}#smollm2", "smollm2", PARAMS) as duel:
        seen = _run(duel)
        path = duel.session_path
    a, b = seen["a"], seen["b"]
    assert next(e for e in a if isinstance(e, Started)).prompt_tokens is None, "the client has no tokenizer"
    tokens = [e for e in a if isinstance(e, Token)]
    done = _done(a)
    assert done is not None and "Paris" in done.text
    assert done.text == "".join(t.text for t in tokens) and done.stats.gen_tokens == len(tokens) >= 5
    assert done.stats.ttft_ms > 0 and done.stats.gen_tok_s > 0, "measured on the client"
    assert done.stats.peak_rss_mib is None, "the worker is only the client; the model's RAM is the server's"
    assert _done(b).text == done.text, "same GGUF, greedy: the server and the local worker agree"
    text = path.read_text()
    assert KEY not in text and f"openai:{server}#smollm2" in text


@pytest.mark.slow
def test_a_missing_or_wrong_key_is_a_401_with_advice(server, registered, monkeypatch):
    with Duel(f"openai:{server}#smollm2", "smollm2", PARAMS, record=False) as duel:
        seen = _run(duel)
    err = _error(seen["a"])
    assert err.message == (
        f"{server}/models: 401 Unauthorized (the server wants an API key: set LLMBENCH_API_KEY or OPENAI_API_KEY)"
    )
    assert len([e for e in seen["a"] if isinstance(e, Error)]) == 1
    assert _done(seen["b"]).text, "the other contestant answers"
    monkeypatch.setenv("OPENAI_API_KEY", "sk-wrong")
    with Duel(f"openai:{server}", None, PARAMS, record=False) as duel:
        seen = _run(duel)
    assert "401 Unauthorized (the key was refused)" in _error(seen["a"]).message


@pytest.mark.slow
def test_an_unreachable_server_is_one_line_and_the_other_side_answers(registered, home):
    port = _free_port()
    proc = cli(
        "duel",
        "--a",
        f"openai:http://127.0.0.1:{port}/v1#m",
        "--b",
        "smollm2",
        "--prompt",
        "Hi",
        "--max-tokens",
        "8",
        "--format",
        "json",
        home=home,
    )
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    a, b = json.loads(proc.stdout)["contestants"]
    assert a["error"] == f"http://127.0.0.1:{port}/v1: server unreachable ([Errno 111] Connection refused)"
    assert b["text"] and not b["error"]


@pytest.mark.slow
def test_a_server_that_dies_mid_answer_ends_that_side_only(demo_paths, registered, monkeypatch):
    proc, url = _start_server(demo_paths["smollm2"], key=None)
    try:
        params = GenParams(temperature=0, max_tokens=300, n_ctx=1024)
        with Duel(f"openai:{url}", "smollm2", params, record=False) as duel:
            seen = {"a": [], "b": []}
            for side, event in duel.run("Write a long story about a lighthouse keeper."):
                if side in seen:
                    seen[side].append(event)
                if side == "a" and sum(isinstance(e, Token) for e in seen["a"]) == 3:
                    _stop(proc)
    finally:
        _stop(proc)
    err = _error(seen["a"])
    assert err is not None and err.code == "remote", seen["a"][-3:]
    assert url in err.message and (
        "broke off the answer after" in err.message or "closed the stream after" in err.message
    )
    assert _done(seen["a"]) is None
    assert _done(seen["b"]) is not None and _done(seen["b"]).text, "the local contestant still answers"


@pytest.mark.slow
def test_what_the_server_reports_itself_is_kept_beside_the_client_figures(home):
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), LlamaServerLike)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    try:
        args = (
            "duel",
            "--a",
            f"openai:{url}",
            "--b",
            f"openai:{url}#tiny?strict=1",
            "--prompt",
            "Capital?",
            "--max-tokens",
            "8",
        )
        table = cli(*args, home=home)
        proc = cli(*args, "--format", "json", home=home)
    finally:
        httpd.shutdown()
    assert table.returncode == 0, table.stderr
    assert "note (A): the server's model: tiny" in table.stderr
    assert "Paris is the capital." in table.stdout and "server says" in table.stdout
    a, b = json.loads(proc.stdout)["contestants"]
    assert a["server"]["timings"]["predicted_per_second"] == 95.25 and a["server"]["usage"]["completion_tokens"] == 4
    assert a["prompt_tokens"] == 21, "the server's usage gives the prompt's size"
    assert server_text(a["server"]) == "21 prompt + 4 generated tok"
    assert a["engine"] == {"source": "llama-server", "prompt_ms": 25.85, "prompt_n": 21, "gen_ms": 42.0,
                           "gen_n": 4, "cache_n": 5, "draft_n": 8, "draft_n_accepted": 6}  # fmt: skip
    assert "engine says" in table.stdout and "gen 95.2 · prompt 812 tok/s" in table.stdout
    said = engine_text(a["engine"], a["gen_tok_s"], remote=True)
    assert "5 prompt tok from its cache · draft 6/8 accepted (75%)" in said and "(llama-server)" in said, said
    assert a["ttfr_ms"] <= a["ttft_ms"] and "first response" in table.stdout
    assert "top_k" not in LlamaServerLike.last_body, "strict=1 sends only OpenAI's own fields"


@pytest.mark.slow
def test_llama_cpp_pythons_server_is_refused_as_a_fidelity_candidate(server, smollm2, tmp_path, monkeypatch):
    """Its echoed alternatives are for the token after each one (checked here by hand:
    the alternatives listed at " capital" were " of", " city"): llmbench says so."""
    from llmbench.engine.experiments.fidelity.run import Fidelity, read_text
    from llmbench.engine.jobs import Finished

    monkeypatch.setenv("LLMBENCH_API_KEY", KEY)
    path = tmp_path / "text.txt"
    path.write_text(read_text(None).content[:8_000])
    fid = Fidelity(smollm2, [f"openai:{server}#m"], read_text(path), ctx=96, chunks=2, record=False)
    (c,) = next(e for e in fid.run() if isinstance(e, Finished)).result.candidates
    assert "top logprobs are one position early" in c["error"] and "llama-cpp-python" in c["error"]


@pytest.mark.slow
def test_a_server_under_load_at_concurrency_1_2_4(server, registered, capsys, monkeypatch):
    """llama-cpp-python's server at 1, 2 and 4 requests at once: every request counted,
    none lost, each spread's p99 at or above its median, and the session recorded."""
    from llmbench.tui.cli import main

    monkeypatch.setenv("LLMBENCH_API_KEY", KEY)

    args = ["bench", f"openai:{server}", "--concurrency", "1,2,4", "-p", "32", "-n", "6", "--requests", "4"]
    assert main([*args, "-o", "json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert [lv["concurrency"] for lv in result["levels"]] == [1, 2, 4] and not result["partial"]
    for lv in result["levels"]:
        assert lv["requests"] == 4 and lv["ok"] + lv["failed"] == 4 and lv["failed"] == 0, lv
        assert lv["output_tokens"] >= 4 and lv["total_tok_s"] > 0
        assert lv["ttft_ms"]["n"] == 4 and lv["ttft_ms"]["p99"] >= lv["ttft_ms"]["median"] > 0
        assert lv["itl_ms"]["n"] == 0 or lv["itl_ms"]["p99"] >= lv["itl_ms"]["median"] > 0
    assert result["session"] and Path(result["session"]).is_file()


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--concurrency", "0"], "--concurrency 0: from 1 to 256"),
        (["--concurrency", "10000"], "--concurrency 10000: from 1 to 256"),
        (["--concurrency", "2", "--requests", "0"], "--requests 0: from 1 to 10,000"),
        (["--concurrency", "2", "-o", "sql"], "-o sql: a load test prints table, md or json"),
    ],
)
def test_bad_load_settings_are_one_line(args, says, home):
    one_line_error(cli("bench", "openai:http://127.0.0.1:9/v1#m", *args, home=home), says)


def test_an_hf_model_is_not_loaded_as_a_server(registered, home):
    one_line_error(cli("bench", "hf:smollm2", "--concurrency", "2", home=home), "--concurrency loads a server")


@pytest.mark.slow
def test_a_gguf_is_served_for_its_load_test_and_the_server_ends_with_it(registered, demo_paths, capsys):
    import psutil

    from llmbench.tui.cli import main

    def servers() -> set[int]:
        return {p.pid for p in psutil.Process().children(recursive=True) if "llama_cpp.server" in " ".join(p.cmdline())}

    before = servers()  # (this module's own server may be running)
    args = ["bench", str(demo_paths["smollm2"]), "--concurrency", "1,2", "-p", "16", "-n", "4", "--requests", "2",
            "-t", "1", "--no-record", "-o", "json"]  # fmt: skip
    assert main(args) == 0
    result = json.loads(capsys.readouterr().out)
    assert [(lv["concurrency"], lv["ok"]) for lv in result["levels"]] == [(1, 2), (2, 2)]
    assert result["model"].startswith("SmolLM2") and result["spec"] == str(demo_paths["smollm2"])
    assert servers() - before == set(), "the server it started is gone"
