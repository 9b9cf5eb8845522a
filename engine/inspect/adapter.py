"""LoRA adapters: a PEFT folder (adapter_config.json) or a GGUF LoRA (general.type = adapter).

Shows the base model, rank, alpha, target modules, the adapter's trainable parameters
(counted from the tensor shapes in its header, no weights read) and their share of the
base model when the base can be inspected locally.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..models.gguf_file import GGUFHeader


@dataclass
class AdapterSummary:
    source: str
    source_kind: str  # "peft" or "gguf-lora"
    peft_type: str | None = None
    base_model: str | None = None
    rank: int | None = None
    alpha: float | None = None
    target_modules: list[str] = field(default_factory=list)
    dropout: float | None = None
    task_type: str | None = None
    trainable_params: int | None = None
    base_params: int | None = None
    tensors: int = 0
    layers: int | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def share(self) -> float | None:
        if self.trainable_params and self.base_params:
            return self.trainable_params / self.base_params
        return None

    @property
    def scaling(self) -> float | None:
        return self.alpha / self.rank if self.alpha is not None and self.rank else None

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "share": self.share, "scaling": self.scaling}


ROWS = (
    ("source_kind", "adapter"),
    ("peft_type", "type"),
    ("base_model", "base model"),
    ("rank", "rank r"),
    ("alpha", "alpha"),
    ("scaling", "scaling alpha/r"),
    ("target_modules", "target modules"),
    ("layers", "layers adapted"),
    ("tensors", "tensors"),
    ("trainable_params", "trainable params"),
    ("base_params", "base params"),
    ("share", "share of base"),
    ("dropout", "dropout"),
    ("task_type", "task"),
)


def adapter_rows(a: AdapterSummary) -> list[tuple[str, str]]:
    d = a.to_dict()
    out = []
    for key, label in ROWS:
        v = d.get(key)
        if v is None or v == []:
            text = "—"
        elif key == "share":
            text = f"{v:.3%}"
        elif isinstance(v, list):
            text = ", ".join(map(str, v))
        elif isinstance(v, int):
            text = f"{v:,}"
        elif isinstance(v, float):
            text = f"{v:g}"
        else:
            text = str(v)
        out.append((label, text))
    return out + [("note", n) for n in a.notes]


def inspect_peft(folder: Path) -> AdapterSummary:
    from .hf import _load_json, safetensors_entries

    cfg = _load_json(folder / "adapter_config.json")
    targets = cfg.get("target_modules") or []
    targets = [targets] if isinstance(targets, str) else sorted(targets)
    s = AdapterSummary(
        source=str(folder),
        source_kind="peft",
        peft_type=cfg.get("peft_type"),
        base_model=cfg.get("base_model_name_or_path"),
        rank=cfg.get("r"),
        alpha=cfg.get("lora_alpha"),
        target_modules=targets,
        dropout=cfg.get("lora_dropout"),
        task_type=cfg.get("task_type"),
    )
    weights = folder / "adapter_model.safetensors"
    if weights.exists():
        entries = safetensors_entries(weights)
        s.tensors = len(entries)
        s.trainable_params = sum(_prod(shape) for _, shape in entries.values())
        s.layers = len({_layer_of(name) for name in entries} - {None}) or None
    elif (folder / "adapter_model.bin").exists():
        s.notes.append("weights are a pickle (adapter_model.bin): not opened, so no parameter count")
    else:
        s.notes.append("no adapter_model.safetensors in the folder")
    return s


def is_gguf_adapter(h: GGUFHeader) -> bool:
    return h.metadata.get("general.type") == "adapter" or "adapter.type" in h.metadata


def summarise_gguf_adapter(h: GGUFHeader) -> AdapterSummary:
    md = h.metadata
    pairs = [t for t in h.tensors if t.name.endswith(".lora_a")]
    rank = None
    if pairs:  # lora_a is (in, r) in ggml order: r is its second dimension
        rank = int(pairs[0].shape[1]) if len(pairs[0].shape) > 1 else None
    targets = sorted({t.name.split(".")[2] if t.name.startswith("blk.") else t.name.split(".")[0] for t in pairs})
    s = AdapterSummary(
        source=h.path,
        source_kind="gguf-lora",
        peft_type=str(md.get("adapter.type", "lora")).upper(),
        base_model=md.get("general.base_model.0.name") or md.get("general.basename") or md.get("general.name"),
        rank=rank,
        alpha=md.get("adapter.lora.alpha"),
        target_modules=targets,
        trainable_params=sum(t.n_elements for t in h.tensors),
        tensors=len(h.tensors),
        layers=len({t.name.split(".")[1] for t in h.tensors if t.name.startswith("blk.")}) or None,
    )
    if md.get("general.architecture"):
        s.notes.append(f"for {md['general.architecture']} models")
    return s


def _layer_of(name: str) -> str | None:
    parts = name.split(".")
    for i, p in enumerate(parts[:-1]):
        if p in ("layers", "h", "blocks", "layer") and parts[i + 1].isdigit():
            return parts[i + 1]
    return None


def _prod(shape: tuple[int, ...]) -> int:
    n = 1
    for d in shape:
        n *= d
    return n
