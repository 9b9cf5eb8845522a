"""Inspect from real modules: a tiny HF model the tests create, loaded plain and quantized
by bitsandbytes, quanto and torchao on this CPU; configs built on the meta device; SmolLM2
in its HF form; LoRA adapters (PEFT and GGUF)."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmbench.engine.errors import ModelFileError, SpecError
from llmbench.engine.inspect import AdapterSummary, inspect_source
from llmbench.engine.inspect.memory import hf_weights_bytes
from llmbench.engine.inspect.modules import tree_lines
from tests.helpers import FIXTURES, write_gguf_lora

pytestmark = pytest.mark.slow  # the Hugging Face stack (torch, transformers, quantizers)

pytest.importorskip("transformers")

CONFIGS = FIXTURES / "configs"
TINY = dict(
    vocab_size=512,
    hidden_size=128,
    intermediate_size=256,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    max_position_embeddings=256,
    tie_word_embeddings=True,
)


@pytest.fixture(scope="session")
def tiny_hf(tmp_path_factory) -> Path:
    """A real (random-weight) Llama-architecture model saved as safetensors."""
    import torch
    from transformers import AutoModelForCausalLM, LlamaConfig

    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("tiny-llama")
    AutoModelForCausalLM.from_config(LlamaConfig(**TINY)).save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def smollm2_hf(demo_paths) -> Path:
    """SmolLM2's GGUF dequantized by transformers, converted once into the user's cache."""
    from llmbench.engine.models.hf_load import gguf_as_hf_folder

    return gguf_as_hf_folder(demo_paths["smollm2"])


def test_plain_load_agrees_with_the_config_reader(tiny_hf):
    loaded = inspect_source(f"hf:{tiny_hf}")
    from_config = inspect_source(str(tiny_hf))
    assert loaded.source_kind == "hf-loaded" and from_config.source_kind == "hf-folder"
    assert loaded.params_total == from_config.params_total == 361_088
    assert loaded.linear_modules == {"Linear": 15}  # 7 per layer x 2 + lm_head
    assert loaded.quantized_share == 0 and loaded.quantization is None
    assert round(loaded.bits_per_weight) == 32  # saved and loaded in fp32
    k = {p.name: p for p in loaded.projections}["k_proj"]
    assert (k.in_features, k.out_features, k.cls, k.quant) == (128, 64, "Linear", None)


@pytest.mark.parametrize(
    "quant, cls, label, bits",
    [
        ("bnb8", "Linear8bitLt", "bnb int8", 8),
        ("bnb4", "Linear4bit", "bnb nf4", 4),
        ("bnb4-dq", "Linear4bit", "bnb nf4+dq", 4),
        ("bnb4-fp4", "Linear4bit", "bnb fp4", 4),
        ("quanto-int8", "QLinear", "quanto qint8", 8),
        ("quanto-int4", "QLinear", "quanto qint4", 4),
        ("torchao-int8", "Linear[Int8Tensor]", "torchao Int8Tensor", 8),
    ],
)
def test_quantized_linears_are_classified_by_class_and_weight_tensor(tiny_hf, quant, cls, label, bits):
    s = inspect_source(f"hf:{tiny_hf}?quant={quant}")
    assert s.linear_modules == {cls: 14, "Linear": 1}, "every block projection quantized, lm_head kept"
    q = {p.name: p for p in s.projections}["down_proj"]
    assert (q.in_features, q.out_features, q.cls, q.quant, q.bits) == (256, 128, cls, label, bits)
    assert s.quantization["bits"] == bits and s.quantization["unquantized"] == ["lm_head"]
    assert s.quantized_share == pytest.approx(14 / 15, abs=0.12)  # by parameters: lm_head is the big one
    assert s.params_total == 361_088, "packed 4-bit weights still count as their logical parameters"
    assert s.bits_per_weight < 16, "real storage, looking inside the quantized tensors"
    layers = [line for line in tree_lines(s.module_tree) if "×2" in line]
    assert layers and "LlamaDecoderLayer" in layers[0], "the two identical layers fold into one node"


@pytest.mark.parametrize(
    "quant, fmt", [("none", "fp16/bf16"), ("bnb8", "bnb int8"), ("bnb4", "bnb nf4"), ("bnb4-dq", "bnb nf4+dq")]
)
def test_memory_formula_matches_the_bytes_really_loaded(tiny_hf, quant, fmt):
    estimate = hf_weights_bytes(inspect_source(str(tiny_hf)), fmt)
    loaded = inspect_source(f"hf:{tiny_hf}?quant={quant}&dtype=bf16")
    assert loaded.size_bytes == pytest.approx(estimate, rel=0.02)


def test_smollm2_in_its_hf_form_matches_its_gguf(smollm2_hf, demo_paths):
    hf = inspect_source(f"hf:{smollm2_hf}")
    gg = inspect_source(str(demo_paths["smollm2"]))
    for field in (
        "vocab_size",
        "hidden_size",
        "num_layers",
        "num_heads",
        "num_kv_heads",
        "head_dim",
        "intermediate_size",
        "params_total",
        "tied_embeddings",
        "rope_theta",
        "context_length",
    ):
        assert getattr(hf, field) == getattr(gg, field), field
    assert [p.name for p in hf.projections] == [p.name for p in gg.projections]
    assert hf.linear_modules == {"Linear": 211} and hf.architecture == "LlamaForCausalLM" and hf.rope_scaling is None
    assert 0 <= hf.size_bytes - 4 * 134_515_008 <= 1024  # fp32, the head tied; + rotary buffers


def test_hf_spec_on_a_gguf_uses_the_cached_conversion(smollm2_hf, demo_paths):
    from llmbench.engine.paths import cache_dir

    cached = cache_dir() / "hf-from-gguf" / smollm2_hf.name  # the private home links the shared conversions
    s = inspect_source(f"hf:{demo_paths['smollm2']}?quant=bnb4")
    assert str(cached) in s.notes[0], "loaded from the conversion, not converted again"
    assert s.linear_modules == {"Linear4bit": 210, "Linear": 1}


def test_config_built_on_the_meta_device_gives_the_real_module_tree():
    s = inspect_source(str(CONFIGS / "meta-llama-3-70b.json"), tree=True)
    assert s.params_total == 70_553_706_496
    text = "\n".join(tree_lines(s.module_tree))
    assert "0-79: LlamaDecoderLayer ×80" in text and "k_proj: Linear (8192→1024)" in text
    assert len(tree_lines(s.module_tree)) < 30, "80 layers fold into one"


def test_family_unknown_to_the_config_reader_is_built_by_transformers():
    s = inspect_source(str(CONFIGS / "gpt2.json"))
    assert s.params_total == 124_439_808  # GPT-2 small
    assert (s.vocab_size, s.hidden_size, s.num_layers, s.num_heads) == (50257, 768, 12, 12)
    assert s.linear_modules["Conv1D"] == 48 and {p.name for p in s.projections} == {
        "c_attn",
        "attn.c_proj",
        "c_fc",
        "mlp.c_proj",
    }
    assert "meta device" in s.notes[0]


def test_model_type_nobody_knows(tmp_path):
    cfg = tmp_path / "config.json"
    cfg.write_text('{"model_type": "no-such-arch", "hidden_size": 8}')
    with pytest.raises(SpecError, match="does not know model_type 'no-such-arch'"):
        inspect_source(str(cfg))


def test_bad_hf_specs(tiny_hf, tmp_path):
    with pytest.raises(SpecError, match="quant 'gptq9'"):
        inspect_source(f"hf:{tiny_hf}?quant=gptq9")
    with pytest.raises(SpecError, match="unknown option 'foo'"):
        inspect_source(f"hf:{tiny_hf}?foo=1")
    with pytest.raises(ModelFileError, match="no such model folder"):
        inspect_source(f"hf:{tmp_path}/missing")
    (tmp_path / "config.json").write_text((tiny_hf / "config.json").read_text())
    (tmp_path / "pytorch_model.bin").write_bytes(b"not read")
    with pytest.raises(ModelFileError, match="safetensors only"):
        inspect_source(f"hf:{tmp_path}")


def test_peft_lora_adapter(tiny_hf, tmp_path):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = get_peft_model(
        AutoModelForCausalLM.from_pretrained(tiny_hf),
        LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM"),
    )
    trainable, _ = model.get_nb_trainable_parameters()
    model.save_pretrained(tmp_path / "lora")
    a = inspect_source(str(tmp_path / "lora"))
    assert isinstance(a, AdapterSummary)
    assert (a.peft_type, a.rank, a.alpha, a.scaling, a.layers) == ("LORA", 8, 16, 2.0, 2)
    assert a.target_modules == ["q_proj", "v_proj"]
    assert a.trainable_params == trainable == 2 * (8 * (128 + 128) + 8 * (128 + 64))
    assert a.base_model == str(tiny_hf) and a.base_params == 361_088
    assert a.share == pytest.approx(trainable / 361_088)


def test_gguf_lora_adapter(tmp_path):
    path = write_gguf_lora(tmp_path / "lora.gguf")
    a = inspect_source(str(path))
    assert isinstance(a, AdapterSummary) and a.source_kind == "gguf-lora"
    assert (a.rank, a.alpha, a.layers, a.tensors) == (16, 32.0, 3, 12)
    assert a.target_modules == ["attn_q", "attn_v"]
    assert a.trainable_params == 3 * (16 * 576 * 2 + 16 * 576 + 192 * 16)
