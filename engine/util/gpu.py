"""NVIDIA GPUs through NVML (``pynvml``, from nvidia-ml-py), where there are any: the
devices with their memory and the driver, the VRAM one process uses, and whether this
process can see its own entries at all.

Inside a container with its own PID namespace, NVML lists processes by their host PIDs,
so a worker's PID is never among them and per-process VRAM reads as nothing
(NVIDIA/nvidia-docker #179). ``own_pid_namespace`` tells that case apart, so that
llmbench says so and shows the engine's own figures instead of an empty or wrong one.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from ..errors import first_line

# The inode of the kernel's initial PID namespace (PROC_PID_INIT_INO): any other is a
# container's, or another unshare'd namespace.
INITIAL_PID_NAMESPACE = 0xEFFFFFFC


@dataclass(frozen=True)
class Gpu:
    index: int
    name: str
    total_bytes: int
    free_bytes: int


class Nvml:
    """NVML, initialised once; ``problem`` says why it is not usable (no pynvml, no
    driver), and then every query answers None or nothing."""

    def __init__(self) -> None:
        self.lib = None
        self.problem: str | None = None
        self.handles: list = []
        try:
            import pynvml
        except ImportError:
            self.problem = "nvidia-ml-py is not installed, so NVML cannot be asked"
            return
        try:
            pynvml.nvmlInit()
            self.handles = [pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(pynvml.nvmlDeviceGetCount())]
        except Exception as exc:  # noqa: BLE001 - NVMLError_LibraryNotFound, _DriverNotLoaded...: no driver
            self.problem = f"NVML finds no NVIDIA driver ({first_line(exc) or type(exc).__name__})"
            return
        self.lib = pynvml

    def driver(self) -> str | None:
        try:
            version = self.lib.nvmlSystemGetDriverVersion() if self.lib else None
        except Exception:  # noqa: BLE001 - a driver that answers nothing: unknown
            return None
        return version.decode() if isinstance(version, bytes) else version

    def gpus(self) -> list[Gpu]:
        out = []
        for i, handle in enumerate(self.handles):
            try:
                name = self.lib.nvmlDeviceGetName(handle)
                memory = self.lib.nvmlDeviceGetMemoryInfo(handle)
            except Exception:  # noqa: BLE001 - a device that fell off the bus: left out
                continue
            out.append(Gpu(i, name.decode() if isinstance(name, bytes) else name, memory.total, memory.free))
        return out

    def pids(self) -> dict[int, int]:
        """PID -> VRAM bytes of every compute process NVML lists, over all devices."""
        out: dict[int, int] = {}
        for handle in self.handles:
            try:
                procs = self.lib.nvmlDeviceGetComputeRunningProcesses(handle)
            except Exception:  # noqa: BLE001 - not supported on this device: nothing listed
                continue
            for p in procs:
                if p.usedGpuMemory is not None:
                    out[p.pid] = out.get(p.pid, 0) + p.usedGpuMemory
        return out

    def used_bytes(self, pid: int) -> int | None:
        """The VRAM ``pid`` holds, or None when NVML does not list it (no GPU, or a
        container that sees host PIDs)."""
        return self.pids().get(pid) if self.lib else None


def own_pid_namespace() -> bool:
    """True inside a PID namespace other than the host's (a container without --pid=host)."""
    try:
        link = os.readlink("/proc/self/ns/pid")  # "pid:[4026531836]"
    except OSError:
        return False
    return link.strip("pid:[]").isdigit() and int(link.strip("pid:[]")) != INITIAL_PID_NAMESPACE
