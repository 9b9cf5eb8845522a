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


def test_verdict_names_the_slower_model_and_ratios_and_says_one_run_is_one_run():
    fast = [Stats(gen_tok_s=90.0, peak_rss_mib=200)]
    slow = [Stats(gen_tok_s=30.0, peak_rss_mib=400)]
    line = "gemma3-270m: 3.0x slower than smollm2 (one run each: no spread; --repeat N), 2.0x RAM"
    assert verdict(SideRuns("smollm2", fast), SideRuns("gemma3-270m", slow)) == line
    assert verdict(SideRuns("gemma3-270m", slow), SideRuns("smollm2", fast)) == line


# gen tok/s of real repeats on this machine: SmolLM2 against itself (3 runs each,
# interleaved after a warmup), and SmolLM2 against Gemma-3-270M
SMOL_A, SMOL_B = [65.2, 61.3, 69.1], [63.4, 58.5, 68.3]
GEMMA = [36.6, 38.7, 36.5]


def test_verdict_on_two_runs_of_the_same_model_says_within_noise():
    runs = lambda speeds: [Stats(gen_tok_s=v) for v in speeds]  # noqa: E731
    line = verdict(SideRuns("smollm2", runs(SMOL_A)), SideRuns("smollm2", runs(SMOL_B)))
    assert line == "smollm2 (A) and smollm2 (B): same speed within noise (±10%, 3 runs each)"


def test_verdict_states_a_ratio_only_past_the_spread():
    runs = lambda speeds: [Stats(gen_tok_s=v) for v in speeds]  # noqa: E731
    line = verdict(SideRuns("smollm2", runs(SMOL_A)), SideRuns("gemma3-270m", runs(GEMMA)))
    assert line == "gemma3-270m: 1.75x slower than smollm2 (±0.12, 3 runs each)"
    # 5 % apart but ±8 % of noise: no ratio
    assert "within noise" in verdict(SideRuns("a", runs(SMOL_A)), SideRuns("b", runs([v * 1.05 for v in SMOL_A[::-1]])))


def test_a_cancelled_or_failed_side_gets_no_verdict_and_missing_data():
    a, b = [Stats(gen_tok_s=50.0)], [Stats(gen_tok_s=10.0)]
    assert verdict(SideRuns("a", a), SideRuns("b", b, "was cancelled")) == "no verdict: b was cancelled"
    assert verdict(SideRuns("a", [], "failed"), SideRuns("b", b)) == "no verdict: a failed"
    assert "fewer than two tokens" in verdict(SideRuns("a", [Stats(gen_tok_s=None)]), SideRuns("b", b))
    assert verdict(SideRuns("m", a), SideRuns("m", [Stats(gen_tok_s=51.0)])).startswith(
        "m (A) and m (B): same speed within 5% (one run each)"
    )


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
