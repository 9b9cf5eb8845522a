"""Model architecture inspection.

``inspect_source(src)`` takes a GGUF file, a Hugging Face model folder, a bare
``config.json``, a registry name, a LoRA adapter (PEFT folder or GGUF), or an
``hf:PATH?quant=..`` spec that loads the model with transformers, and returns a
``ModelSummary`` (an ``AdapterSummary`` for adapters) with the same fields for every
source ("—" where a source cannot tell).

Only ``hf:`` specs load weights. ``tree=True`` adds the module tree: built on the
meta device for configs (transformers, no weights), read from the tensor table for
GGUF files. A config whose family the fast config reader does not know is built on
the meta device in any case.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import ModelFileError, SpecError
from .adapter import AdapterSummary
from .summary import ModelSummary, Projection

__all__ = ["inspect_source", "AdapterSummary", "ModelSummary", "Projection"]


def inspect_source(src: str, tree: bool = False, meta: bool = True) -> ModelSummary | AdapterSummary:
    """``meta=False``: never import transformers (an unknown family raises UnknownFamily)."""
    from .. import models

    src = src.strip()
    if src.startswith("hf:"):
        return inspect_loaded(src)
    path = Path(src.removeprefix("gguf:")).expanduser()
    if not path.exists():
        kind, _ = models.parse_spec(src)
        if kind == "name":
            return inspect_source(models.resolve(src).path, tree, meta)  # a registry name
        raise ModelFileError(f"{path}: no such file or folder")
    if path.is_dir():
        if (path / "adapter_config.json").exists() and not (path / "config.json").exists():
            from .adapter import inspect_peft

            return inspect_peft(path)
        from .hf import inspect_folder

        return _with_modules(inspect_folder, path, tree, meta)
    if path.name.endswith(".json"):
        from .hf import inspect_config_file

        return _with_modules(inspect_config_file, path, tree, meta)
    with path.open("rb") as fh:
        magic = fh.read(4)
    if magic == b"GGUF":
        from ..gguf_file import read_header
        from .adapter import is_gguf_adapter, summarise_gguf_adapter
        from .gguf import gguf_tree, summarise

        header = read_header(path)
        if is_gguf_adapter(header):
            return summarise_gguf_adapter(header)
        summary = summarise(header)
        if tree:
            summary.module_tree = gguf_tree(header)
        return summary
    if path.suffix == ".safetensors":
        raise SpecError(f"{path}: a weights file alone has no architecture; inspect its folder (with config.json)")
    raise ModelFileError(f"{path}: not a model (expected a .gguf file, a model folder or a config.json)")


def _with_modules(read, path: Path, tree: bool, meta: bool) -> ModelSummary:
    """The config summary; with the meta-device module tree when asked, or when the family is unknown."""
    from .hf import UnknownFamily, _load_json

    try:
        summary = read(path)
        unknown = None
    except UnknownFamily as exc:
        summary, unknown = None, exc
    if summary is not None and not tree:
        return summary
    if unknown is not None and not meta:
        raise unknown
    from ..errors import BackendUnavailable
    from .modules import build_on_meta, module_tree, summarise_model

    config = path / "config.json" if path.is_dir() else path
    try:
        model = build_on_meta(_load_json(config), str(config))
    except BackendUnavailable as exc:
        raise (unknown or exc) from None
    kind = "hf-folder" if path.is_dir() else "config"
    if summary is not None:
        # the config's quantization_config describes the checkpoint; the meta model is plain
        keep = {k: getattr(summary, k) for k in ("quantization", "projections", "linear_modules", "quantized_share")}
        out = summarise_model(model, str(path), kind, summary)
        for k, v in keep.items():
            setattr(out, k, v)
    else:
        out = summarise_model(model, str(path), kind)
        out.name = out.name or (path.name if path.is_dir() else path.parent.name)
        out.notes.append("family unknown to the config reader: fields from transformers' model class on the meta device")
    out.module_tree = module_tree(model)
    return out


def inspect_loaded(spec: str) -> ModelSummary:
    """Load ``hf:PATH?quant=..`` with transformers and summarise the real modules."""
    from ..hf_load import load_model, parse_hf_spec
    from .modules import module_tree, summarise_model

    hf = parse_hf_spec(spec)
    loaded = load_model(hf)
    summary = summarise_model(loaded.model, spec, "hf-loaded")
    summary.name = hf.label
    summary.module_tree = module_tree(loaded.model)
    summary.notes.append(f"loaded with transformers in {loaded.load_s:.2f} s from {loaded.folder}")
    return summary
