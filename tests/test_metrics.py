"""Stats from timestamps, and the verdict line."""

import pytest

from llmbench.engine.errors import ParamError
from llmbench.engine.runtime.events import Stats
from llmbench.engine.runtime.metrics import answer_stats, format_stat, verdict
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


def test_verdict_names_the_slower_model_and_ratios():
    fast = Stats(gen_tok_s=90.0, peak_rss_mib=200)
    slow = Stats(gen_tok_s=30.0, peak_rss_mib=400)
    assert verdict("smollm2", fast, "gemma3-270m", slow) == "gemma3-270m: 3.0x slower than smollm2, 2.0x RAM"
    assert verdict("gemma3-270m", slow, "smollm2", fast) == "gemma3-270m: 3.0x slower than smollm2, 2.0x RAM"


def test_verdict_same_model_and_missing_data():
    a, b = Stats(gen_tok_s=50.0), Stats(gen_tok_s=51.0)
    assert verdict("m", a, "m", b) == "m (A) and m (B): same speed (within 5%)"
    assert verdict("a", None, "b", b) == ""
    assert "fewer than two tokens" in verdict("a", Stats(gen_tok_s=None), "b", b)


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
