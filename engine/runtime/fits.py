"""Will a model fit? Checked before a worker loads it, from the Inspect memory estimate.

The estimate is ``inspect.memory``'s: the weights in the format the backend will
hold them (the GGUF file as it is under llama.cpp; fp32, bf16, int8 or 4-bit under
transformers), the KV cache at the contestant's n_ctx, and the runtime's overhead.
It is compared with the memory that is free now: the smallest of the RAM the
kernel calls available, what the cgroup (container) limit leaves, and
``LLMBENCH_MAX_RAM`` when set (e.g. ``8G``, to plan for a smaller machine). Layers
offloaded to a GPU are checked against its free memory instead. A remote model
costs this machine nothing. ``--force`` skips the check.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import LlmbenchError, SpecError
from ..models.info import ModelInfo
from ..models.quant_methods import PRECISIONS
from ..util.files import loads_json
from ..util.fmt import GIB, MIB, size_text
from .params import GenParams


class DoesNotFit(LlmbenchError):
    """A model that needs more memory than this machine has free."""

    code = "memory"


@dataclass(frozen=True)
class Estimate:
    weights: int
    kv: int
    overhead: int
    where: str  # "RAM" or "GPU"

    @property
    def total(self) -> int:
        return self.weights + self.kv + self.overhead

    def parts(self) -> str:
        return f"weights {size_text(self.weights)} + KV cache {size_text(self.kv)} + runtime {size_text(self.overhead)}"


def parse_size(text: str) -> int:
    """``8G``, ``512M``, ``300MiB``, ``1.5GB`` or a number of bytes."""
    m = re.fullmatch(r"\s*([\d.]+)\s*([kmgt]?)(i?b)?\s*", text.lower())
    if not m:
        raise SpecError(f"{text!r} is not a size (e.g. 8G, 512M)")
    scale = {"": 1, "k": 2**10, "m": MIB, "g": GIB, "t": 2**40}[m.group(2)]
    return int(float(m.group(1)) * scale)


def available_ram() -> tuple[int, str]:
    """(bytes free for a new model, what limits it)."""
    import psutil

    free, why = psutil.virtual_memory().available, "available RAM"
    cgroup = cgroup_room()
    if cgroup is not None and cgroup < free:
        free, why = cgroup, "room left under the container's memory limit"
    if os.environ.get("LLMBENCH_MAX_RAM"):
        cap = parse_size(os.environ["LLMBENCH_MAX_RAM"])
        if cap < free:
            free, why = cap, "LLMBENCH_MAX_RAM"
    return free, why


def cgroup_room() -> int | None:
    root = Path("/sys/fs/cgroup")
    try:
        limit = (root / "memory.max").read_text().strip()
        used = int((root / "memory.current").read_text())
    except (OSError, ValueError):
        return None
    return None if limit == "max" else max(int(limit) - used, 0)


def estimate(model: ModelInfo, params: GenParams) -> Estimate | None:
    """What loading ``model`` will take, or None when it cannot be told (or costs nothing here)."""
    if model.backend == "openai":
        return None
    from ..inspect.memory import RUNTIME_OVERHEAD, hf_weights_bytes, kv_cache_bytes
    from ..inspect.source import inspect_source
    from ..inspect.summary import ModelSummary

    try:
        summary = inspect_source(model.path, meta=False)
    except LlmbenchError:
        summary = None
    if not isinstance(summary, ModelSummary):
        summary = None
    kv = kv_cache_bytes(summary, params.n_ctx) if summary else 0
    if model.backend == "llama.cpp":
        where = "GPU" if params.n_gpu_layers == -1 else "RAM"
        return Estimate(model.size_bytes, kv, RUNTIME_OVERHEAD["llama.cpp"], where)
    from ..models.hf_load import parse_hf_spec

    hf = parse_hf_spec(model.spec)
    where = "GPU" if hf.device_map.startswith("cuda") else "RAM"
    if summary is None or not summary.params_total:
        return None
    variant = hf.variant
    if variant == "hf":  # dtype auto: the checkpoint's own (a GGUF is converted to fp32)
        variant = "fp32" if hf.is_gguf or _checkpoint_dtype(hf.path) in ("float32", None) else "bf16"
    return Estimate(hf_weights_bytes(summary, PRECISIONS[variant].memory_format), kv, RUNTIME_OVERHEAD["HF"], where)


def _checkpoint_dtype(folder: Path) -> str | None:

    try:
        config = loads_json((folder / "config.json").read_text())
    except (OSError, ValueError):
        return None
    return config.get("torch_dtype") or config.get("dtype")


def check_fits(model: ModelInfo, params: GenParams) -> Estimate | None:
    """Raise DoesNotFit when the estimate exceeds the free memory where the model will live."""
    est = estimate(model, params)
    if est is None:
        return None
    if est.where == "GPU":
        from ..inspect.memory import machine_memory

        free, why = machine_memory()[1], "free GPU memory"
        if free is None:
            return est  # no NVML: the load itself will tell
    else:
        free, why = available_ram()
    if est.total > free:
        raise DoesNotFit(
            f"{model.title} needs about {size_text(est.total)} ({est.parts()}) but {size_text(free)} is free "
            f"({why}): choose a smaller quantization or n_ctx, or pass --force to load it anyway"
        )
    return est
