"""The Hugging Face backend on a real model: SmolLM2's GGUF loaded by transformers, full
precision and quantized at load time, in a duel against llama.cpp; its refusals."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from llmbench.engine import models
from llmbench.engine.errors import BackendUnavailable, SpecError
from llmbench.engine.runtime.duel import Duel
from llmbench.engine.runtime.events import Done, Error, Loaded, Resolved, Started, Token
from llmbench.engine.runtime.params import GenParams
from tests.helpers import cli, one_line_error

GREEDY = GenParams(temperature=0, max_tokens=24, n_ctx=512)
QUESTION = "What is the capital of France? Answer in one sentence."


def _events(duel, prompt=QUESTION):
    seen = {"a": [], "b": []}
    for side, event in duel.run(prompt):
        if side in seen:
            seen[side].append(event)
    return seen


def test_an_hf_spec_resolves_without_importing_torch(registered):
    code = (
        "import sys; from llmbench.engine import models; m = models.resolve('hf:smollm2?quant=bnb4');"
        "print(m.name, m.backend, m.quant, m.arch, m.has_chat_template, 'torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["smollm2", "hf:bnb4", "hf", "bnb4", "llama", "True", "False"]


def test_hf_specs_that_name_nothing_usable_are_one_line_errors(registered, tmp_path):
    with pytest.raises(SpecError, match="quant 'int3' is not one of"):
        models.resolve("hf:smollm2?quant=int3")
    with pytest.raises(SpecError, match="unknown option 'dtyp'"):
        models.resolve("hf:smollm2?dtyp=bf16")
    with pytest.raises(Exception, match="no such model folder or file"):
        models.resolve(f"hf:{tmp_path}/nothing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(Exception, match="config.json: missing"):
        models.resolve(f"hf:{tmp_path}/empty")


@pytest.mark.slow
def test_hf_full_precision_duels_llama_cpp_with_the_same_events_and_stats(registered):
    with Duel("smollm2", "hf:smollm2?dtype=fp32", GREEDY, record=True) as duel:
        seen = _events(duel)
        path = duel.session_path
    a, b = seen["a"], seen["b"]
    resolved = next(e for e in b if isinstance(e, Resolved))
    assert (resolved.model.backend, resolved.model.name) == ("hf", "smollm2 hf:fp32")
    loaded = next(e for e in b if isinstance(e, Loaded))
    assert "dequantized from SmolLM2-135M-Instruct.Q4_1.gguf" in loaded.note
    started = [next(e for e in side if isinstance(e, Started)) for side in (a, b)]
    assert started[0].prompt_tokens == started[1].prompt_tokens, "one chat template, one tokenizer: same prompt"
    tokens = [e for e in b if isinstance(e, Token)]
    done = next(e for e in b if isinstance(e, Done))
    assert "Paris" in done.text and done.finish_reason == "stop"
    assert "".join(t.text for t in tokens).strip() == done.text.strip()
    assert done.stats.gen_tokens == len(tokens) >= 5, "one Token event per generated token, EOS not counted"
    assert all(t1.t_ns <= t2.t_ns for t1, t2 in zip(tokens, tokens[1:]))
    s = done.stats
    assert s.load_s > 0 and s.ttft_ms > 0 and s.gen_tok_s > 0 and s.prompt_tok_s > 0
    assert s.peak_rss_mib > 400, "fp32 weights (540 MB) in the worker's own RSS"
    a_done = next(e for e in a if isinstance(e, Done))
    assert a_done.stats.peak_rss_mib < s.peak_rss_mib
    text = path.read_text()
    assert '"backend": "hf"' in text and "smollm2 hf:fp32" in text


@pytest.mark.slow
def test_cancel_stops_hf_generation_through_its_stopping_criteria(registered, busy_core):
    """The answer cannot end on its own (end-of-sequence suppressed until 400 tokens), so
    the cancel ends it within a few tokens (by the worker's own clock), the worker kept:
    with two torch threads beside a busy loop, where each token crawls (a cancel that took
    longer than 0.6 s used to kill the worker, and turned CI red)."""
    params = GenParams(temperature=0, max_tokens=400, n_ctx=1024, ignore_eos=True, threads=2)
    with Duel("hf:smollm2?dtype=fp32", None, params, record=False) as duel:
        tokens, done, t_cancel, after = 0, None, None, 0
        for _side, event in duel.run("Write a long story about a dragon and a castle."):
            if isinstance(event, Token):
                tokens += 1
                after += t_cancel is not None and event.t_ns > t_cancel
                if tokens == 3:
                    t_cancel = time.monotonic_ns()
                    duel.cancel()
            elif isinstance(event, Done):
                done = event
        worker = duel.sides["a"].worker
        assert worker is not None and not worker.dead, "cancel ended the answer, not the worker"
    assert done is not None and done.finish_reason == "cancelled"
    assert after <= 3, f"{after} tokens came after the cancel"


@pytest.mark.slow
def test_a_folder_with_pickle_weights_is_refused_and_the_other_side_answers(registered, tmp_path):
    folder = tmp_path / "pickled"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": "llama", "architectures": ["LlamaForCausalLM"]}))
    (folder / "pytorch_model.bin").write_bytes(b"not really a pickle")
    with Duel("smollm2", f"hf:{folder}", GREEDY, record=False) as duel:
        seen = _events(duel)
    error = next(e for e in seen["b"] if isinstance(e, Error))
    assert "pickle weights" in error.message and "allow_pickle=1" in error.message and str(folder) in error.message
    assert any(isinstance(e, Done) and e.text for e in seen["a"])


def _checkpoint(tmp_path, name, config):
    folder = tmp_path / name
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": "llama", **config}))
    (folder / "model.safetensors").write_bytes(b"{}")
    return folder


@pytest.mark.slow
def test_gptq_awq_and_cuda_need_a_gpu_and_say_so(tmp_path):
    from llmbench.engine.models.hf_load import check_runnable, cuda_available, parse_hf_spec

    if cuda_available():
        pytest.skip("this machine has CUDA")
    gptq = _checkpoint(tmp_path, "gptq", {"quantization_config": {"quant_method": "gptq", "bits": 4}})
    awq = _checkpoint(tmp_path, "awq", {"quantization_config": {"quant_method": "awq", "bits": 4}})
    with pytest.raises(BackendUnavailable, match="a GPTQ checkpoint runs on a CUDA GPU and this machine has none"):
        check_runnable(parse_hf_spec(f"hf:{gptq}"))
    with pytest.raises(BackendUnavailable, match="a AWQ checkpoint runs on a CUDA GPU"):
        check_runnable(parse_hf_spec(f"hf:{awq}"))
    with pytest.raises(SpecError, match="already a GPTQ checkpoint; drop quant=bnb4"):
        check_runnable(parse_hf_spec(f"hf:{gptq}?quant=bnb4"))
    plain = _checkpoint(tmp_path, "plain", {})
    with pytest.raises(BackendUnavailable, match="device_map=cuda but this machine has no CUDA GPU"):
        check_runnable(parse_hf_spec(f"hf:{plain}?device_map=cuda"))


@pytest.mark.slow
def test_remote_code_needs_the_explicit_flag(tmp_path):
    from llmbench.engine.models.hf_load import check_runnable, parse_hf_spec

    custom = _checkpoint(tmp_path, "custom", {"auto_map": {"AutoModelForCausalLM": "modeling_x.XForCausalLM"}})
    with pytest.raises(SpecError, match=r"auto_map.*only with trust_remote_code=1"):
        check_runnable(parse_hf_spec(f"hf:{custom}"))
    check_runnable(parse_hf_spec(f"hf:{custom}?trust_remote_code=1"))  # allowed when asked


@pytest.mark.slow
def test_a_quantization_library_that_is_missing_is_named(tmp_path, monkeypatch):
    import importlib.util

    from llmbench.engine.models.hf_load import check_runnable, parse_hf_spec

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "optimum" else real(name, *a))
    plain = _checkpoint(tmp_path, "plain", {})
    with pytest.raises(BackendUnavailable, match="quant=quanto-int8 needs optimum, which is not installed here"):
        check_runnable(parse_hf_spec(f"hf:{plain}?quant=quanto-int8"))


@pytest.mark.slow
def test_a_model_that_will_not_fit_is_refused_before_loading_unless_forced(home, registered, monkeypatch):
    """SmolLM2 needs ~235 MiB by the estimate, Gemma ~370 MiB: with 300 MiB free, A runs and B is refused."""
    monkeypatch.setenv("LLMBENCH_MAX_RAM", "300M")
    with Duel("smollm2", "gemma3-270m", GenParams(temperature=0, max_tokens=8), record=False) as duel:
        seen = _events(duel, "Name a colour.")
    error = next(e for e in seen["b"] if isinstance(e, Error))
    assert error.code == "memory"
    assert "gemma3-270m Q4_K_M needs about 373 MiB" in error.message
    assert "300 MiB is free (LLMBENCH_MAX_RAM)" in error.message and "--force" in error.message
    assert not any(isinstance(e, Loaded) for e in seen["b"]), "refused before a worker started"
    assert any(isinstance(e, Done) and e.text for e in seen["a"])
    with Duel("gemma3-270m", None, GenParams(temperature=0, max_tokens=4, force=True), record=False) as duel:
        seen = _events(duel, "Name a colour.")
    assert any(isinstance(e, Done) for e in seen["a"]), "--force loads it anyway"
    proc = cli(
        "duel",
        "--a",
        "smollm2",
        "--b",
        "hf:smollm2",
        "--prompt",
        "Hi",
        "--max-tokens",
        "4",
        home=home,
        env={"LLMBENCH_MAX_RAM": "300M"},
    )
    one_line_error(proc, "B:", "smollm2 hf needs about", "weights 513 MiB", "runtime 420 MiB")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr


@pytest.mark.slow
def test_hf_on_cuda_reports_torch_and_nvml_memory(registered):
    from llmbench.engine.models.hf_load import cuda_available

    if not cuda_available():
        pytest.skip("needs a CUDA GPU")
    with Duel("hf:smollm2?dtype=fp16&device_map=cuda", None, GREEDY, record=False) as duel:
        seen = _events(duel)
    done = next(e for e in seen["a"] if isinstance(e, Done))
    assert done.stats.cuda_max_alloc_mib > 200 and done.stats.peak_gpu_mib > 200
