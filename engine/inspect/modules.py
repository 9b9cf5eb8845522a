"""Summaries from real ``torch.nn.Module`` trees: a loaded (maybe quantized) model, or one
built on the meta device from a config alone (no weights, nothing downloaded).

Linear layers are classified by module class and by the class of their weight tensor:
  bitsandbytes ``Linear8bitLt`` / ``Linear4bit`` (nf4 or fp4, double quantization),
  optimum-quanto ``QLinear`` (its weight qtype), torchao tensor subclasses inside a plain
  ``nn.Linear`` (``Int8Tensor``, ``AffineQuantizedTensor`` ...), GPTQ ``QuantLinear``
  (auto-gptq, gptqmodel, transformers' own) and AWQ ``WQLinear_*``.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

from ..errors import ModelFileError, SpecError, first_line
from .summary import ModelSummary, Projection

_FLOAT_BITS = {"torch.float32": 32, "torch.float16": 16, "torch.bfloat16": 16, "torch.float64": 64}


@dataclass(frozen=True)
class LinearInfo:
    cls: str  # the class shown: Linear, Linear4bit, QLinear, "Linear[Int8Tensor]" ...
    in_features: int
    out_features: int
    quant: str | None  # None for a plain floating-point Linear
    bits: float
    method: str | None = None  # bitsandbytes, quanto, torchao, gptq, awq
    group_size: int | None = None
    bias: bool = False

    @property
    def params(self) -> int:
        return self.in_features * self.out_features + (self.out_features if self.bias else 0)


def classify_linear(mod: Any) -> LinearInfo | None:
    """What kind of linear layer ``mod`` is, or None when it is not one."""
    cls = type(mod).__name__
    weight = getattr(mod, "weight", None)
    bias = getattr(mod, "bias", None) is not None
    kernel = _kernel_linear(mod, cls, weight, bias)
    if kernel is not None:
        return kernel
    if cls == "Conv1D" and weight is not None and hasattr(mod, "nf"):  # GPT-2 style: weight is (in, out)
        return LinearInfo(cls, int(weight.shape[0]), int(mod.nf), None, _float_bits(weight), bias=bias)
    if weight is None or not hasattr(mod, "in_features") or not hasattr(mod, "out_features"):
        return None
    if "Linear" not in cls and "Linear" not in {c.__name__ for c in type(mod).__mro__}:
        return None
    wcls = type(weight).__name__
    if wcls not in ("Parameter", "Tensor"):  # a tensor subclass: torchao and friends
        group = getattr(weight, "block_size", [None])[-1] if hasattr(weight, "block_size") else None
        return LinearInfo(f"{cls}[{wcls}]", mod.in_features, mod.out_features, f"torchao {wcls}",
                          _subclass_bits(weight), "torchao", group, bias)  # fmt: skip
    return LinearInfo(cls, mod.in_features, mod.out_features, None, _float_bits(weight), bias=bias)


def _kernel_linear(mod: Any, cls: str, weight: Any, bias: bool) -> LinearInfo | None:
    """The quantized linear module classes: bitsandbytes, quanto, GPTQ and AWQ kernels."""
    if cls == "Linear8bitLt":
        return LinearInfo(cls, mod.in_features, mod.out_features, "bnb int8", 8, "bitsandbytes", bias=bias)
    if cls == "Linear4bit":
        qs = getattr(weight, "quant_state", None)
        kind = getattr(qs, "quant_type", None) or getattr(weight, "quant_type", "nf4")
        dq = "+dq" if getattr(weight, "compress_statistics", False) else ""
        group = getattr(qs, "blocksize", None) or getattr(weight, "blocksize", None)
        return LinearInfo(cls, mod.in_features, mod.out_features, f"bnb {kind}{dq}", 4, "bitsandbytes", group, bias)
    if cls == "QLinear" and hasattr(mod, "weight_qtype"):
        qtype = mod.weight_qtype
        name, bits = getattr(qtype, "name", str(qtype)), float(getattr(qtype, "bits", 8))
        return LinearInfo(cls, mod.in_features, mod.out_features, f"quanto {name}", bits, "quanto", bias=bias)
    if "QuantLinear" in cls:  # GPTQ kernels: auto-gptq, gptqmodel, optimum, transformers
        i = getattr(mod, "in_features", None) or getattr(mod, "infeatures", 0)
        o = getattr(mod, "out_features", None) or getattr(mod, "outfeatures", 0)
        bits = getattr(mod, "bits", 4)
        return LinearInfo(cls, i, o, f"gptq {bits}-bit", float(bits), "gptq", getattr(mod, "group_size", None), bias)
    if cls.startswith("WQLinear"):
        bits = getattr(mod, "w_bit", 4)
        group = getattr(mod, "group_size", None)
        return LinearInfo(cls, mod.in_features, mod.out_features, f"awq {bits}-bit", float(bits), "awq", group, bias)
    return None


def _float_bits(weight: Any) -> float:
    return float(_FLOAT_BITS.get(str(getattr(weight, "dtype", "")), 16))


def _subclass_bits(weight: Any) -> float:
    name = type(weight).__name__.lower()
    for token, bits in (("int4", 4), ("uint4", 4), ("int8", 8), ("float8", 8), ("fp8", 8), ("nvfp4", 4), ("mx", 8)):
        if token in name:
            return float(bits)
    for attr in ("qdata", "int_data", "tensor_impl"):
        inner = getattr(weight, attr, None)
        dtype = str(getattr(inner, "dtype", ""))
        if "int8" in dtype or "float8" in dtype:
            return 8.0
        if "int4" in dtype or "uint4" in dtype:
            return 4.0
    return 8.0


# ---------------------------------------------------------------- module tree


@dataclass
class ModuleNode:
    """One module; ``count`` > 1 when identical siblings are folded into one node (×N)."""

    name: str
    cls: str
    detail: str = ""
    params: int = 0  # this module and its children (logical weights, unpacked)
    count: int = 1
    children: list[ModuleNode] = field(default_factory=list)

    def signature(self) -> tuple:
        return (self.cls, self.detail, self.params, tuple((c.name, c.count, c.signature()) for c in self.children))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _detail(mod: Any, info: LinearInfo | None) -> str:
    if info is not None:
        text = f"{info.in_features}→{info.out_features}"
        if info.bias:
            text += " +bias"
        if info.quant:
            text += f" {info.quant}"
        return text
    cls = type(mod).__name__
    if cls == "Embedding" or hasattr(mod, "num_embeddings"):
        return f"{getattr(mod, 'num_embeddings', '?')}×{getattr(mod, 'embedding_dim', '?')}"
    if "Norm" in cls:
        weight = getattr(mod, "weight", None)
        eps = getattr(mod, "variance_epsilon", getattr(mod, "eps", None))
        dim = tuple(weight.shape)[0] if weight is not None and len(weight.shape) else None
        return " ".join(x for x in (f"dim {dim}" if dim else "", f"eps {eps:g}" if isinstance(eps, float) else "") if x)
    act = getattr(mod, "act_fn", None)
    if act is not None and cls.endswith("MLP"):
        return type(act).__name__
    return ""


def _own_params(mod: Any, info: LinearInfo | None) -> int:
    if info is not None:
        return info.params
    return sum(p.numel() for p in mod.parameters(recurse=False))


def module_tree(model: Any, name: str = "") -> ModuleNode:
    """The model's module tree with runs of identical siblings folded into one node."""
    info = classify_linear(model)
    children = [] if info is not None else [module_tree(child, n) for n, child in model.named_children()]
    node = ModuleNode(
        name or type(model).__name__,
        type(model).__name__,
        _detail(model, info),
        _own_params(model, info) + sum(c.params * c.count for c in children),
        1,
        fold_siblings(children),
    )
    return node


def fold_siblings(children: list[ModuleNode]) -> list[ModuleNode]:
    out: list[ModuleNode] = []
    for child in children:
        last = out[-1] if out else None
        if (
            last is not None
            and child.name.isdigit()
            and last.name.split("-")[0].isdigit()
            and last.signature() == child.signature()
        ):
            start = last.name.split("-")[0]
            last.count += 1
            last.name = f"{start}-{child.name}"
        else:
            out.append(child)
    return out


def tree_lines(node: ModuleNode, depth: int = 0, max_depth: int = 99) -> list[str]:
    """print(model)-like text of a folded tree, for the CLI and Markdown."""
    times = f" ×{node.count}" if node.count > 1 else ""
    detail = f" ({node.detail})" if node.detail else ""
    lines = [f"{'  ' * depth}{node.name}: {node.cls}{times}{detail}"]
    if depth < max_depth:
        for child in node.children:
            lines += tree_lines(child, depth + 1, max_depth)
    return lines


# ---------------------------------------------------------------- summaries


def _blocks(model: Any) -> tuple[str, Any] | None:
    """(path, ModuleList) of the decoder blocks: the longest ModuleList in the model."""
    best = None
    for path, mod in model.named_modules():
        if type(mod).__name__ == "ModuleList" and len(mod) and (best is None or len(mod) > len(best[1])):
            best = (path, mod)
    return best


def _short_names(names: list[str]) -> dict[str, str]:
    """The last path component when it is unique, else the path with digits folded."""
    last = [n.rsplit(".", 1)[-1] for n in names]
    out = {}
    for full, leaf in zip(names, last):
        out[full] = leaf if last.count(leaf) == 1 else re.sub(r"\.\d+\.", ".*.", full)
    return out


def summarise_model(model: Any, source: str, kind: str, base: ModelSummary | None = None) -> ModelSummary:
    """A ModelSummary from the modules themselves, with config fields from ``base`` or the config."""
    s = base or summary_from_config_object(getattr(model, "config", None), source, kind)
    s.source, s.source_kind = source, kind
    s.architecture = s.architecture or type(model).__name__
    linears: dict[str, LinearInfo] = {}
    total = 0
    for path, mod in model.named_modules():
        info = classify_linear(mod)
        if info is not None:
            linears[path] = info
            total += info.params
        elif not any(path.startswith(p + ".") for p in linears):
            total += sum(p.numel() for p in mod.parameters(recurse=False))
    tied = _tied(model)
    if tied:  # the output head's weight is the embedding's: count it once
        head = _output_head(model, linears)
        if head is not None:
            total -= linears[head].params
    counts: dict[str, int] = {}
    for info in linears.values():
        counts[info.cls] = counts.get(info.cls, 0) + 1
    _first_block(model, linears, s)
    embed = model.get_input_embeddings() if hasattr(model, "get_input_embeddings") else None
    if embed is not None and getattr(embed, "weight", None) is not None:
        s.params_embeddings = embed.weight.numel()
    q_params = sum(i.params for i in linears.values() if i.quant)
    lin_params = sum(i.params for i in linears.values())
    s.params_total = total
    s.linear_modules = dict(sorted(counts.items(), key=lambda kv: -kv[1]))
    s.quantized_share = q_params / lin_params if lin_params else 0.0
    s.tied_embeddings = tied if s.tied_embeddings is None else s.tied_embeddings
    if not _on_meta(model):
        s.size_bytes = storage_bytes(model)
        s.bits_per_weight = s.size_bytes * 8 / total if total else None
    _quantization(linears, s)
    return s


def _first_block(model: Any, linears: dict[str, LinearInfo], s: ModelSummary) -> None:
    """The projections of the first decoder block, the number of blocks and their size."""
    block = _blocks(model)
    s.projections = []
    if block is None:
        return
    prefix = f"{block[0]}.0." if block[0] else "0."
    layer0 = [p for p in linears if p.startswith(prefix)]
    names = _short_names([p[len(prefix) :] for p in layer0])
    for p in layer0:
        i = linears[p]
        s.projections.append(Projection(names[p[len(prefix) :]], i.in_features, i.out_features, i.cls, i.quant,
                                        i.bits if i.quant else None))  # fmt: skip
    s.num_layers = s.num_layers or len(block[1])
    if not linears:
        s.params_per_layer = sum(x.numel() for x in block[1][0].parameters())
        return
    rest = (x.numel() for n, m in block[1][0].named_modules() if (prefix + n) not in linears
            for x in m.parameters(recurse=False))  # fmt: skip
    s.params_per_layer = sum(linears[p].params for p in layer0) + sum(rest)


def _quantization(linears: dict[str, LinearInfo], s: ModelSummary) -> None:
    """What the modules are wins over what the config says; the config fills the gaps."""
    quantized = [i for i in linears.values() if i.quant]
    if not quantized:
        return
    first = quantized[0]
    info = {"method": first.method, "bits": first.bits, "group_size": first.group_size,
            "unquantized": sorted({_short_names([p])[p] for p, i in linears.items() if not i.quant})}  # fmt: skip
    for key, value in (s.quantization or {}).items():
        if info.get(key) is None:
            info[key] = value
    s.quantization = info


def storage_bytes(model: Any) -> int:
    """Bytes the parameters and buffers really occupy, looking inside quantized tensors.

    transformers' get_memory_footprint() takes a tensor subclass's outer dtype at face
    value (a torchao or quanto int8 weight reports 4 bytes per element) and misses
    bitsandbytes' quantization state; this counts the inner tensors instead.
    """
    seen: set[int] = set()
    total = 0
    for t in [*model.parameters(), *model.buffers()]:
        if id(t) not in seen:
            seen.add(id(t))
            total += tensor_bytes(t)
    return total


def tensor_bytes(t: Any, depth: int = 0) -> int:
    if t is None or depth > 4:
        return 0
    flatten = getattr(t, "__tensor_flatten__", None)
    if flatten is not None and type(t).__name__ not in ("Parameter", "Tensor", "Params4bit", "Int8Params"):
        try:
            names, _ = flatten()
            return sum(tensor_bytes(getattr(t, n, None), depth + 1) for n in names)
        except Exception:  # noqa: BLE001 - an odd subclass: fall back to its outer size
            pass
    n = t.numel() * t.element_size()
    state = getattr(t, "quant_state", None)  # bitsandbytes 4-bit: absmax per block (+ nested state)
    while state is not None and depth < 4:
        n += tensor_bytes(getattr(state, "absmax", None), depth + 1)
        state, depth = getattr(state, "state2", None), depth + 1
    scb = getattr(t, "SCB", None)  # bitsandbytes 8-bit: one scale per output row
    if scb is not None and hasattr(scb, "numel"):
        n += scb.numel() * scb.element_size()
    return n


def _on_meta(model: Any) -> bool:
    p = next(iter(model.parameters()), None)
    return p is not None and str(p.device) == "meta"


def _tied(model: Any) -> bool:
    emb = model.get_input_embeddings() if hasattr(model, "get_input_embeddings") else None
    out = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    if emb is None or out is None:
        return False
    a, b = getattr(emb, "weight", None), getattr(out, "weight", None)
    if a is None or b is None:
        return False
    if a is b:
        return True
    cfg = getattr(model, "config", None)
    return bool(getattr(cfg, "tie_word_embeddings", False)) and _on_meta(model)


def _output_head(model: Any, linears: dict[str, LinearInfo]) -> str | None:
    out = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    for path, mod in model.named_modules():
        if mod is out and path in linears:
            return path
    return None


def summary_from_config_object(cfg: Any, source: str, kind: str) -> ModelSummary:
    """The config fields every family shares (transformers maps aliases to these names)."""
    if cfg is None:
        return ModelSummary(source=source, source_kind=kind)

    def get(*names: str) -> Any:
        for n in names:
            v = getattr(cfg, n, None)
            if v is not None:
                return v
        return None

    text = getattr(cfg, "get_text_config", lambda: cfg)()
    hidden, heads = getattr(text, "hidden_size", None), getattr(text, "num_attention_heads", None)
    kv = getattr(text, "num_key_value_heads", None) or heads
    head_dim = getattr(text, "head_dim", None) or (hidden // heads if hidden and heads else None)
    rms = getattr(text, "rms_norm_eps", None)
    # transformers 5 keeps rope_theta inside rope_parameters (older: rope_theta + rope_scaling)
    rope = getattr(text, "rope_parameters", None) or getattr(text, "rope_scaling", None)
    rope_theta = getattr(text, "rope_theta", None)
    rope_scaling = rope
    if isinstance(rope, dict):
        rope_theta = rope_theta or rope.get("rope_theta")
        rest = {k: v for k, v in rope.items() if k != "rope_theta"}
        rope_scaling = None if rest.get("rope_type", "default") == "default" and len(rest) <= 1 else rest
    quant = get("quantization_config")
    quant = quant.to_dict() if hasattr(quant, "to_dict") else quant
    info = None
    if isinstance(quant, dict):
        info = {
            k: v
            for k, v in {
                "method": quant.get("quant_method"),
                "bits": quant.get("bits"),
                "group_size": quant.get("group_size"),
            }.items()
            if v is not None
        }
    return ModelSummary(
        source=source,
        source_kind=kind,
        name=getattr(cfg, "_name_or_path", None) or None,
        architecture=(get("architectures") or [None])[0],
        model_type=get("model_type"),
        vocab_size=getattr(text, "vocab_size", None),
        hidden_size=hidden,
        num_layers=getattr(text, "num_hidden_layers", None),
        num_heads=heads,
        num_kv_heads=kv,
        head_dim=head_dim,
        intermediate_size=getattr(text, "intermediate_size", None),
        activation=getattr(text, "hidden_act", None) or getattr(text, "hidden_activation", None),
        norm_type="RMSNorm" if rms is not None else ("LayerNorm" if getattr(text, "layer_norm_eps", None) else None),
        norm_eps=rms if rms is not None else getattr(text, "layer_norm_eps", None),
        rope_theta=rope_theta,
        rope_scaling=rope_scaling,
        context_length=getattr(text, "max_position_embeddings", None),
        tied_embeddings=getattr(cfg, "tie_word_embeddings", None),
        quantization=info or None,
    )


def build_on_meta(cfg_dict: dict, source: str, trust_remote_code: bool = False):
    """The model class built from a config dict on the meta device: the real module tree, no weights."""
    from ..models.hf_load import transformers

    tf = transformers()
    import torch

    cfg_dict = {k: v for k, v in cfg_dict.items() if k != "quantization_config"}
    model_type = cfg_dict.get("model_type")
    if not model_type:
        raise SpecError(f"{source}: config.json has no model_type, so no model class can be built")
    try:
        config = tf.AutoConfig.for_model(**cfg_dict)
    except (ValueError, KeyError):
        raise SpecError(f"{source}: transformers {tf.__version__} does not know model_type {model_type!r}") from None
    except TypeError as exc:
        raise ModelFileError(f"{source}: config.json does not fit {model_type!r} ({exc})") from None
    try:
        with torch.device("meta"):
            return tf.AutoModelForCausalLM.from_config(config, trust_remote_code=trust_remote_code)
    except ValueError:
        try:
            with torch.device("meta"):
                return tf.AutoModel.from_config(config, trust_remote_code=trust_remote_code)
        except Exception as exc:  # noqa: BLE001 - any model class failure is the config's problem to report
            raise SpecError(f"{source}: transformers cannot build {model_type!r} from this config ({exc})") from None
    except (TypeError, AttributeError, RuntimeError, IndexError, ZeroDivisionError) as exc:
        first = first_line(exc)
        raise ModelFileError(f"{source}: config.json has values the {model_type!r} class rejects ({first})") from None
