"""Summarise a Hugging Face model from config.json (and safetensors headers), no weights.

Parameter counts come from the config by the family's layout (llama, mistral,
qwen2/3, gemma 1-3, phi3, ...). Quantized checkpoints are classified from their
``quantization_config``: method, bits, group size and the modules left unquantized.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

from ..errors import ModelFileError, SpecError, first_line
from ..util.files import loads_json
from .summary import SIZE_LIMITS, ModelSummary, Projection, checked_size

# families whose decoder layers are "attention + gated MLP" with these projection names
_FAMILIES = {
    "llama": {},
    "mistral": {},
    "mixtral": {"moe": True},
    "qwen2": {"qkv_bias": True},
    "qwen3": {"qk_norm": True},
    "gemma": {"tied": True},
    "gemma2": {"tied": True, "norms": 4},
    "gemma3_text": {"tied": True, "norms": 4, "qk_norm": True},
    "gemma3": {"tied": True, "norms": 4, "qk_norm": True},
    "phi3": {"fused": True},
    "olmo2": {"qk_norm": True},
    "granite": {},
    "smollm3": {},
    "starcoder2": {"qkv_bias": True, "plain_mlp": True},
}
_QUANT_CLASS = {
    "gptq": "QuantLinear",
    "awq": "WQLinear_GEMM",
    "bitsandbytes_4bit": "Linear4bit",
    "bitsandbytes_8bit": "Linear8bitLt",
    "quanto": "QLinear",
    "torchao": "Linear (torchao)",
    "fp8": "FP8Linear",
}


class UnknownFamily(SpecError):
    """A model_type the fast config reader has no layout for (transformers may still know it)."""


def _load_json(path: Path) -> dict:
    try:
        data = loads_json(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelFileError(f"{path}: no such file") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise ModelFileError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise ModelFileError(f"{path}: expected a JSON object")
    return data


def inspect_config_file(path: Path) -> ModelSummary:
    return summarise_config(_load_json(path), str(path), "config")


def inspect_folder(folder: Path) -> ModelSummary:
    config = folder / "config.json"
    if not config.exists():
        raise ModelFileError(f"{folder}: no config.json in this folder, so no model to inspect")
    summary = summarise_config(_load_json(config), str(folder), "hf-folder")
    shards = sorted(folder.glob("*.safetensors"))
    if shards:
        dtypes: dict[str, int] = {}
        on_disk = 0
        for shard in shards:
            for dtype, n in read_safetensors_header(shard).items():
                dtypes[dtype] = dtypes.get(dtype, 0) + n
            on_disk += shard.stat().st_size
        summary.tensor_types = dtypes
        summary.size_bytes = on_disk
    return summary


def read_safetensors_header(path: Path) -> dict[str, int]:
    """dtype -> tensor count, after checking the header against the file's size."""
    counts: dict[str, int] = {}
    for dtype, _ in safetensors_entries(path).values():
        counts[dtype] = counts.get(dtype, 0) + 1
    return counts


def safetensors_entries(path: Path) -> dict[str, tuple[str, tuple[int, ...]]]:
    """name -> (dtype, shape) from a safetensors header, checked against the file's size."""
    size = path.stat().st_size
    with path.open("rb") as fh:
        raw = fh.read(8)
        if len(raw) < 8:
            raise ModelFileError(f"{path}: too short to be a safetensors file")
        (n,) = struct.unpack("<Q", raw)
        if n > size - 8 or n > 100 * 2**20:
            raise ModelFileError(f"{path}: safetensors header claims {n:,} bytes but the file has {size:,}")
        try:
            header = loads_json(fh.read(n))
        except ValueError:
            raise ModelFileError(f"{path}: safetensors header is not valid JSON") from None
    if not isinstance(header, dict):
        raise ModelFileError(f"{path}: safetensors header is not a JSON object")
    data_size = size - 8 - n
    entries: dict[str, tuple[str, tuple[int, ...]]] = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        try:
            begin, end = info["data_offsets"]
            dtype, shape = info["dtype"], tuple(info["shape"])
        except (KeyError, TypeError, ValueError):
            begin = end = dtype = shape = None
        numbers = (begin, end, *shape) if shape is not None else (None,)
        whole = all(isinstance(x, int) and not isinstance(x, bool) and x >= 0 for x in numbers)
        if not whole or not isinstance(dtype, str) or len(shape) > 8:
            raise ModelFileError(f"{path}: tensor {name[:80]!r} has a malformed header entry")
        if end > data_size or begin > end:
            raise ModelFileError(
                f"{path}: tensor {name!r} claims bytes {begin:,}-{end:,} but the data is {data_size:,} bytes long"
            )
        entries[name] = (dtype, shape)
    return entries


def check_sizes(cfg: dict, source: str) -> None:
    """Every size field a config has (its text_config's too) within SIZE_LIMITS, and a
    model_type that is a name: a config of absurd sizes is refused by name."""
    for part in (cfg, cfg.get("text_config") if isinstance(cfg.get("text_config"), dict) else {}):
        for name in SIZE_LIMITS:
            if part.get(name) is not None:
                _count(part, source, name)
        if part.get("model_type") is not None and not isinstance(part["model_type"], str):
            raise ModelFileError(f"{source}: config.json has model_type = {part['model_type']!r}: expected a name")


def _count(cfg: dict, source: str, name: str, default: Any = None) -> int:
    """``cfg[name]``: a whole number in its SIZE_LIMITS range, or ``default`` when it is
    absent; else one line naming the field, the value and the range."""
    value = cfg.get(name)
    if value is None:
        if default is None:
            raise ModelFileError(f"{source}: config.json is missing {name}")
        return default
    return checked_size(value, name, f"{source}: config.json has {name}")


def summarise_config(cfg: dict, source: str, kind: str) -> ModelSummary:
    """The summary of a config; a field of the wrong type (past the sizes, which are checked
    one by one) is one line naming the file, never a traceback."""
    try:
        return _summarise(cfg, source, kind)
    except (TypeError, ValueError, KeyError, AttributeError, IndexError, OverflowError, ZeroDivisionError) as exc:
        raise ModelFileError(f"{source}: config.json has a field of the wrong type ({type(exc).__name__}: "
                             f"{first_line(exc)})") from None  # fmt: skip


# long: one line per field of the summary, read from the source in display order; splitting it
# would scatter the one mapping a reader checks against the file format.
def _summarise(cfg: dict, source: str, kind: str) -> ModelSummary:
    if "text_config" in cfg and "hidden_size" not in cfg:  # multimodal wrappers: the language model
        cfg = {
            **cfg["text_config"],
            "quantization_config": cfg.get("quantization_config"),
            "architectures": cfg.get("architectures"),
        }
    check_sizes(cfg, source)
    model_type = cfg.get("model_type")
    if model_type not in _FAMILIES:
        known = ", ".join(sorted(_FAMILIES))
        raise UnknownFamily(
            f"{source}: model_type {model_type!r} is not a family the config reader knows ({known}), "
            "and transformers is not installed to build it"
        )
    fam = _FAMILIES[model_type]
    hidden = _count(cfg, source, "hidden_size")
    layers = _count(cfg, source, "num_hidden_layers")
    heads = _count(cfg, source, "num_attention_heads")
    kv = _count(cfg, source, "num_key_value_heads", heads)
    head_dim = _count(cfg, source, "head_dim", max(1, hidden // heads))
    inter = _count(cfg, source, "intermediate_size")
    vocab = _count(cfg, source, "vocab_size")
    tied = cfg.get("tie_word_embeddings", fam.get("tied", False))
    experts = _count(cfg, source, "num_local_experts", 1) if fam.get("moe") else 1

    q_out, kv_out = heads * head_dim, kv * head_dim
    attn_bias = cfg.get("attention_bias", fam.get("qkv_bias", False))
    if fam.get("fused"):
        shapes = [
            ("qkv_proj", hidden, q_out + 2 * kv_out),
            ("o_proj", q_out, hidden),
            ("gate_up_proj", hidden, 2 * inter),
            ("down_proj", inter, hidden),
        ]
    elif fam.get("plain_mlp"):
        shapes = [
            ("q_proj", hidden, q_out),
            ("k_proj", hidden, kv_out),
            ("v_proj", hidden, kv_out),
            ("o_proj", q_out, hidden),
            ("c_fc", hidden, inter),
            ("c_proj", inter, hidden),
        ]
    else:
        shapes = [
            ("q_proj", hidden, q_out),
            ("k_proj", hidden, kv_out),
            ("v_proj", hidden, kv_out),
            ("o_proj", q_out, hidden),
            ("gate_proj", hidden, inter),
            ("up_proj", hidden, inter),
            ("down_proj", inter, hidden),
        ]
    mlp_names = {"gate_proj", "up_proj", "down_proj", "gate_up_proj", "c_fc", "c_proj"}
    linear = sum(i * o * (experts if n in mlp_names else 1) for n, i, o in shapes)
    bias = (q_out + 2 * kv_out) if attn_bias else 0
    norms = fam.get("norms", 2) * hidden + (2 * head_dim if fam.get("qk_norm") else 0)
    router = hidden * experts if experts > 1 else 0
    per_layer = linear + bias + norms + router
    embed = vocab * hidden
    total = embed + layers * per_layer + hidden + (0 if tied else embed)

    quant = cfg.get("quantization_config") or None
    if quant is not None and not isinstance(quant, dict):
        raise ModelFileError(f"{source}: config.json's quantization_config is not an object")
    projections, linear_modules, quant_info, share = _classify(quant, shapes, layers, experts, tied, source)
    rope = cfg.get("rope_scaling")
    act = cfg.get("hidden_act") or cfg.get("hidden_activation")
    return ModelSummary(
        source=source,
        source_kind=kind,
        name=cfg.get("_name_or_path") or _display_name(source),
        architecture=(cfg.get("architectures") or [None])[0],
        model_type=model_type,
        vocab_size=vocab,
        hidden_size=hidden,
        num_layers=layers,
        num_heads=heads,
        num_kv_heads=kv,
        head_dim=head_dim,
        intermediate_size=inter,
        activation=act,
        norm_type="LayerNorm" if model_type == "starcoder2" else "RMSNorm",
        norm_eps=cfg.get("rms_norm_eps", cfg.get("layer_norm_eps", cfg.get("norm_epsilon"))),
        rope_theta=cfg.get("rope_theta"),
        rope_scaling=rope,
        context_length=cfg.get("max_position_embeddings"),
        tied_embeddings=bool(tied),
        params_total=total,
        params_embeddings=embed,
        params_per_layer=per_layer,
        projections=projections,
        linear_modules=linear_modules,
        quantization=quant_info,
        quantized_share=share,
        bits_per_weight=None,
    )


def _display_name(source: str) -> str:
    p = Path(source)
    return p.parent.name if p.name == "config.json" else (p.stem if p.suffix == ".json" else p.name)


def _classify(quant: dict | None, shapes, layers: int, experts: int, tied: bool, source: str):
    """Projection rows and counts by module class, from the quantization_config."""
    n_linear = layers * sum(
        experts if n in {"gate_proj", "up_proj", "down_proj", "gate_up_proj"} else 1 for n, _, _ in shapes
    )
    head = {"Linear": 1}  # lm_head is a Linear module even when its weight is tied
    if not quant:
        rows = [Projection(n, i, o, "Linear") for n, i, o in shapes]
        return rows, {"Linear": n_linear + sum(head.values())}, None, 0.0
    method = str(quant.get("quant_method", "unknown")).lower()
    bits = quant.get("bits") or quant.get("w_bit")
    if method == "bitsandbytes":
        four = quant.get("load_in_4bit") or quant.get("_load_in_4bit")
        method, bits = ("bitsandbytes_4bit", 4) if four else ("bitsandbytes_8bit", 8)
    group = quant.get("group_size") or quant.get("q_group_size")
    skip = quant.get("modules_to_not_convert") or []
    skip = [skip] if isinstance(skip, str) else [str(m) for m in skip] if isinstance(skip, list) else []
    # (a string is one module name: list() of it made every character a module, and 0 % quantized)
    if "lm_head" not in skip:
        skip.append("lm_head")  # every method here leaves the output head in 16 bits
    cls = _QUANT_CLASS.get(method, f"{method} linear")
    if method == "awq" and quant.get("version"):
        cls = f"WQLinear_{str(quant['version']).upper()}"
    label = f"{method} {bits}-bit" if bits else method
    rows = []
    for n, i, o in shapes:
        if any(s and s in n for s in skip):
            rows.append(Projection(n, i, o, "Linear"))
        else:
            rows.append(Projection(n, i, o, cls, label, float(bits) if bits else None))
    quantized = sum(1 for r in rows if r.quant) * layers
    modules = {cls: quantized} if quantized else {}
    plain = n_linear - quantized + sum(head.values())
    if plain:
        modules["Linear"] = plain
    info = {
        "method": method,
        "bits": bits,
        "group_size": group,
        "unquantized": skip,
        "desc_act": quant.get("desc_act"),
        "sym": quant.get("sym"),
    }
    info = {k: v for k, v in info.items() if v is not None}
    lin_params = sum(i * o for _, i, o in shapes)
    q_params = sum(r.in_features * r.out_features for r in rows if r.quant)
    return rows, modules, info, (q_params / lin_params if lin_params else 0.0)
