"""Model specs: the one way a model is named everywhere (CLI and TUI).

  * a registry name: a built-in demo model (``smollm2``, ``gemma3-270m``) or one added
    with ``llmbench models add NAME PATH``;
  * ``gguf:PATH``, or any path ending in ``.gguf``;
  * ``hf:PATH_OR_NAME?dtype=..&quant=..``: transformers (``hf_load``);
  * ``openai:BASE_URL#MODEL``: an OpenAI-compatible server (``remote_spec``).

``resolve`` turns a spec into a checked ``ModelInfo`` without loading anything.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from ..errors import ModelFileError, SpecError
from ..util.files import cached_sha256, loads_json
from .gguf_file import read_header
from .info import ModelInfo
from .registry import named_gguf

SPEC_PREFIXES = ("gguf", "hf", "openai")


def parse_spec(spec: str) -> tuple[str, str]:
    """Split a spec into (kind, value): ("gguf", path), ("name", name), ("hf", repo) ..."""
    spec = spec.strip()
    if not spec:
        raise SpecError("empty model spec: give a model name (e.g. smollm2) or a .gguf path")
    prefix, sep, rest = spec.partition(":")
    if sep and prefix in SPEC_PREFIXES:
        if not rest:
            raise SpecError(f"{spec!r}: nothing after '{prefix}:'")
        return prefix, rest
    if spec.lower().endswith(".gguf") or "/" in spec or spec.startswith("."):
        return "gguf", spec
    return "name", spec


def describe_gguf(path: str, name: str, spec: str, sha256: str | None = None) -> ModelInfo:
    header = read_header(path)
    return ModelInfo(
        spec=spec,
        name=name,
        backend="llama.cpp",
        path=header.path,
        size_bytes=header.size_bytes,
        quant=header.quant,
        arch=header.arch,
        has_chat_template=header.has_chat_template,
        sha256=sha256,
    )


def describe_hf(spec: str) -> ModelInfo:
    """``hf:PATH?opts``: checked (options, path, safetensors) without importing torch."""
    from .hf_load import parse_hf_spec
    from .registry import DEMO_MODELS

    hf = parse_hf_spec(spec)
    arch, template, size, sha = None, False, 0, None
    if hf.is_gguf:
        gguf = describe_gguf(str(hf.path), name=hf.label, spec=spec)
        arch, template, size = gguf.arch, gguf.has_chat_template, gguf.size_bytes
        sha = DEMO_MODELS[hf.base].sha256 if hf.base in DEMO_MODELS else None
    elif hf.path.is_dir():
        try:
            config = loads_json((hf.path / "config.json").read_text())
        except (OSError, ValueError) as exc:
            raise ModelFileError(f"{hf.path / 'config.json'}: missing or not JSON ({exc})") from None
        arch = config.get("model_type")
        weights = [*hf.path.glob("*.safetensors"), *(hf.path.glob("*.bin") if hf.allow_pickle else [])]
        size = sum(w.stat().st_size for w in weights)
        template = (hf.path / "chat_template.jinja").exists() or "chat_template" in _read_json(
            hf.path / "tokenizer_config.json"
        )
    else:
        raise ModelFileError(f"{hf.path}: an hf: model is a model folder or a .gguf file")
    return ModelInfo(
        spec=spec,
        name=hf.label,
        backend="hf",
        path=str(hf.path),
        size_bytes=size,
        quant=hf.variant,
        arch=arch,
        has_chat_template=template,
        sha256=sha,
    )


def _read_json(path: Path) -> dict:
    try:
        data = loads_json(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def resolve(spec: str) -> ModelInfo:
    """Turn a spec into a validated ModelInfo, or raise SpecError / ModelFileError."""
    kind, value = parse_spec(spec)
    if kind == "gguf":
        path = Path(value).expanduser()
        return describe_gguf(str(path), name=path.stem, spec=spec)
    if kind == "hf":
        return describe_hf(spec)
    if kind == "openai":
        from .remote_spec import describe_remote

        return describe_remote(spec)
    path, demo = named_gguf(value)
    return describe_gguf(str(path), name=value, spec=spec, sha256=demo.sha256 if demo else None)


def with_sha256(info: ModelInfo) -> ModelInfo:
    """The model with its file's sha256 (a folder or a server has none)."""
    if info.sha256 or info.backend == "openai" or not Path(info.path).is_file():
        return info
    return dataclasses.replace(info, sha256=cached_sha256(info.path))
