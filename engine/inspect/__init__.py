"""Model architecture inspection without loading weights.

``inspect_source(src)`` takes a GGUF file, a Hugging Face model folder, a bare
``config.json`` or a registry name, and returns a ``ModelSummary`` with the same
fields for every source ("—" where a source cannot tell).
"""

from __future__ import annotations

from pathlib import Path

from ..errors import ModelFileError, SpecError
from .summary import ModelSummary, Projection

__all__ = ["inspect_source", "ModelSummary", "Projection"]


def inspect_source(src: str) -> ModelSummary:
    from .. import models

    path = Path(src.removeprefix("gguf:")).expanduser()
    if not path.exists():
        kind, value = models.parse_spec(src)
        if kind == "name":
            return inspect_source(models.resolve(src).path)  # a registry name
        raise ModelFileError(f"{path}: no such file or folder")
    if path.is_dir():
        from .hf import inspect_folder

        return inspect_folder(path)
    if path.name.endswith(".json"):
        from .hf import inspect_config_file

        return inspect_config_file(path)
    with path.open("rb") as fh:
        magic = fh.read(4)
    if magic == b"GGUF":
        from .gguf import inspect_gguf

        return inspect_gguf(path)
    if path.suffix == ".safetensors":
        raise SpecError(f"{path}: a weights file alone has no architecture; inspect its folder (with config.json)")
    raise ModelFileError(f"{path}: not a model (expected a .gguf file, a model folder or a config.json)")
