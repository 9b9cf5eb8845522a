"""Summarise a GGUF from its header: metadata keys and the tensor table."""

from __future__ import annotations

from pathlib import Path

from ..models.gguf_file import GGUFHeader, read_header, type_bits
from .modules import ModuleNode, fold_siblings
from .summary import ModelSummary, Projection, checked_size

# GGUF tensor names in a block -> the Hugging Face projection names
_PROJECTIONS = {
    "attn_q": "q_proj",
    "attn_k": "k_proj",
    "attn_v": "v_proj",
    "attn_qkv": "qkv_proj",
    "attn_output": "o_proj",
    "ffn_gate": "gate_proj",
    "ffn_up": "up_proj",
    "ffn_down": "down_proj",
}


def inspect_gguf(path: str | Path) -> ModelSummary:
    return summarise(read_header(path))


# long: one line per field of the summary, read from the source in display order; splitting it
# would scatter the one mapping a reader checks against the file format.
def summarise(h: GGUFHeader) -> ModelSummary:
    md, arch = h.metadata, h.arch or ""

    def key(name: str):
        return md.get(f"{arch}.{name}")

    def size(name: str, kind: str) -> int | None:
        """A size key (the first of a per-layer list), checked against SIZE_LIMITS; absent: None."""
        value = key(name)
        value = value[0] if isinstance(value, list) and value else value
        return None if value is None else checked_size(value, kind, f"{h.path}: {arch}.{name}")

    tensors = {t.name: t for t in h.tensors}
    embd = tensors.get("token_embd.weight")
    heads = size("attention.head_count", "num_attention_heads")  # (per-layer lists in some archs)
    kv_heads = size("attention.head_count_kv", "num_key_value_heads") or heads
    hidden = size("embedding_length", "hidden_size")
    head_dim = size("attention.key_length", "head_dim") or (hidden // heads if hidden and heads else None)
    vocab = size("vocab_size", "vocab_size") or (embd.shape[1] if embd is not None and len(embd.shape) > 1 else None)
    tokens = md.get("tokenizer.ggml.tokens")
    if vocab is None and tokens is not None:
        vocab = getattr(tokens, "count", None) or len(tokens)
    rms = key("attention.layer_norm_rms_epsilon")
    eps = rms if rms is not None else key("attention.layer_norm_epsilon")
    ffn = size("feed_forward_length", "intermediate_size")

    total = sum(t.n_elements for t in h.tensors)
    bits = sum(t.n_bytes for t in h.tensors) * 8 / total if total else None
    layer0 = [t for t in h.tensors if t.name.startswith("blk.0.")]
    projections = []
    for t in layer0:
        part = t.name.removeprefix("blk.0.").removesuffix(".weight")
        if part in _PROJECTIONS and len(t.shape) == 2:
            projections.append(
                Projection(
                    _PROJECTIONS[part],
                    t.shape[0],
                    t.shape[1],
                    f"ggml {t.ggml_type}",
                    None if t.ggml_type in ("F32", "F16", "BF16") else t.ggml_type,
                    round(type_bits(t.ggml_type), 3),
                )
            )
    order = list(_PROJECTIONS.values())
    projections.sort(key=lambda p: order.index(p.name))
    linear = {}
    for t in h.tensors:
        if len(t.shape) == 2 and t.name != "token_embd.weight":
            linear[f"ggml {t.ggml_type}"] = linear.get(f"ggml {t.ggml_type}", 0) + 1
    quantized = [t for t in h.tensors if len(t.shape) == 2 and t.ggml_type not in ("F32", "F16", "BF16")]
    two_d = [t for t in h.tensors if len(t.shape) == 2]
    scaling = key("rope.scaling.type")
    return ModelSummary(
        source=h.path,
        source_kind="gguf",
        name=md.get("general.name"),
        architecture=arch or None,
        model_type=arch or None,
        vocab_size=vocab,
        hidden_size=hidden,
        num_layers=size("block_count", "num_hidden_layers"),
        num_heads=heads,
        num_kv_heads=kv_heads,
        head_dim=head_dim,
        intermediate_size=ffn,
        activation=None,
        norm_type="RMSNorm" if rms is not None else ("LayerNorm" if eps is not None else None),
        norm_eps=eps,
        rope_theta=key("rope.freq_base"),
        rope_scaling={"type": scaling, "factor": key("rope.scaling.factor")} if scaling else None,
        context_length=key("context_length"),
        tied_embeddings="output.weight" not in tensors,
        params_total=total,
        params_embeddings=embd.n_elements if embd is not None else None,
        params_per_layer=sum(t.n_elements for t in layer0) or None,
        projections=projections,
        linear_modules=dict(sorted(linear.items())),
        quantization={
            "method": "gguf",
            "file_type": h.quant,
            "bits": round(bits, 3) if bits else None,
            "group_size": None,
        },
        quantized_share=(sum(t.n_elements for t in quantized) / sum(t.n_elements for t in two_d)) if two_d else None,
        bits_per_weight=bits,
        tensor_types=dict(h.tensor_types.most_common()),
        has_chat_template=h.has_chat_template,
        size_bytes=h.size_bytes,
    )


def gguf_tree(h: GGUFHeader) -> ModuleNode:
    """The tensor table as a module tree: blocks with identical tensor types fold into "×N"."""
    root = ModuleNode(h.name or "model", f"gguf {h.arch or '?'}", h.quant or "", 0)
    blocks: dict[int, ModuleNode] = {}
    for t in h.tensors:
        parts = t.name.split(".")
        leaf = ModuleNode(
            ".".join(parts[2:] if parts[0] == "blk" else parts).removesuffix(".weight"),
            t.ggml_type,
            "×".join(str(d) for d in t.shape),
            t.n_elements,
        )
        if parts[0] == "blk" and len(parts) > 2 and parts[1].isdigit():
            i = int(parts[1])
            if i not in blocks:
                blocks[i] = ModuleNode(str(i), "block")
            blocks[i].children.append(leaf)
            blocks[i].params += t.n_elements
        else:
            root.children.append(leaf)
    layers = ModuleNode(
        "blk",
        "blocks",
        f"{len(blocks)} layers",
        sum(b.params for b in blocks.values()),
        1,
        fold_siblings([blocks[i] for i in sorted(blocks)]),
    )
    if blocks:
        at = next((k for k, c in enumerate(root.children) if c.name.startswith("output")), len(root.children))
        root.children.insert(at, layers)
    root.params = sum(t.n_elements for t in h.tensors)
    return root
