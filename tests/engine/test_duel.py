"""Duels through worker processes, on the real demo models: isolation, RAM, cancel,
crashes and recording."""

import os
import signal
import threading
import time

import pytest

from llmbench.engine.runtime.duel import Duel, default_mode
from llmbench.engine.runtime.events import Done, Error, Loaded, Prompt, Resolved, Resources, Started, Token, Verdict
from llmbench.engine.runtime.params import GenParams
from llmbench.engine.sessions import SCHEMA_VERSION, read_session
from llmbench.engine.util.cpus import usable_cpus
from tests.helpers import is_one_run_verdict

FAST = GenParams(max_tokens=24, temperature=0)
QUESTION = "Name three colours."


def collect(duel, prompt=QUESTION, on_event=None):
    events = []
    for side, event in duel.run(prompt):
        events.append((side, event))
        if on_event:
            on_event(side, event)
    return events


def of(events, side, kind):
    return [e for s, e in events if s == side and isinstance(e, kind)]


@pytest.mark.slow
def test_sequential_duel_of_the_two_demo_models(smollm2, gemma):
    with Duel(smollm2, gemma, FAST, mode="sequential") as duel:
        events = collect(duel)
        result = duel.result(events[-1][1].text).to_json()
    for side in "ab":
        assert len(of(events, side, Resolved)) == 1
        assert len(of(events, side, Loaded)) == 1
        assert len(of(events, side, Started)) == 1
        assert len(of(events, side, Done)) == 1
        assert of(events, side, Resources), "RAM is sampled during the run"
    # sequential: every token of A comes before B's first token
    order = [s for s, e in events if isinstance(e, Token)]
    assert order.index("b") > len(order) - order[::-1].index("a") - 1
    a, b = result["contestants"]
    assert a["model"].startswith("SmolLM2") and a["quant"] == "Q4_1"
    assert b["quant"] == "Q4_K_M" and "fallback" in b["note"]
    for c in (a, b):
        assert c["error"] is None and c["text"]
        assert c["gen_tokens"] > 0 and c["gen_tok_s"] > 0 and c["ttft_ms"] > 0
        assert c["load_s"] > 0 and c["total_s"] > 0
        assert 50 < c["peak_rss_mib"] < 4000, "the worker's own RSS, model included"
    assert isinstance(events[-1][1], Verdict)
    assert is_one_run_verdict(result["verdict"]), result["verdict"]


def test_concurrent_duel_with_the_same_spec_twice(smollm2):
    with Duel(smollm2, smollm2, FAST, mode="concurrent") as duel:
        events = collect(duel)
        pids = {duel.sides[s].worker.pid for s in "ab"}
        result = duel.result().to_json()
    assert len(pids) == 2 and os.getpid() not in pids, "each contestant has its own process"
    half = max(1, usable_cpus() // 2)
    for c in result["contestants"]:  # auto: half the usable CPUs each (fewer while others keep cores busy)
        assert 1 <= int(c["threads"].split("-")[-1]) <= half, c["threads"]
    a, b = result["contestants"]
    assert a["text"] == b["text"], "same model, same seed, temperature 0"
    assert is_one_run_verdict(events[-1][1].text) and f"{a['model']} (A)" in events[-1][1].text


def test_second_prompt_reuses_loaded_workers(smollm2):
    with Duel(smollm2, smollm2, FAST, mode="sequential") as duel:
        collect(duel)
        pids = [duel.sides[s].worker.pid for s in "ab"]
        second = collect(duel, "Say yes.")
        assert [duel.sides[s].worker.pid for s in "ab"] == pids
        assert not [e for _, e in second if isinstance(e, Loaded)]
        log = read_session(duel.session_path)
    prompts = [e for e in log.events if e["type"] == "prompt"]
    assert [p["run"] for p in prompts] == [1, 2]


@pytest.mark.parametrize(
    "sig, says", [(signal.SIGKILL, "killed by SIGKILL (out of memory?)"), (signal.SIGTERM, "killed by SIGTERM"),
                  (signal.SIGHUP, "killed by SIGHUP")],
)  # fmt: skip
def test_killing_one_worker_leaves_the_other_running(smollm2, sig, says):
    params = GenParams(max_tokens=200, temperature=0, ignore_eos=True)  # neither side can finish early
    killed = threading.Event()

    def kill_b(side, event):
        if side == "b" and isinstance(event, Token) and not killed.is_set():
            killed.set()
            os.kill(duel.sides["b"].worker.pid, sig)

    with Duel(smollm2, smollm2, params, mode="concurrent") as duel:
        events = collect(duel, "Write a story about a lighthouse keeper.", kill_b)
        logs = {s: duel.sides[s].worker.log_file for s in "ab"}
    assert logs["b"].exists() and not logs["a"].exists(), "a crash keeps its worker log, a clean exit does not"
    errors = of(events, "b", Error)
    assert killed.is_set() and len(errors) == 1
    assert says in errors[0].message
    assert of(events, "a", Done) and of(events, "a", Done)[0].stats.gen_tokens > 0
    assert not of(events, "a", Error)


def test_cancel_stops_both_sides_at_their_next_tokens(smollm2):
    """Neither side can finish on its own (2,000 tokens, end-of-sequence ruled out), so
    both end as cancelled, within a few tokens of the cancel by the workers' own clock
    (CLOCK_MONOTONIC, shared by all processes): a count, not a time, so a busy machine
    cannot fail it."""
    params = GenParams(max_tokens=2000, temperature=0, ignore_eos=True)
    seen: dict = {}

    with Duel(smollm2, smollm2, params, mode="concurrent") as duel:

        def cancel_when_both_stream(side, event):
            if isinstance(event, Token):
                seen.setdefault(side, event.t_ns)
                if len(seen) == 2 and "at_ns" not in seen:
                    seen["at_ns"] = time.monotonic_ns()
                    duel.cancel()

        events = collect(duel, "Write the numbers from 1 to 500, one per line.", cancel_when_both_stream)
        alive = {side: not duel.sides[side].worker.dead for side in "ab"}
    assert alive == {"a": True, "b": True}, "cancel ended the answers, not the workers"
    for side in "ab":
        done = of(events, side, Done)
        assert len(done) == 1 and done[0].finish_reason == "cancelled"
        assert done[0].stats.gen_tokens < 2000
        after = [e for s, e in events if s == side and isinstance(e, Token) and e.t_ns > seen["at_ns"]]
        assert len(after) <= 3, f"{len(after)} tokens came after the cancel"
    line = events[-1][1].text
    assert line.startswith("no verdict: ") and "(A) was cancelled; " in line and line.endswith("(B) was cancelled")


def test_a_side_cancelled_before_it_started_ends_once(smollm2):
    """Sequential: Esc lands after A's answer is in and before B begins. B ends with one
    'cancelled' Error, passed on and recorded once (not once by cancel and again by launch)."""
    params = GenParams(max_tokens=3, temperature=0, ignore_eos=True)
    with Duel(smollm2, smollm2, params, mode="sequential") as duel:
        events = collect(duel, on_event=lambda side, e: isinstance(e, Done) and side == "a" and duel.cancel())
        path = duel.session_path
    errors = of(events, "b", Error)
    assert len(errors) == 1 and errors[0].code == "cancelled" and not of(events, "b", Started)
    assert of(events, "a", Done)[0].finish_reason == "length"
    recorded = [e for e in read_session(path).events if e.get("side") == "b" and e["type"] == "error"]
    assert len(recorded) == 1
    line = events[-1][1].text
    assert line.startswith("no verdict: ") and line.endswith(" (B) was cancelled"), "A finished, but B never ran"


def test_repeats_run_interleaved_after_a_warmup_and_the_verdict_counts_them(smollm2):
    params = GenParams(max_tokens=6, temperature=0, ignore_eos=True)
    with Duel(smollm2, smollm2, params, mode="sequential", record=False) as duel:
        events = list(duel.run(QUESTION, repeat=2))
        result = duel.result(events[-1][1].text).to_json()
    rounds = [e.run for _, e in events if isinstance(e, Prompt)]
    assert rounds == [1, 2, 3], "one warmup round, then the two counted"
    starts = [side for side, e in events if isinstance(e, Started)]
    assert starts == ["a", "b", "b", "a", "a", "b"], "the sides take turns going first"
    for c in result["contestants"]:
        assert c["repeats"]["n"] == 2 and len(c["repeats"]["gen_tok_s"]["samples"]) == 2
    assert "2 runs each" in result["verdict"]
    assert [e for _, e in events if isinstance(e, Verdict)] == [events[-1][1]], "one verdict, over every repeat"


def test_bad_spec_on_one_side_does_not_stop_the_other(smollm2, tmp_path):
    not_gguf = tmp_path / "weights.gguf"
    not_gguf.write_text("not a model")
    with Duel(smollm2, str(not_gguf), FAST, mode="sequential") as duel:
        events = collect(duel)
        result = duel.result().to_json()
    b_errors = of(events, "b", Error)
    assert len(b_errors) == 1 and "weights.gguf: not a GGUF file" in b_errors[0].message
    assert "Traceback" not in b_errors[0].message
    assert of(events, "a", Done)
    assert result["contestants"][1]["error"] and result["contestants"][0]["error"] is None


def test_prompt_too_long_for_one_side(smollm2):
    long_prompt = "word " * 300
    with Duel(smollm2, smollm2, FAST, params_b=FAST.replace(n_ctx=128), mode="sequential") as duel:
        events = collect(duel, long_prompt)
    assert of(events, "a", Done)
    assert "n_ctx is 128" in of(events, "b", Error)[0].message


@pytest.mark.slow
def test_session_records_everything_as_it_happens(smollm2, gemma):
    with Duel(smollm2, gemma, FAST, mode="sequential") as duel:
        events = collect(duel)
        path = duel.session_path
    log = read_session(path)
    h = log.header
    assert h["kind"] == "duel" and h["mode"] == "sequential" and h["schema"] == SCHEMA_VERSION
    assert all(e["run"] == 1 for e in log.events)
    assert h["contestants"]["a"]["params"]["max_tokens"] == 24
    types = [e["type"] for e in log.events]
    for t in ("prompt", "model", "loaded", "started", "token", "resources", "done", "verdict"):
        assert t in types, t
    models_ = {e["side"]: e["model"] for e in log.events if e["type"] == "model"}
    assert models_["a"]["sha256"] == "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
    assert models_["b"]["sha256"].startswith("a5fd3b62") and models_["b"]["quant"] == "Q4_K_M"
    for side in "ab":
        recorded = [e for e in log.events if e["type"] == "token" and e["side"] == side]
        streamed = of(events, side, Token)
        assert [r["text"] for r in recorded] == [t.text for t in streamed]
        assert [r["t_ns"] for r in recorded] == [t.t_ns for t in streamed]
    done = [e for e in log.events if e["type"] == "done"]
    assert all(d["stats"]["peak_rss_mib"] > 0 for d in done)


def test_default_mode_follows_the_core_count():
    assert default_mode(2) == "sequential"
    assert default_mode(4) == "concurrent"


def test_a_duel_of_names_that_are_not_models_leaves_no_session(home):
    """Two bad names: each side says why, and the sessions list does not fill with
    attempts that never ran a model."""
    from llmbench.engine import paths

    with Duel("no-such-model", "/nowhere/x.gguf", GenParams(max_tokens=3)) as duel:
        events = collect(duel)
        assert duel.session_path is None and duel.result().to_json()["session"] is None
    assert len(of(events, "a", Error)) == 1 and len(of(events, "b", Error)) == 1
    assert not list(paths.sessions_dir().glob("*.jsonl"))


def test_cancel_on_a_busy_machine_keeps_a_slow_worker(smollm2, busy_core):
    """Two threads forced beside a busy loop: every token waits on the core the loop holds,
    so the answer crawls (the old rule killed a worker that took 0.6 s to stop). Cancel
    still ends the answer as cancelled, and the same worker answers the next prompt."""
    params = GenParams(max_tokens=2000, temperature=0, ignore_eos=True, threads=2)
    with Duel(smollm2, None, params) as duel:
        seen = {}

        def cancel_at_the_second_token(side, event):
            if isinstance(event, Token):
                seen["n"] = seen.get("n", 0) + 1
                if seen["n"] == 2:
                    duel.cancel()

        events = collect(duel, "Count to a thousand.", cancel_at_the_second_token)
        worker = duel.sides["a"].worker
        assert worker is not None and not worker.dead, "a slow worker was killed"
        pid = worker.pid
        (done,) = of(events, "a", Done)
        assert done.finish_reason == "cancelled" and not of(events, "a", Error)
        again = collect(duel, "Say hi.", lambda side, e: isinstance(e, Token) and duel.cancel())
        assert duel.sides["a"].worker.pid == pid and of(again, "a", Token) and of(again, "a", Done)
