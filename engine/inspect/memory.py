"""How much memory a model needs in each format, plus its KV cache, and whether it fits.

Formulas (documented in the README, "Memory"):
  * P = all parameters; W = the linear weights of the decoder blocks (what quantizers
    quantize); the rest (embeddings, output head, norms, biases) stays at 16 bits
    in the HF quantized formats.
  * fp32 4 B/param; fp16/bf16 2 B/param.
  * int8 (bitsandbytes LLM.int8): W at 1 B + one fp32 scale per output row.
  * nf4 (bitsandbytes): W at 4 bits + one fp32 absmax per 64 weights (4.5 bits);
    with double quantization the absmax is 8-bit plus one fp32 per 256 blocks (4.127 bits).
  * GPTQ/AWQ 4-bit, group g: W at 4 bits + an fp16 scale and a 4-bit zero per group;
    GPTQ also keeps an int32 g_idx per input feature.
  * GGUF types: every tensor at its ggml type's bits, chosen by llama.cpp's rules
    (llama_tensor_get_type, simplified): K-quant mixes raise attn_v and ffn_down to
    Q6_K in "use_more_bits" layers, the output head to Q6_K, and rows that are not a
    multiple of 256 fall back to a 32-wide type; 1-D tensors stay F32.
  * KV cache: 2 (K and V) x layers x kv_heads x head_dim x context x batch x 2 bytes (f16).
  * Overhead: a fixed runtime allowance (interpreter, libraries, compute buffers).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from ..models.gguf_file import type_bits
from .summary import ModelSummary

MIB = 2**20
RUNTIME_OVERHEAD = {"llama.cpp": 96 * MIB, "HF": 420 * MIB}  # interpreter, libraries, buffers
GGUF_TYPES = ("Q8_0", "Q6_K", "Q5_K_M", "Q4_K_M", "Q4_0", "Q3_K_M", "Q2_K")
_FALLBACK = {"Q4_K": "Q5_0", "Q5_K": "Q5_1", "Q6_K": "Q8_0", "Q3_K": "IQ4_NL", "Q2_K": "IQ4_NL"}


@dataclass(frozen=True)
class MemoryRow:
    format: str
    runtime: str
    weights_bytes: int
    kv_bytes: int
    overhead_bytes: int
    total_bytes: int
    fits: bool | None  # in RAM (CPU) or GPU memory; None when unknown
    fits_gpu: bool | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def _use_more_bits(i: int, n: int) -> bool:
    return i < n // 8 or i >= 7 * n // 8 or (i - n // 8) % 3 == 2


def _gguf_type(ftype: str, role: str, layer: int, n_layers: int, n_in: int, gqa: float) -> str:
    """The ggml type llama.cpp picks for one 2-D tensor under a file type (simplified)."""
    base = {
        "Q8_0": "Q8_0",
        "Q6_K": "Q6_K",
        "Q5_K_M": "Q5_K",
        "Q4_K_M": "Q4_K",
        "Q4_0": "Q4_0",
        "Q3_K_M": "Q3_K",
        "Q2_K": "Q2_K",
        "Q4_1": "Q4_1",
        "Q5_0": "Q5_0",
        "F16": "F16",
    }[ftype]
    t = base
    if role == "output":
        t = ftype if ftype in ("Q8_0", "F16") else "Q6_K"
    elif ftype in ("Q4_K_M", "Q5_K_M") and role in ("attn_v", "ffn_down") and _use_more_bits(layer, n_layers):
        t = "Q6_K"
    elif ftype == "Q3_K_M":
        if role == "attn_v":
            t = "Q5_K" if layer < 2 else "Q4_K"
        elif role == "ffn_down":
            t = "Q5_K" if layer < n_layers // 16 else "Q4_K"
        elif role == "attn_output":
            t = "Q4_K"
    elif ftype == "Q2_K":
        if role == "attn_v":
            t = "Q4_K" if gqa >= 4 else "Q3_K"
        elif role in ("ffn_down", "attn_output"):
            t = "Q3_K"
    if t in _FALLBACK and n_in % 256:
        t = _FALLBACK[t]
    return t


def gguf_weights_bytes(s: ModelSummary, ftype: str) -> int:
    """Bytes of a GGUF of this model at ``ftype``, tensor by tensor."""
    roles = {
        "q_proj": "attn_q",
        "k_proj": "attn_k",
        "v_proj": "attn_v",
        "o_proj": "attn_output",
        "qkv_proj": "attn_qkv",
        "gate_proj": "ffn_gate",
        "up_proj": "ffn_up",
        "down_proj": "ffn_down",
        "gate_up_proj": "ffn_up",
        "c_fc": "ffn_up",
        "c_proj": "ffn_down",
    }
    n, hidden, vocab = s.num_layers, s.hidden_size, s.vocab_size
    gqa = s.gqa_ratio or 1
    total_bits = 0.0
    linear = 0
    for layer in range(n):
        for p in s.projections:
            t = _gguf_type(ftype, roles.get(p.name, "other"), layer, n, p.in_features, gqa)
            total_bits += p.in_features * p.out_features * type_bits(t)
            linear += p.in_features * p.out_features
    embed = vocab * hidden
    if s.tied_embeddings:  # one matrix serves as both: llama.cpp gives it the output's type
        total_bits += embed * type_bits(_gguf_type(ftype, "output", 0, n, hidden, gqa))
    else:
        total_bits += embed * type_bits(_gguf_type(ftype, "token_embd", 0, n, hidden, gqa))
        total_bits += embed * type_bits(_gguf_type(ftype, "output", 0, n, hidden, gqa))
    rest = (s.params_total or 0) - linear - embed * (1 if s.tied_embeddings else 2)
    total_bits += max(rest, 0) * 32  # norms and biases: F32
    return int(total_bits / 8)


def kv_cache_bytes(s: ModelSummary, ctx: int, batch: int = 1, bytes_per: int = 2) -> int:
    if not (s.num_layers and s.num_kv_heads and s.head_dim):
        return 0
    return 2 * s.num_layers * s.num_kv_heads * s.head_dim * ctx * batch * bytes_per


def hf_weights_bytes(s: ModelSummary, fmt: str, group_size: int = 128) -> int:
    p = s.params_total or 0
    linear = (s.num_layers or 0) * sum(x.in_features * x.out_features for x in s.projections)
    rows = (s.num_layers or 0) * sum(x.out_features for x in s.projections)
    cols = (s.num_layers or 0) * sum(x.in_features for x in s.projections)
    rest = p - linear
    if fmt == "fp32":
        return 4 * p
    if fmt == "fp16/bf16":
        return 2 * p
    if fmt == "bnb int8":
        return linear + 4 * rows + 2 * rest
    if fmt == "bnb nf4":
        return int(linear * 4.5 / 8) + 2 * rest
    if fmt == "bnb nf4+dq":
        return int(linear * (4 + 8 / 64 + 32 / (64 * 256)) / 8) + 2 * rest
    if fmt.startswith("gptq") or fmt.startswith("awq"):
        per_group = (16 + 4) / group_size
        extra = 4 * cols if fmt.startswith("gptq") else 0
        return int(linear * (4 + per_group) / 8) + extra + 2 * rest
    raise ValueError(fmt)


def memory_table(
    s: ModelSummary, ctx: int = 4096, batch: int = 1, ram_bytes: int | None = None, gpu_bytes: int | None = None
) -> list[MemoryRow]:
    """One row per format: weights, KV cache at ``ctx`` x ``batch``, overhead, total, fits."""
    kv = kv_cache_bytes(s, ctx, batch)
    group = (s.quantization or {}).get("group_size") or 128
    formats = [
        ("fp32", "HF"),
        ("fp16/bf16", "HF"),
        ("bnb int8", "HF"),
        ("bnb nf4", "HF"),
        ("bnb nf4+dq", "HF"),
        (f"gptq 4b g{group}", "HF"),
        (f"awq 4b g{group}", "HF"),
    ]
    rows = []
    for fmt, runtime in formats + [(t, "llama.cpp") for t in GGUF_TYPES]:
        weights = hf_weights_bytes(s, fmt, group) if runtime == "HF" else gguf_weights_bytes(s, fmt)
        overhead = RUNTIME_OVERHEAD[runtime]
        total = weights + kv + overhead
        rows.append(
            MemoryRow(
                fmt,
                runtime,
                weights,
                kv,
                overhead,
                total,
                fits=total <= ram_bytes if ram_bytes else None,
                fits_gpu=total <= gpu_bytes if gpu_bytes else None,
            )
        )
    return rows


def machine_memory() -> tuple[int, int | None]:
    """(available RAM, free GPU memory or None) on this machine."""
    import psutil

    ram = psutil.virtual_memory().available
    gpu = None
    try:
        import pynvml

        pynvml.nvmlInit()
        gpu = sum(
            pynvml.nvmlDeviceGetMemoryInfo(pynvml.nvmlDeviceGetHandleByIndex(i)).free
            for i in range(pynvml.nvmlDeviceGetCount())
        )
    except Exception:
        gpu = None
    return ram, gpu
