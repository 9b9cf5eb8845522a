"""The summary every source fills in: the same field names in the TUI, tables and JSON."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Projection:
    """One linear layer of the first block: q/k/v/o and the MLP projections."""

    name: str  # q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj, qkv_proj ...
    in_features: int
    out_features: int
    cls: str  # Linear, QuantLinear, Linear4bit, "ggml Q4_K" ...
    quant: str | None = None  # None for plain Linear
    bits: float | None = None


@dataclass
class ModelSummary:
    source: str
    source_kind: str  # "gguf", "hf-folder", "config"
    name: str | None = None
    architecture: str | None = None
    model_type: str | None = None
    vocab_size: int | None = None
    hidden_size: int | None = None
    num_layers: int | None = None
    num_heads: int | None = None
    num_kv_heads: int | None = None
    head_dim: int | None = None
    intermediate_size: int | None = None
    activation: str | None = None
    norm_type: str | None = None
    norm_eps: float | None = None
    rope_theta: float | None = None
    rope_scaling: Any = None
    context_length: int | None = None
    tied_embeddings: bool | None = None
    params_total: int | None = None
    params_embeddings: int | None = None
    params_per_layer: int | None = None
    projections: list[Projection] = field(default_factory=list)
    linear_modules: dict[str, int] = field(default_factory=dict)  # class -> count
    quantization: dict[str, Any] | None = None  # method, bits, group_size, unquantized modules
    quantized_share: float | None = None  # share of linear parameters that are quantized
    bits_per_weight: float | None = None
    tensor_types: dict[str, int] = field(default_factory=dict)  # GGUF: ggml type -> tensors
    has_chat_template: bool | None = None
    size_bytes: int | None = None
    notes: list[str] = field(default_factory=list)
    module_tree: Any = None  # a ModuleNode when the modules were built or read (see modules.py)

    @property
    def gqa_ratio(self) -> float | None:
        if self.num_heads and self.num_kv_heads:
            return self.num_heads / self.num_kv_heads
        return None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["gqa_ratio"] = self.gqa_ratio
        if data["module_tree"] is None:
            del data["module_tree"]
        return data


# The sane range of each size a model's files give: a value outside it (a typo, a damaged or
# fuzzed file) is refused by name before it drives a loop or an allocation (a config of 1e9
# layers hung the memory table; a negative width gave negative parameter counts).
SIZE_LIMITS = {
    "hidden_size": (1, 1 << 20),
    "num_hidden_layers": (1, 10_000),
    "num_attention_heads": (1, 1 << 16),
    "num_key_value_heads": (1, 1 << 16),
    "head_dim": (1, 1 << 16),
    "intermediate_size": (1, 1 << 22),
    "vocab_size": (1, 1 << 24),
    "num_local_experts": (1, 4096),
}


def checked_size(value, kind: str, said: str) -> int:
    """``value`` when it is a whole number in SIZE_LIMITS[kind]; else a ModelFileError that
    starts with ``said`` (the file and the field) and gives the range."""
    from ..errors import ModelFileError

    lo, hi = SIZE_LIMITS[kind]
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise ModelFileError(f"{said} = {value!r}: expected a whole number {lo}-{hi:,}")
    return value
