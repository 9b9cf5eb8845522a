"""Stats from timestamps, and the verdict line."""

import pytest

from llmbench.engine.errors import ParamError
from llmbench.engine.runtime.events import Stats
from llmbench.engine.runtime.metrics import SideRuns, answer_stats, format_stat, spread_text, summarize_runs, verdict
from llmbench.engine.runtime.params import GenParams

MS = 1_000_000


def test_answer_stats_definitions():
    # request at 0; first token at 200 ms; then 9 more, 10 ms apart; done at 400 ms
    times = [200 * MS + i * 10 * MS for i in range(10)]
    s = answer_stats(0, 50, times, 400 * MS, load_s=0.5)
    assert s.ttft_ms == pytest.approx(200)
    assert s.prompt_tok_s == pytest.approx(250)  # 50 tokens in 0.2 s
    assert s.gen_tokens == 10
    assert s.gen_tok_s == pytest.approx(100)  # 9 intervals in 90 ms
    assert s.total_s == pytest.approx(0.4)
    assert s.load_s == 0.5


def test_answer_stats_with_one_or_no_token():
    one = answer_stats(0, 5, [100 * MS], 120 * MS)
    assert one.gen_tokens == 1 and one.gen_tok_s is None and one.ttft_ms == pytest.approx(100)
    none = answer_stats(0, 5, [], 50 * MS)
    assert none.gen_tokens == 0 and none.ttft_ms is None and none.prompt_tok_s is None


def test_one_run_each_states_no_ratio_and_says_why():
    fast = [Stats(gen_tok_s=90.0, peak_rss_mib=200)]
    slow = [Stats(gen_tok_s=30.0, peak_rss_mib=400)]
    line = verdict(SideRuns("smollm2", fast), SideRuns("gemma3-270m", slow))
    assert line == (
        "one run each, no interval: smollm2 90.0 vs gemma3-270m 30.0 tok/s (--repeat 3 or more for a verdict), "
        "gemma3-270m 2.0x RAM"
    )
    assert "slower" not in line


# gen tok/s of real repeats on this machine: SmolLM2 against itself (3 runs each,
# interleaved after a warmup), and SmolLM2 against Gemma-3-270M
SMOL_A, SMOL_B = [65.2, 61.3, 69.1], [63.4, 58.5, 68.3]
GEMMA = [36.6, 38.7, 36.5]
runs = lambda speeds: [Stats(gen_tok_s=v) for v in speeds]  # noqa: E731


def test_the_two_run_case_of_the_issue_cannot_tell():
    """A at 2.74 and 25.59 tok/s, B at 1.47 and 2.09: the old rule printed '7.96x slower (±9.28)'."""
    line = verdict(SideRuns("smollm2", runs([2.74, 25.59])), SideRuns("gemma-3-270m-q4_k_m", runs([1.47, 2.09])))
    assert line.startswith("cannot tell which is faster: smollm2 14.2 vs gemma-3-270m-q4_k_m 1.8 tok/s (A/B 95% CI 0.")
    assert line.endswith(", 2 runs each; more runs narrow it)") and "slower" not in line


def test_a_ratio_comes_with_an_interval_that_excludes_one():
    line = verdict(SideRuns("smollm2", runs(SMOL_A)), SideRuns("gemma3-270m", runs(GEMMA)))
    assert line == "gemma3-270m: 1.75x slower than smollm2 (95% CI 1.55-1.98x, 3 runs each)"
    five_fast, five_slow = [80.0, 84.0, 78.0, 82.0, 81.0], [40.0, 41.5, 39.0, 42.0, 40.5]
    line = verdict(SideRuns("fast", runs(five_fast)), SideRuns("slow", runs(five_slow)))
    assert line.startswith("slow: 2.00x slower than fast (95% CI 1.91-2.08x") and "5 runs each" in line


def test_two_runs_of_one_model_are_not_called_different():
    line = verdict(SideRuns("smollm2", runs(SMOL_A)), SideRuns("smollm2", runs(SMOL_B)))
    assert line.startswith("cannot tell which is faster: smollm2 (A) 65.2 vs smollm2 (B) 63.4 tok/s (A/B 95% CI 0.")
    same = verdict(SideRuns("m", runs([50.0] * 4)), SideRuns("m", runs([50.0] * 4)))
    assert same == "m (A) and m (B): same speed within 5% (95% CI 1.00-1.00x, 4 runs each)"


def test_a_busy_host_on_one_side_only_gets_no_verdict_and_on_both_is_said():
    busy = {"others_cpus": 0.9, "cpus": 2, "usable": 2, "steal_cpus": 0.0, "window_s": 3.0}
    quiet = {**busy, "others_cpus": 0.05}
    fast = [Stats(gen_tok_s=v, host=quiet) for v in (80.0, 82.0, 81.0)]
    slow = [Stats(gen_tok_s=v, host=busy) for v in (20.0, 21.0, 19.0)]
    line = verdict(SideRuns("a", fast), SideRuns("b", slow))
    assert line == "no verdict: b ran on a busy host (host busy: 0.90 of 2 CPUs used by others), a on a quiet one"
    both = verdict(SideRuns("a", [s.replace(host=busy) for s in fast]), SideRuns("b", slow))
    assert both.startswith("b: 4.05x slower than a") and both.endswith("host busy: 0.90 of 2 CPUs used by others")


def test_a_cancelled_or_failed_side_gets_no_verdict_and_missing_data():
    a, b = [Stats(gen_tok_s=50.0)], [Stats(gen_tok_s=10.0)]
    assert verdict(SideRuns("a", a), SideRuns("b", b, "was cancelled")) == "no verdict: b was cancelled"
    assert verdict(SideRuns("a", [], "failed"), SideRuns("b", b)) == "no verdict: a failed"
    assert "fewer than two tokens" in verdict(SideRuns("a", [Stats(gen_tok_s=None)]), SideRuns("b", b))


def test_repeats_summarize_as_mean_and_sample_stddev():
    s = summarize_runs([Stats(gen_tok_s=70.0, ttft_ms=100.0), Stats(gen_tok_s=72.5, ttft_ms=120.0)])
    assert s["n"] == 2 and s["gen_tok_s"]["samples"] == [70.0, 72.5]
    assert s["gen_tok_s"]["std"] == pytest.approx(1.7678, abs=1e-4)
    assert spread_text("gen_tok_s", s) == "71.2 ± 1.8 tok/s" and spread_text("ttft_ms", s) == "110 ± 14 ms"
    assert spread_text("gen_tok_s", summarize_runs([Stats(gen_tok_s=70.0)])) is None


def test_format_stat():
    assert format_stat("ttft_ms", 12.34) == "12 ms"
    assert format_stat("gen_tok_s", 88.88) == "88.9 tok/s"
    assert format_stat("peak_rss_mib", None) == "—"


@pytest.mark.parametrize(
    "change, message",
    [
        ({"n_ctx": 0}, "n_ctx must be a positive number of tokens, got 0"),
        ({"max_tokens": -5}, "max_tokens must be at least 1, got -5"),
        ({"top_p": 1.5}, "top_p must be in"),
        ({"temperature": -1}, "temperature must be 0 or more"),
        ({"threads": 0}, "threads must be at least 1"),
        ({"n_gpu_layers": -2}, "n_gpu_layers must be -1"),
    ],
)
def test_params_validation_messages(change, message):
    with pytest.raises(ParamError, match=message):
        GenParams(**change).validate()


def test_params_round_trip():
    p = GenParams(max_tokens=7, raw=True)
    assert GenParams.from_dict({**p.to_dict(), "unknown": 1}) == p


def test_engine_timings_beside_the_wall_clock_flag_a_gap_over_ten_percent():
    from llmbench.engine.runtime.metrics import engine_from_server, engine_text

    engine = {"source": "llama.cpp", "prompt_ms": 200.0, "prompt_n": 40, "gen_ms": 1000.0, "gen_n": 100}
    assert engine_text(engine, 95.0) == "gen 100.0 · prompt 200 tok/s (llama.cpp)"  # 5 %: within
    flagged = engine_text(engine, 80.0)
    assert "⚠ measured 20% slower: time outside decode (sampling, Python, pipe)" in flagged
    assert engine_text(None, 80.0, remote=True) == "server timings: none"
    assert engine_from_server({"usage": {"completion_tokens": 3}}) is None
    ollama = engine_from_server({"ollama": {"eval_count": 50, "eval_duration": 500_000_000}})
    assert ollama["gen_n"] == 50 and ollama["gen_ms"] == 500.0
    assert "⚠ measured 50% slower: time outside decode (network, streaming)" in engine_text(ollama, 50.0, True)


def test_samples_note_says_one_sample_or_the_spread_and_which_rows_stay_one_sample():
    from llmbench.engine.runtime.metrics import samples_note

    assert samples_note([{"n": 1}, None]).startswith("one run each: every figure is one sample")
    many = samples_note([{"n": 3}, {"n": 3}])
    assert "stddev over 3 runs" in many and "last run's (one sample)" in many


def test_llama_servers_cache_hits_and_draft_acceptance_are_read_beside_its_speed():
    from llmbench.engine.runtime.metrics import engine_from_server, engine_text

    server = {"usage": {"prompt_tokens": 40, "completion_tokens": 20},
              "timings": {"prompt_n": 8, "prompt_ms": 10.0, "predicted_n": 20, "predicted_ms": 200.0, "cache_n": 32,
                          "draft_n": 16, "draft_n_accepted": 12}}  # fmt: skip
    engine = engine_from_server(server)
    assert engine == {"source": "llama-server", "prompt_ms": 10.0, "prompt_n": 8, "gen_ms": 200.0, "gen_n": 20,
                      "cache_n": 32, "draft_n": 16, "draft_n_accepted": 12}  # fmt: skip
    text = engine_text(engine, 100.0, remote=True)
    assert (
        text
        == "gen 100.0 · prompt 800 tok/s · 32 prompt tok from its cache · draft 12/16 accepted (75%) (llama-server)"
    )
    assert engine_text(engine_from_server({"usage": {"prompt_tokens": 5}}), 9.0, remote=True) == "server timings: none"


@pytest.mark.parametrize(
    ("timings", "says"),
    [
        ({"prompt_n": 8, "prompt_ms": -1.0}, "prompt_ms -1.0 is negative"),
        ({"prompt_n": 900, "prompt_ms": 5.0}, "prompt_n 900 is more than the prompt's 40 tokens"),
        ({"draft_n": 4, "draft_n_accepted": 9}, "draft_n_accepted 9 is more than draft_n 4"),
    ],
)
def test_timings_that_cannot_be_true_are_left_out_and_said(timings, says):
    from llmbench.engine.runtime.metrics import engine_from_server, engine_rates, engine_text

    server = {"usage": {"prompt_tokens": 40}, "timings": {"predicted_n": 20, "predicted_ms": 200.0, **timings}}
    engine = engine_from_server(server)
    assert engine_rates(engine) == (None, None), "no figure of them is used"
    assert engine_text(engine, 100.0, remote=True) == f"server timings left out: {says} (llama-server)"
