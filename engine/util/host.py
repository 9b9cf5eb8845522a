"""The machine a run happens on: recorded with every session and report."""

from __future__ import annotations

import os
import platform
from typing import Any


def cpu_name() -> str | None:
    """The CPU's model name as the kernel gives it (``/proc/cpuinfo``), which is what
    llama.cpp's CPU backend, and so llama-bench's ``cpu_info``, says; elsewhere Python's."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip() or None
    except OSError:
        pass
    return platform.processor() or None


def host_info() -> dict[str, Any]:
    import psutil

    return {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": platform.processor() or None,
        "cpu_name": cpu_name(),
        "cpu_count": os.cpu_count(),
        "physical_cores": psutil.cpu_count(logical=False),
        "ram_bytes": psutil.virtual_memory().total,
        "python": platform.python_version(),
    }


def host_text(host: dict[str, Any]) -> str:
    """``x86_64, 2 CPUs, 24 GiB RAM`` from a recorded host."""
    ram = f", {host['ram_bytes'] / 2**30:.0f} GiB RAM" if host.get("ram_bytes") else ""
    return f"{host.get('processor') or host.get('machine') or '?'}, {host.get('cpu_count', '?')} CPUs{ram}"
