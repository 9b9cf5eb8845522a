"""``inspect_source``: any model source to its summary (see the package's docstring)."""

from __future__ import annotations

from pathlib import Path

from ..errors import LlmbenchError, ModelFileError, SpecError
from .adapter import AdapterSummary
from .summary import ModelSummary


def inspect_source(src: str, tree: bool = False, meta: bool = True) -> ModelSummary | AdapterSummary:
    """``meta=False``: never import transformers (an unknown family raises UnknownFamily)."""
    from ..models import spec as model_spec

    src = src.strip()
    if src.startswith("hf:"):
        return inspect_loaded(src)
    path = Path(src.removeprefix("gguf:")).expanduser()
    if not path.exists():
        kind, _ = model_spec.parse_spec(src)
        if kind == "name":
            return inspect_source(model_spec.resolve(src).path, tree, meta)  # a registry name
        raise ModelFileError(f"{path}: no such file or folder")
    if path.is_dir():
        if (path / "adapter_config.json").exists() and not (path / "config.json").exists():
            from .adapter import inspect_peft

            return _with_base(inspect_peft(path))
        from .hf import inspect_folder

        return _with_modules(inspect_folder, path, tree, meta)
    if path.name.endswith(".json"):
        from .hf import inspect_config_file

        return _with_modules(inspect_config_file, path, tree, meta)
    with path.open("rb") as fh:
        magic = fh.read(4)
    if magic == b"GGUF":
        from ..models.gguf_file import read_header
        from .adapter import is_gguf_adapter, summarise_gguf_adapter
        from .gguf import gguf_tree, summarise

        header = read_header(path)
        if is_gguf_adapter(header):
            return _with_base(summarise_gguf_adapter(header))
        summary = summarise(header)
        if tree:
            summary.module_tree = gguf_tree(header)
        return summary
    if path.suffix == ".safetensors":
        raise SpecError(f"{path}: a weights file alone has no architecture; inspect its folder (with config.json)")
    raise ModelFileError(f"{path}: not a model (expected a .gguf file, a model folder or a config.json)")


def _with_modules(read, path: Path, tree: bool, meta: bool) -> ModelSummary:
    """The config summary; with the meta-device module tree when asked, or when the family is unknown."""
    from .hf import UnknownFamily, _load_json, check_sizes

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
    cfg = _load_json(config)
    check_sizes(cfg, str(config))  # before transformers builds a module per layer of them
    try:
        model = build_on_meta(cfg, str(config))
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
        out.notes.append(
            "family unknown to the config reader: fields from transformers' model class on the meta device"
        )
    out.module_tree = module_tree(model)
    return out


def inspect_loaded(spec: str) -> ModelSummary:
    """Load ``hf:PATH?quant=..`` with transformers and summarise the real modules."""
    from ..models.hf_load import load_model, parse_hf_spec
    from .modules import module_tree, summarise_model

    hf = parse_hf_spec(spec)
    loaded = load_model(hf)
    summary = summarise_model(loaded.model, spec, "hf-loaded")
    summary.name = hf.label
    summary.module_tree = module_tree(loaded.model)
    summary.notes.append(f"loaded with transformers in {loaded.load_s:.2f} s from {loaded.folder}")
    return summary


def _with_base(s: AdapterSummary) -> AdapterSummary:
    """The base model's parameter count when it can be inspected here (no download)."""
    if not s.base_model:
        return s
    base = Path(s.base_model).expanduser()
    if not base.is_absolute():
        near = Path(s.source).parent / base if Path(s.source).is_file() else Path(s.source) / base
        base = near if near.exists() else base
    try:
        summary = inspect_source(str(base)) if base.exists() else None
    except LlmbenchError as exc:
        s.notes.append(f"base model not inspected: {exc}")
        return s
    if summary is None:
        s.notes.append(f"base model {s.base_model!r} is not on this machine; share of base unknown")
        return s
    s.base_params = getattr(summary, "params_total", None)
    return s
