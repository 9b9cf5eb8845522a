"""Inspect without loading weights: real GGUFs, public configs, broken inputs, memory."""

import json
import struct
from pathlib import Path

import pytest

from llmbench.engine.errors import ModelFileError, SpecError
from llmbench.engine.inspect import inspect_source
from llmbench.engine.inspect.memory import gguf_weights_bytes, kv_cache_bytes, memory_table
from llmbench.engine.models.gguf_file import read_header
from tests.helpers import FIXTURES

CONFIGS = FIXTURES / "configs"


def test_smollm2_gguf_summary(demo_paths):
    s = inspect_source(str(demo_paths["smollm2"]))
    assert (s.architecture, s.vocab_size, s.hidden_size, s.num_layers) == ("llama", 49152, 576, 30)
    assert (s.num_heads, s.num_kv_heads, s.head_dim, s.gqa_ratio) == (9, 3, 64, 3.0)
    assert s.intermediate_size == 1536 and s.norm_type == "RMSNorm" and s.tied_embeddings
    assert s.params_total == 134_515_008  # SmolLM2-135M
    k = {p.name: p for p in s.projections}["k_proj"]
    assert (k.in_features, k.out_features, k.quant) == (576, 192, "Q4_1")
    assert s.linear_modules == {"ggml Q4_1": 210} and s.has_chat_template


def test_gemma_gguf_mixed_quant_types(demo_paths):
    s = inspect_source(str(demo_paths["gemma3-270m"]))
    assert s.quantization["file_type"] == "Q4_K_M"
    v = {p.name: p for p in s.projections}["v_proj"]
    assert v.quant == "Q8_0"  # layer 0 of a Q4_K_M gets more bits for attn_v
    assert s.tensor_types == {"F32": 109, "Q5_0": 81, "Q4_K": 27, "Q8_0": 10, "Q6_K": 9}


@pytest.mark.parametrize(
    "name, params_b, layers, kv, k_out",
    [
        ("meta-llama-3-8b", 8.03, 32, 8, 1024),
        ("meta-llama-3-70b", 70.55, 80, 8, 1024),
        ("mistral-7b-v0.1", 7.24, 32, 8, 1024),
        ("qwen2-1.5b-instruct-gptq-int8", 1.54, 28, 2, 256),
        ("gemma-2-2b", 2.61, 26, 4, 1024),
    ],
)
def test_public_configs_match_their_published_sizes(name, params_b, layers, kv, k_out):
    s = inspect_source(str(CONFIGS / f"{name}.json"))
    assert round(s.params_total / 1e9, 2) == params_b
    assert s.num_layers == layers and s.num_kv_heads == kv
    assert {p.name: p for p in s.projections}["k_proj"].out_features == k_out


def test_phi3_fused_projections():
    s = inspect_source(str(CONFIGS / "phi-3-mini-4k-instruct.json"))
    assert [p.name for p in s.projections] == ["qkv_proj", "o_proj", "gate_up_proj", "down_proj"]
    assert round(s.params_total / 1e9, 2) == 3.82


def test_gptq_config_is_classified_without_kernels():
    s = inspect_source(str(CONFIGS / "qwen2-1.5b-instruct-gptq-int8.json"))
    assert s.quantization["method"] == "gptq" and s.quantization["bits"] == 8
    assert s.quantization["group_size"] == 128 and "lm_head" in s.quantization["unquantized"]
    assert s.linear_modules == {"QuantLinear": 196, "Linear": 1}
    assert all(p.cls == "QuantLinear" for p in s.projections)


def test_llama3_vs_qwen2_differences():
    from llmbench.engine.inspect.report import compare_rows

    a = inspect_source(str(CONFIGS / "meta-llama-3-8b.json"))
    b = inspect_source(str(CONFIGS / "qwen2-1.5b-instruct-gptq-int8.json"))
    rows = {label: (va, vb, d) for label, va, vb, d in compare_rows(a, b)}
    assert rows["vocabulary"] == ("128,256", "151,936", True)
    assert rows["embedding size"][2] and not rows["head dim"][2]


def test_gguf_size_estimate_matches_the_real_files_tensor_by_tensor(demo_paths):
    for name, ftype in (("smollm2", "Q4_1"), ("gemma3-270m", "Q4_K_M")):
        h = read_header(demo_paths[name])
        s = inspect_source(str(demo_paths[name]))
        assert gguf_weights_bytes(s, ftype) == sum(t.n_bytes for t in h.tensors)


def test_memory_table_formulas():
    s = inspect_source(str(CONFIGS / "meta-llama-3-8b.json"))
    rows = {r.format: r for r in memory_table(s, ctx=8192, ram_bytes=24 * 2**30)}
    assert rows["fp16/bf16"].weights_bytes == 2 * s.params_total
    assert rows["fp32"].weights_bytes == 4 * s.params_total
    assert kv_cache_bytes(s, 8192) == 2 * 32 * 8 * 128 * 8192 * 2  # 1 GiB
    assert rows["fp16/bf16"].kv_bytes == 2**30
    assert rows["bnb nf4"].weights_bytes < rows["bnb int8"].weights_bytes < rows["fp16/bf16"].weights_bytes
    assert rows["bnb nf4+dq"].weights_bytes < rows["bnb nf4"].weights_bytes
    assert not rows["fp32"].fits and rows["Q4_K_M"].fits
    gib = rows["Q4_K_M"].weights_bytes / 2**30
    assert 4.4 < gib < 4.9  # published Llama-3-8B Q4_K_M files are ~4.6-4.9 GiB


@pytest.mark.parametrize(
    "content, error, message",
    [
        ('{"model_type": "nosucharch", "hidden_size": 8}', SpecError, "does not know model_type 'nosucharch'"),
        ('{"model_type": "llama", "hidden_size": 8}', ModelFileError, "config.json is missing num_hidden_layers"),
        ("{broken", ModelFileError, "not valid JSON"),
    ],
)
def test_bad_configs(tmp_path, content, error, message):
    path = tmp_path / "config.json"
    path.write_text(content)
    with pytest.raises(error, match=message):
        inspect_source(str(path))


def test_folder_without_config_and_not_a_model(tmp_path):
    with pytest.raises(ModelFileError, match="no config.json in this folder"):
        inspect_source(str(tmp_path))
    junk = tmp_path / "photo.jpg"
    junk.write_bytes(b"\xff\xd8\xff\xe0")
    with pytest.raises(ModelFileError, match=r"photo\.jpg: not a model"):
        inspect_source(str(junk))


def _safetensors(path: Path, header: dict, data: bytes, claimed: int | None = None) -> None:
    raw = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", claimed if claimed is not None else len(raw)) + raw + data)


def test_safetensors_headers_are_checked(tmp_path):
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "config.json").write_text((CONFIGS / "mistral-7b-v0.1.json").read_text())
    good = {"a": {"dtype": "BF16", "shape": [2, 2], "data_offsets": [0, 8]}}
    _safetensors(folder / "model.safetensors", good, b"\0" * 8)
    s = inspect_source(str(folder))
    assert s.source_kind == "hf-folder" and s.tensor_types == {"BF16": 1}
    lying = {"a": {"dtype": "BF16", "shape": [1000, 1000], "data_offsets": [0, 2_000_000]}}
    _safetensors(folder / "model.safetensors", lying, b"\0" * 8)
    with pytest.raises(ModelFileError, match=r"tensor 'a' claims bytes 0-2,000,000 but the data is 8 bytes long"):
        inspect_source(str(folder))
    _safetensors(folder / "model.safetensors", good, b"\0" * 8, claimed=10**9)
    with pytest.raises(ModelFileError, match="safetensors header claims 1,000,000,000 bytes"):
        inspect_source(str(folder))


def test_truncated_gguf_is_a_clear_error(tmp_path, demo_paths):
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(demo_paths["smollm2"].read_bytes()[:1000])
    with pytest.raises(ModelFileError, match=r"cut\.gguf: truncated GGUF"):
        inspect_source(str(cut))


def _llama(**changes) -> str:
    return json.dumps({**json.loads((CONFIGS / "mistral-7b-v0.1.json").read_text()), **changes})


@pytest.mark.parametrize(
    "changes, says",
    [
        ({"num_hidden_layers": 1e9}, "num_hidden_layers = 1000000000.0: expected a whole number 1-10,000"),
        ({"num_hidden_layers": 10**9}, "num_hidden_layers = 1000000000: expected a whole number 1-10,000"),
        ({"hidden_size": -4096}, "hidden_size = -4096"),
        ({"hidden_size": "4096"}, "hidden_size = '4096'"),
        ({"num_attention_heads": 0}, "num_attention_heads = 0"),
        ({"vocab_size": True}, "vocab_size = True"),
        ({"quantization_config": "gptq"}, "config.json's quantization_config is not an object"),
    ],
)
def test_absurd_configs_are_one_line_naming_the_field(tmp_path, changes, says):
    """1e9 layers hung the memory table and grew the module tree to 3.2 GB; a negative width
    gave negative parameter counts; a zero or a string ended in a traceback."""
    path = tmp_path / "config.json"
    path.write_text(_llama(**changes))
    said = says if says.startswith("config.json's") else f"config.json has {says}"
    with pytest.raises(ModelFileError, match=f"config.json: {said}"):
        inspect_source(str(path))


def test_a_string_modules_to_not_convert_is_one_module(tmp_path):
    path = tmp_path / "config.json"
    quant = {"quant_method": "gptq", "bits": 4, "group_size": 128, "modules_to_not_convert": "down_proj"}
    path.write_text(_llama(quantization_config=quant))
    s = inspect_source(str(path))
    assert 0.5 < s.quantized_share < 1, "every projection but down_proj is quantized (was 0 %)"
    assert {p.name: p.cls for p in s.projections}["down_proj"] == "Linear"


def test_mutated_configs_give_a_summary_or_one_clear_error(tmp_path):
    """A seeded corpus of 300 configs with fields replaced by odd values (huge, negative,
    zero, strings, lists, null, objects): each gives a summary or one line naming the
    file, quickly; never a traceback, a hang or an allocation out of proportion."""
    import random
    import time

    from llmbench.engine.errors import LlmbenchError

    base = json.loads(_llama())
    odd = [None, 0, -1, 1, 2**31, 2**63, 1e9, 1e308, float("nan"), "x", "", [], [1], {}, {"a": 1}, True]
    rng = random.Random(17)
    path = tmp_path / "config.json"
    for case in range(300):
        cfg = dict(base)
        for key in rng.sample(sorted(base), rng.randint(1, 4)):
            cfg[key] = rng.choice(odd)
        path.write_text(json.dumps(cfg))
        start = time.perf_counter()
        try:  # (meta=False: an unknown family is refused, not built by transformers, whose import is seconds)
            s = inspect_source(str(path), meta=False)
            assert s.params_total >= 0, (case, cfg)
        except LlmbenchError as exc:
            assert str(path) in str(exc) and "\n" not in str(exc), (case, exc)
        assert time.perf_counter() - start < 2, f"case {case} took too long"


def test_an_unknown_family_of_absurd_sizes_is_refused_before_transformers_builds_it(tmp_path):
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"model_type": "newfamily", "num_hidden_layers": 10**9, "hidden_size": 64}))
    with pytest.raises(ModelFileError, match="num_hidden_layers = 1000000000"):
        inspect_source(str(path), tree=True)
