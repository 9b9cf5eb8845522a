"""Measured memory beside the estimate: a worker's RSS split into file-backed pages (the
mapped weights) and anonymous memory (KV cache, compute buffers, the runtime), the
buffers the engine says it allocated, and Inspect's estimate with its error in %.

``/proc/PID/status`` gives the split on Linux (VmRSS = RssAnon + RssFile + RssShmem);
elsewhere only the RSS is known. llama.cpp reports its buffers in its load log, which the
worker captures (``llama_buffers``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from ..util.fmt import MIB

STATUS_KEYS = {"VmRSS": "rss", "RssAnon": "anon", "RssFile": "file", "RssShmem": "shmem"}

# llama.cpp's load log: "load_tensors:   CPU_Mapped model buffer size =   235.16 MiB",
# "llama_kv_cache:        CPU KV buffer size =     6.00 MiB", "... compute buffer size = 514.50 MiB"
_BUFFER = re.compile(r"(\S+)\s+(model|KV|compute|output) buffer size\s*=\s*([\d.]+) MiB")
# "load_tensors: offloaded 31/31 layers to GPU": a build with GPU support says where the layers went
_OFFLOADED = re.compile(r"offloaded (\d+)/(\d+) layers to GPU")


def proc_split(pid: int) -> dict[str, int] | None:
    """rss, anon, file and shmem bytes of a live process (Linux), or None."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    out = {}
    for line in lines:
        key, _, value = line.partition(":")
        if key in STATUS_KEYS and value.strip().endswith("kB"):
            out[STATUS_KEYS[key]] = int(value.split()[0]) * 1024
    return out if "rss" in out else None


def llama_buffers(log_lines: Iterable[str]) -> dict[str, float]:
    """MiB per kind of buffer llama.cpp reported while loading: weights mapped from the
    file, weights it copied (repacked, or read without mmap), on a GPU, KV cache, compute
    and output buffers (summed over devices and caches)."""
    out: dict[str, float] = {}
    for line in log_lines:
        for device, kind, mib in _BUFFER.findall(line):
            if kind == "model":
                key = (
                    "weights mapped"
                    if device.endswith("_Mapped")
                    else "weights on GPU"
                    if _gpu(device)
                    else "weights copied"
                )
            else:
                key = {"KV": "KV cache", "compute": "compute", "output": "output"}[kind]
                key += " (GPU)" if _gpu(device) else ""
            out[key] = round(out.get(key, 0.0) + float(mib), 2)
    return out


def llama_placement(log_lines: Iterable[str]) -> str:
    """Where llama.cpp put the model's layers, from its own load report: ``GPU 31/31
    layers``, ``CPU (0/31 layers on the GPU)``, or ``CPU`` from a build without GPU support."""
    for line in log_lines:
        if m := _OFFLOADED.search(line):
            on_gpu, layers = int(m[1]), int(m[2])
            return f"GPU {on_gpu}/{layers} layers" if on_gpu else f"CPU (0/{layers} layers on the GPU)"
    return "CPU"


def gpu_buffers_mib(buffers: dict[str, float] | None) -> float | None:
    """The VRAM llama.cpp says it allocated (its buffers on a GPU), or None when none."""
    on_gpu = [mib for key, mib in (buffers or {}).items() if "GPU" in key]
    return sum(on_gpu) if on_gpu else None


def _gpu(device: str) -> bool:
    return device.upper().startswith(("CUDA", "ROCM", "HIP", "VULKAN", "METAL", "SYCL"))


def measured(split: dict[str, int] | None, buffers: dict[str, float] | None, estimate_bytes: int | None) -> dict | None:
    """The ``Stats.memory`` record: the split in MiB, the engine's buffers, and the
    estimate with its error against the RSS (+13 %: the estimate was 13 % high)."""
    if not split:
        return None
    mem = {k: round(v / MIB, 1) for k, v in split.items()}
    if buffers:
        mem["buffers"] = buffers
    if estimate_bytes:
        mem["estimate"] = round(estimate_bytes / MIB, 1)
        mem["estimate_error"] = round(estimate_bytes / split["rss"] - 1, 4)
    return mem


def memory_text(mem: dict | None) -> str:
    """One line: ``212 MiB = 98 file + 114 anon · est 180 MiB (−15%)``."""
    if not mem:
        return "—"
    parts = [f"{mem['rss']:.0f} MiB"]
    if "file" in mem and "anon" in mem:
        parts[0] += f" = {mem['file']:.0f} file + {mem['anon']:.0f} anon" + (
            f" + {mem['shmem']:.0f} shm" if mem.get("shmem") else ""
        )
    if "estimate" in mem:
        parts.append(f"est {mem['estimate']:.0f} MiB ({mem['estimate_error']:+.0%})")
    return " · ".join(parts)


def buffers_text(mem: dict | None) -> str | None:
    """The engine's own buffers: ``weights mapped 235 · KV cache 36 · compute 514 MiB``."""
    buffers = (mem or {}).get("buffers")
    if not buffers:
        return None
    return " · ".join(f"{k} {v:.0f}" for k, v in buffers.items()) + " MiB"
