"""The llama.cpp backend in this process, on the real demo models."""

import threading

import pytest

from llmbench.engine import models
from llmbench.engine.runtime.backends.llama_cpp import LlamaCppBackend
from llmbench.engine.runtime.events import Done, Error, Loaded, Started, Token
from llmbench.engine.runtime.params import GenParams

ASK = [{"role": "user", "content": "What is the capital of France? One sentence."}]


@pytest.fixture(scope="module")
def smol(demo_paths):
    backend = LlamaCppBackend(models.resolve(f"gguf:{demo_paths['smollm2']}"), GenParams(threads=2))
    loaded = backend.load()
    yield backend, loaded
    backend.close()


def run(backend, params, messages=ASK, cancel=None):
    return list(backend.generate(messages, params, cancel or threading.Event()))


def test_loads_with_its_own_chat_template(smol):
    backend, loaded = smol
    assert isinstance(loaded, Loaded) and loaded.note is None and loaded.n_ctx == 2048
    prompt, _ = backend.render(ASK, raw=False)
    assert "<|im_start|>user\nWhat is the capital of France?" in prompt
    assert prompt.rstrip().endswith("<|im_start|>assistant")


def test_event_order_timestamps_and_stats(smol):
    backend, _ = smol
    events = run(backend, GenParams(max_tokens=24, temperature=0))
    assert isinstance(events[0], Started) and events[0].prompt_tokens > 10
    assert isinstance(events[-1], Done)
    tokens = [e for e in events if isinstance(e, Token)]
    assert 1 <= len(tokens) <= 24
    times = [t.t_ns for t in tokens]
    assert times == sorted(times) and times[0] > events[0].t_ns
    done = events[-1]
    assert done.stats.gen_tokens == len(tokens)
    assert done.stats.prompt_tokens == events[0].prompt_tokens
    assert "Paris" in done.text
    assert done.text == "".join(t.text for t in tokens).strip() or done.text in "".join(t.text for t in tokens)
    assert done.finish_reason in ("stop", "length")
    assert done.stats.ttft_ms > 0 and done.stats.total_s > 0


def test_max_tokens_is_a_hard_limit(smol):
    backend, _ = smol
    events = run(
        backend,
        GenParams(max_tokens=3, temperature=0, ignore_eos=True),
        [{"role": "user", "content": "Write a long poem about the sea."}],
    )
    assert events[-1].stats.gen_tokens == 3 and events[-1].finish_reason == "length"


def test_ignore_eos_generates_exactly_max_tokens(smol):
    """A question SmolLM2 answers in 7 tokens (greedy: "The capital of France is Paris.")
    runs to max_tokens when end-of-sequence is ruled out, as llama-bench's tg tests do."""
    backend, _ = smol
    ask = ASK
    short = run(backend, GenParams(max_tokens=40, temperature=0), ask)[-1]
    assert short.finish_reason == "stop" and short.stats.gen_tokens < 40
    full = run(backend, GenParams(max_tokens=40, temperature=0, ignore_eos=True), ask)
    tokens = [e for e in full if isinstance(e, Token)]
    assert full[-1].finish_reason == "length" and full[-1].stats.gen_tokens == len(tokens) == 40
    assert "<|im_end|>" not in full[-1].text


def test_same_seed_same_answer(smol):
    backend, _ = smol
    params = GenParams(max_tokens=16, temperature=1.0, seed=7)
    first = run(backend, params)[-1].text
    assert run(backend, params)[-1].text == first
    other = [run(backend, params.replace(seed=s))[-1].text for s in (8, 9, 10)]
    assert any(o != first for o in other)


def test_prompt_longer_than_n_ctx(demo_paths):
    backend = LlamaCppBackend(models.resolve(f"gguf:{demo_paths['smollm2']}"), GenParams(n_ctx=64))
    backend.load()
    events = run(backend, GenParams(n_ctx=64), [{"role": "user", "content": "word " * 200}])
    assert len(events) == 1 and isinstance(events[0], Error)
    assert events[0].code == "prompt_too_long"
    assert "n_ctx is 64" in events[0].message and "tokens" in events[0].message
    backend.close()


def test_cancel_before_the_first_token(smol):
    backend, _ = smol
    cancel = threading.Event()
    cancel.set()
    events = run(backend, GenParams(max_tokens=50), cancel=cancel)
    assert events[-1].finish_reason == "cancelled" and events[-1].stats.gen_tokens == 0


@pytest.mark.slow
def test_base_model_gets_the_fallback_template_and_raw_mode(demo_paths):
    backend = LlamaCppBackend(models.resolve("gguf:" + str(demo_paths["gemma3-270m"])), GenParams(threads=2))
    loaded = backend.load()
    assert "no chat template" in loaded.note and "gemma fallback" in loaded.note
    prompt, add_bos = backend.render(ASK, raw=False)
    assert prompt.startswith("<bos><start_of_turn>user\n") and prompt.endswith("<start_of_turn>model\n")
    assert add_bos is False  # the template already wrote <bos>
    raw_prompt, raw_bos = backend.render([{"role": "user", "content": "The capital of France is"}], raw=True)
    assert raw_prompt == "The capital of France is" and raw_bos is True
    raw = run(
        backend,
        GenParams(max_tokens=8, temperature=0, raw=True, ignore_eos=True),
        [{"role": "user", "content": "The capital of France is"}],
    )
    chat = run(
        backend, GenParams(max_tokens=8, temperature=0), [{"role": "user", "content": "The capital of France is"}]
    )
    assert raw[0].prompt_tokens == 6  # <bos> and five words: no template around them
    assert chat[0].prompt_tokens > raw[0].prompt_tokens + 5
    assert isinstance(raw[-1], Done) and raw[-1].stats.gen_tokens == 8 and raw[-1].text.strip()
    backend.close()


def test_unloadable_file_is_one_line_naming_it(tmp_path):
    from llmbench.engine.errors import ModelFileError
    from tests.helpers import write_gguf

    path = write_gguf(tmp_path / "tiny.gguf")  # valid GGUF, but no real model inside
    backend = LlamaCppBackend(models.resolve(f"gguf:{path}"), GenParams())
    with pytest.raises(ModelFileError, match=r"tiny\.gguf: llama\.cpp could not load it"):
        backend.load()
    odd = write_gguf(tmp_path / "odd.gguf", arch="nosucharch")  # the cause was only in the worker's log
    with pytest.raises(ModelFileError, match="could not load it: error loading model: unknown model architecture"):
        LlamaCppBackend(models.resolve(f"gguf:{odd}"), GenParams()).load()


def _reference_chain(backend, params):
    """llama.cpp's own chain on the whole vocabulary, as its tools build it:
    penalties → greedy, or penalties → top-k → top-p → min-p → temp → dist(seed)."""
    import llama_cpp

    from llmbench.engine.runtime.backends.llama_sampling import MIN_P, PENALTY_LAST_N

    n_vocab = backend.llm.n_vocab()
    chain = llama_cpp.llama_sampler_chain_init(llama_cpp.llama_sampler_chain_default_params())
    samplers = [llama_cpp.llama_sampler_init_penalties(n_vocab, PENALTY_LAST_N, params.repeat_penalty, 0.0, 0.0)]
    if params.temperature <= 0:
        samplers.append(llama_cpp.llama_sampler_init_greedy())
    else:
        samplers += [
            llama_cpp.llama_sampler_init_top_k(params.top_k),
            llama_cpp.llama_sampler_init_top_p(params.top_p, 1),
            llama_cpp.llama_sampler_init_min_p(MIN_P, 1),
            llama_cpp.llama_sampler_init_temp(params.temperature),
            llama_cpp.llama_sampler_init_dist(params.seed),
        ]
    for s in samplers:
        llama_cpp.llama_sampler_chain_add(chain, s)
    return chain


@pytest.mark.parametrize("temperature", [0.0, 0.8])
def test_the_fast_pickers_pick_what_llama_cpps_chain_picks(smol, temperature):
    """Greedy (argmax on a view) and sampled (top-k in numpy, then llama.cpp's chain over
    the k) choose, step by step, the token llama.cpp's full-vocabulary chain chooses."""
    import llama_cpp

    from llmbench.engine.runtime.backends.llama_sampling import picker_for

    backend, _ = smol
    params = GenParams(temperature=temperature, repeat_penalty=1.3, seed=7)
    llm, ctx = backend.llm, backend.llm._ctx.ctx
    ref = _reference_chain(backend, params)
    ours = picker_for(llm._model.vocab, llm.n_vocab(), params)
    tokens = backend.tokenize(ASK, raw=False)
    llm._ctx.kv_cache_clear()
    backend._decode(tokens, 0)
    picked = []
    try:
        for pos in range(len(tokens), len(tokens) + 40):
            expected = llama_cpp.llama_sampler_sample(ref, ctx, -1)  # first: ours edits the logits in place
            got = ours.sample(ctx)
            assert got == expected, f"step {len(picked)}: {got} != llama.cpp's {expected}"
            picked.append(got)
            backend._decode((got,), pos)
    finally:
        llama_cpp.llama_sampler_free(ref)
        ours.close()
    assert len(set(picked)) > 5  # a real walk through the text, penalties in play


def test_engine_timings_come_with_the_answer(smol):
    backend, _ = smol
    done = run(backend, GenParams(max_tokens=16, temperature=0, ignore_eos=True))[-1]
    engine = done.stats.engine
    assert engine["source"] == "llama.cpp"
    assert engine["prompt_n"] == done.stats.prompt_tokens
    assert engine["gen_n"] == done.stats.gen_tokens - 1  # the last token is sampled, never decoded
    assert engine["gen_ms"] > 0 and engine["prompt_ms"] > 0
