"""``llmbench doctor``: what this machine and this install can run, one line each, with a
verdict and a fix where something is off. The first question on a GPU server is "why
is my model on the CPU?", and this page answers it before a model loads.

``gather()`` collects the facts (llama.cpp's build, torch, the quantization kernels,
NVML's GPUs, the PID namespace, cores and memory, paths, the demo models) as plain
data; ``verdicts(facts)`` turns them into ``Check`` lines, so the judgement of every
combination (a CPU-only build beside a GPU, say) is tested on any machine.
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from . import paths
from .errors import first_line
from .runtime.backends.llama_cpp import CUDA_REBUILD
from .util.cpus import HostLoad
from .util.files import path_bytes, remove_path, stale_parts, stale_parts_under

OK, INFO, WARN, FAIL = "ok", "info", "warn", "fail"
KERNELS = {  # distribution -> its package, or what it lets llmbench load
    "bitsandbytes": "bitsandbytes",
    "optimum-quanto": "optimum.quanto",
    "torchao": "torchao",
    "gptqmodel": "GPTQ checkpoints",
    "autoawq": "AWQ checkpoints",
}
LOW_DISK_BYTES = 2 * 2**30
QUIET_SAMPLE_S = 1.0  # the window doctor reads others' CPU use over


@dataclass(frozen=True)
class Check:
    area: str
    found: str
    verdict: str  # ok, info, warn or fail
    fix: str | None = None


def diagnose() -> tuple[dict, list[Check]]:
    facts = gather()
    return facts, verdicts(facts)


def as_dict(facts: dict, checks: list[Check]) -> dict:
    return {"checks": [asdict(c) for c in checks], "facts": facts}


# ---------------------------------------------------------------- facts


def gather() -> dict[str, Any]:
    from .util.gpu import Nvml, own_pid_namespace

    nvml = Nvml()
    return {
        "llama_cpp": _llama_cpp(),
        "torch": _torch(),
        "kernels": {name: _version(name) for name in KERNELS},
        "nvml": {
            "problem": nvml.problem,
            "driver": nvml.driver(),
            "gpus": [asdict(g) for g in nvml.gpus()],
        },
        "own_pid_namespace": own_pid_namespace(),
        "machine": _machine(),
        "paths": _paths(),
        "demo_models": _demo_models(),
        "leftovers": [{"path": str(p), "bytes": path_bytes(p)} for p in leftovers()],
    }


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def _llama_cpp() -> dict:
    try:
        import llama_cpp
    except ImportError as exc:
        return {"error": first_line(exc)}
    info = llama_cpp.llama_print_system_info().decode("utf-8", "replace")
    return {
        "version": llama_cpp.__version__,
        "gpu_offload": bool(llama_cpp.llama_supports_gpu_offload()),
        "backends": sorted(set(re.findall(r"([A-Z][A-Za-z0-9_]*) : ", info))),
        "amx": "AMX_INT8 = 1" in info,
        "system_info": " ".join(info.split()),
    }


def _torch() -> dict:
    try:
        import torch
    except ImportError as exc:
        return {"error": first_line(exc)}
    available = torch.cuda.is_available()
    return {
        "version": torch.__version__,
        "cuda": torch.version.cuda,
        "cuda_available": available,
        "devices": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())] if available else [],
    }


def _machine() -> dict:
    import psutil

    from .runtime.fits import cgroup_room

    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
    except OSError:
        limit = None
    try:
        flags = Path("/proc/cpuinfo").read_text().split()
    except OSError:
        flags = []
    from .util.cpus import HostSampler, cpu_budget

    budget = cpu_budget()
    sampler = HostSampler(budget)
    time.sleep(QUIET_SAMPLE_S)  # how busy others keep the CPUs, over a second
    load = sampler.load()
    return {
        "physical_cores": psutil.cpu_count(logical=False),
        "logical_cores": os.cpu_count(),
        "usable_cpus": budget.usable,
        "cpus_from": budget.source,
        "cgroup_cpu_quota": budget.quota,
        "host_load": load.to_dict() if load else None,
        "ram_bytes": psutil.virtual_memory().total,
        "ram_available_bytes": psutil.virtual_memory().available,
        "cgroup_limit_bytes": int(limit) if limit and limit.isdigit() else None,
        "cgroup_room_bytes": cgroup_room(),
        "cpu_amx": "amx_tile" in flags,
    }


def _paths() -> dict:
    out = {}
    places = (("data", paths.data_dir()), ("cache", paths.cache_dir()), ("models", paths.models_dir()),
              ("sessions", paths.sessions_dir()))  # fmt: skip
    for name, path in places:
        place = next((p for p in (path, *path.parents) if p.exists()), Path("/"))
        out[name] = {"path": str(path), "exists": path.is_dir(), "free_bytes": shutil.disk_usage(place).free}
    return out


def leftovers() -> list[Path]:
    """Partial outputs of killed runs (``util.files.staged``) in llmbench's folders and
    the temporary folder: their process is gone, nothing will finish them."""
    import tempfile

    roots = {paths.data_dir(), paths.cache_dir(), paths.models_dir(), paths.sessions_dir()}
    found = {p for root in roots for p in stale_parts_under(root)}
    found.update(stale_parts(Path(tempfile.gettempdir()), "llmbench-*"))
    return sorted(found)


def clean_leftovers() -> list[tuple[Path, int]]:
    """Remove ``leftovers()``; what went, with its size."""
    gone = []
    for p in leftovers():
        size = path_bytes(p)
        remove_path(p)
        gone.append((p, size))
    return gone


def _demo_models() -> dict:
    from .models.registry import DEMO_MODELS, demo_path

    out = {}
    for name in DEMO_MODELS:
        path = demo_path(name)
        out[name] = str(path) if path.is_file() else None
    return out


# ---------------------------------------------------------------- verdicts


def verdicts(facts: dict) -> list[Check]:
    gpus = facts["nvml"]["gpus"]
    return [
        *_llama_checks(facts["llama_cpp"], gpus, facts["machine"]),
        *_torch_checks(facts["torch"], gpus),
        *_kernel_checks(facts["kernels"], facts["torch"]),
        *_gpu_checks(facts["nvml"], facts["torch"], facts["own_pid_namespace"]),
        *_machine_checks(facts["machine"]),
        *_path_checks(facts["paths"], facts["demo_models"]),
        _leftover_check(facts.get("leftovers", [])),
    ]


def _gpu_names(gpus: list[dict]) -> str:
    return ", ".join(f"{g['name']}" for g in gpus)


def _llama_checks(llama: dict, gpus: list[dict], machine: dict) -> list[Check]:
    if "error" in llama:
        return [Check("llama.cpp", f"llama-cpp-python is not importable ({llama['error']})", FAIL, "make setup")]
    gpu_backends = [b for b in llama["backends"] if b != "CPU"]
    build = f"llama-cpp-python {llama['version']}, built for {' + '.join(llama['backends']) or 'CPU'}"
    if not llama["gpu_offload"]:
        if gpus:
            return [Check("llama.cpp", f"{build}: CPU only, but an NVIDIA GPU is present ({_gpu_names(gpus)})",
                          FAIL, f"rebuild with {CUDA_REBUILD}")]  # fmt: skip
        out = [Check("llama.cpp", f"{build}: no GPU offload (--n-gpu-layers is refused)", OK)]
    elif not gpus and "CUDA" in gpu_backends:
        out = [Check("llama.cpp", f"{build}: GPU offload, but NVML sees no NVIDIA GPU", WARN,
                     "check the driver (nvidia-smi); until then --n-gpu-layers is refused")]  # fmt: skip
    else:
        out = [Check("llama.cpp", f"{build}: GPU offload supported", OK)]
    amx = "AMX on" if llama["amx"] else "AMX off"
    if machine.get("cpu_amx") and not llama["amx"]:
        out.append(Check("llama.cpp", f"{amx}: this CPU has AMX, the build leaves it out", INFO,
                         "the bootstrap builds without AMX (-mno-amx-*); set CMAKE_ARGS to build with it"))  # fmt: skip
    else:
        out.append(
            Check("llama.cpp", f"{amx} ({'the CPU has AMX' if machine.get('cpu_amx') else 'no AMX on this CPU'})", OK)
        )
    return out


def _torch_checks(torch: dict, gpus: list[dict]) -> list[Check]:
    if "error" in torch:
        return [Check("torch", f"not importable ({torch['error']}): hf: models cannot load", WARN,
                      "pip install torch (a CPU build: torch==2.13.0 from the local index)")]  # fmt: skip
    found = f"torch {torch['version']}, CUDA {torch['cuda'] or 'none (a CPU build)'}"
    if torch["cuda_available"]:
        return [Check("torch", f"{found}: {len(torch['devices'])} device(s): {', '.join(torch['devices'])}", OK)]
    if gpus and not torch["cuda"]:
        return [Check("torch", f"{found}, but an NVIDIA GPU is present: device_map=cuda is refused", WARN,
                      "install a CUDA build of torch (pytorch.org: pip install torch --index-url .../cu12x)")]  # fmt: skip
    if torch["cuda"]:
        return [Check("torch", f"{found}, but CUDA is not available (driver?)", WARN, "check the driver: nvidia-smi")]
    return [Check("torch", f"{found}: hf: models run on the CPU", OK)]


def _kernel_checks(kernels: dict, torch: dict) -> list[Check]:
    from .models.quant_methods import PRECISIONS

    out = []
    for name, package in KERNELS.items():
        quants = [p.name for p in PRECISIONS.values() if p.library == package]
        what = f"hf: ?quant={', '.join(quants)}" if quants else package
        version = kernels.get(name)
        if version:
            out.append(Check("kernels", f"{name} {version}: {what}", OK))
        else:
            out.append(Check("kernels", f"{name} not installed: no {what}", INFO, f"pip install {name}"))
    return out


def _gpu_checks(nvml: dict, torch: dict, own_pid_namespace: bool) -> list[Check]:
    gpus = nvml["gpus"]
    if not gpus:
        problem = nvml["problem"] or "NVML lists no GPU"
        verdict = WARN if torch.get("cuda_available") else INFO  # torch sees one that NVML does not
        fix = "install the NVIDIA driver, or nvidia-ml-py" if verdict == WARN else None
        return [Check("GPU", f"no NVIDIA GPU visible: {problem}; VRAM is not measured", verdict, fix)]
    out = [
        Check("GPU", f"GPU {g['index']}: {g['name']}, {g['total_bytes'] / 2**30:.1f} GiB, "
                     f"{g['free_bytes'] / 2**30:.1f} GiB free (driver {nvml['driver'] or '?'})", OK)
        for g in gpus
    ]  # fmt: skip
    if own_pid_namespace:
        out.append(Check("VRAM", "inside a PID-namespace container: NVML lists host PIDs, so per-process VRAM is "
                                 "not visible here; llmbench shows the engine's own figures (llama.cpp buffers, "
                                 "torch.cuda.max_memory_allocated), labelled so", WARN,
                         "run the container with --pid=host for NVML's per-process figures"))  # fmt: skip
    else:
        out.append(Check("VRAM", "per-process VRAM from NVML (each worker by its PID)", OK))
    return out


def _machine_checks(m: dict) -> list[Check]:
    ram = f"{m['ram_bytes'] / 2**30:.1f} GiB RAM, {m['ram_available_bytes'] / 2**30:.1f} GiB available"
    out = [Check("machine", f"{m['physical_cores']} cores ({m['logical_cores']} threads), {ram}", OK)]
    if m.get("usable_cpus") is not None:
        out.append(Check("CPUs", f"threads auto: {m['cpus_from']}, fewer while other programs keep cores busy", OK))
    out.append(_quiet_check(m.get("host_load")))
    limit = m.get("cgroup_limit_bytes")
    if limit and limit < m["ram_bytes"]:
        out.append(Check("machine", f"a cgroup memory limit of {limit / 2**30:.1f} GiB: memory checks use the room "
                                    "under it, not the machine's RAM", INFO))  # fmt: skip
    return out


def _quiet_check(data: dict | None) -> Check:
    """Whether the machine is quiet enough to measure, from others' CPU use over a second."""
    load = HostLoad.from_dict(data)
    if load is None:
        return Check("quiet", "others' CPU use cannot be read here (/proc/stat): figures are not checked", INFO)
    if load.busy:
        return Check("quiet", f"not quiet enough to measure: {load.text()} (a second's sample); figures taken "
                              "now are marked 'host busy', and a duel between a busy and a quiet run gets no "
                              "verdict", WARN, "stop what else runs (top shows it), or measure anyway and read "
                              "the marks")  # fmt: skip
    return Check("quiet", f"quiet enough to measure: {load.text()} (a second's sample)", OK)


def _path_checks(places: dict, demos: dict) -> list[Check]:
    out = []
    for name, p in places.items():
        free = f"{p['free_bytes'] / 2**30:.1f} GiB free"
        low = p["free_bytes"] < LOW_DISK_BYTES
        out.append(Check("paths", f"{name}: {p['path']} ({free})", WARN if low else OK,
                         "free some disk, or set LLMBENCH_HOME elsewhere" if low else None))  # fmt: skip
    for name, path in demos.items():
        if path:
            out.append(Check("models", f"{name}: {path}", OK))
        else:
            out.append(Check("models", f"{name}: not pulled", INFO, f"llmbench models pull {name}"))
    return out


def _leftover_check(found: list[dict]) -> Check:
    if not found:
        return Check("leftovers", "no partial files of killed runs", OK)
    size = sum(f["bytes"] for f in found) / 2**20
    first = found[0]["path"] + (f" and {len(found) - 1} more" if len(found) > 1 else "")
    return Check("leftovers", f"{len(found)} partial file(s) of killed runs, {size:.1f} MiB: {first}", WARN,
                 "llmbench doctor --clean removes them (the next run of the same kind does too)")  # fmt: skip


class Doctor:
    """For the TUI: ``diagnose`` in a child process (importing torch and llama.cpp holds
    the interpreter lock for seconds), through ``util.service.Service``."""

    def run(self) -> tuple[dict, list[Check]]:
        return diagnose()
