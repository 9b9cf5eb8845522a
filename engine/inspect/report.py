"""Rows for tables, shared by the CLI and the TUI: labels and formatted values."""

from __future__ import annotations

from typing import Any

from ..util.fmt import size_text
from .summary import ModelSummary

# (field, label) in display order: the fields of the point 2
FIELDS: tuple[tuple[str, str], ...] = (
    ("architecture", "architecture"),
    ("model_type", "model type"),
    ("vocab_size", "vocabulary"),
    ("hidden_size", "embedding size"),
    ("num_layers", "layers"),
    ("num_heads", "attention heads"),
    ("num_kv_heads", "KV heads"),
    ("gqa_ratio", "GQA ratio"),
    ("head_dim", "head dim"),
    ("intermediate_size", "MLP size"),
    ("activation", "activation"),
    ("norm_type", "norm"),
    ("norm_eps", "norm eps"),
    ("rope_theta", "rope theta"),
    ("rope_scaling", "rope scaling"),
    ("context_length", "context length"),
    ("tied_embeddings", "tied embeddings"),
    ("params_total", "parameters"),
    ("params_embeddings", "embedding params"),
    ("params_per_layer", "params per layer"),
    ("bits_per_weight", "bits per weight"),
    ("quantized_share", "quantized share"),
    ("has_chat_template", "chat template"),
)


def fmt_value(field: str, value: Any) -> str:
    if value is None or value == {}:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if field.startswith("params"):
        return f"{value:,} ({value / 1e9:.2f} B)" if value >= 1e8 else f"{value:,} ({value / 1e6:.1f} M)"
    if field in ("gqa_ratio", "bits_per_weight"):
        return f"{value:.2f}"
    if field == "quantized_share":
        return f"{value:.0%}"
    if field == "norm_eps":
        return f"{value:.0e}"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def summary_rows(s: ModelSummary) -> list[tuple[str, str]]:
    d = s.to_dict()
    rows = [(label, fmt_value(f, d.get(f))) for f, label in FIELDS]
    if s.quantization:
        q = s.quantization
        text = ", ".join(f"{k} {v}" for k, v in q.items() if k != "unquantized" and v is not None)
        if q.get("unquantized"):
            text += f"; unquantized: {', '.join(q['unquantized'])}"
        rows.append(("quantization", text))
    if s.linear_modules:
        rows.append(("linear modules", ", ".join(f"{c} ×{n}" for c, n in s.linear_modules.items())))
    if s.tensor_types:
        rows.append(("tensor types", ", ".join(f"{t} ×{n}" for t, n in s.tensor_types.items())))
    if s.size_bytes:
        rows.append(("size", size_text(s.size_bytes)))
    if s.notes:
        rows.append(("notes", "; ".join(s.notes)))
    return rows


def compare_rows(a: ModelSummary, b: ModelSummary) -> list[tuple[str, str, str, bool]]:
    """(label, a, b, differs) for each field."""
    ra, rb = dict(summary_rows(a)), dict(summary_rows(b))
    labels = list(dict.fromkeys([*ra, *rb]))
    return [(l, ra.get(l, "—"), rb.get(l, "—"), ra.get(l, "—") != rb.get(l, "—")) for l in labels]


def display_name(s: ModelSummary) -> str:
    return s.name or s.source
