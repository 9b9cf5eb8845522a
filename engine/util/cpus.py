"""The CPUs a run may use and how busy others keep them: the thread policy and the
contention guard read both from here.

``cpu_budget()`` starts from the CPUs this process may run on (its affinity: taskset,
``docker --cpuset-cpus``), then the cgroup's CPU quota (``docker --cpus``, Kubernetes
limits; cgroup v2's ``cpu.max`` or v1's ``cpu.cfs_quota_us``), then the physical cores.

``HostSampler`` reads /proc/stat for those CPUs at two instants: the CPU time every
process used on them, less this process's own (and its children's, when asked), is what
others used; steal time is what the hypervisor took. ``auto_threads`` gives a model the
CPUs others leave free, because llama.cpp's threads wait for each other at every
operation: one thread that shares its core with another process stalls them all (with a
busy loop on one of two cores, 2 threads ran at a fifth of 1 thread's speed).
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
BUSY_SHARE = 0.2  # others using more than this share of the allowed CPUs: the host is busy
JUDGE_S = 0.2  # a shorter window is not judged busy or quiet (/proc/stat counts in 10 ms ticks)
FREE_SLACK = 0.3  # a core others use less than this much of still counts as free


@dataclass(frozen=True)
class CpuBudget:
    """What this process may use: ``usable`` CPUs, and where that number comes from."""

    usable: int
    affinity: int  # CPUs in this process's affinity mask
    quota: float | None  # the cgroup's CPU quota in CPUs, None when unlimited
    physical: int  # physical cores of the machine
    logical: int  # logical CPUs of the machine
    cpus: tuple[int, ...]  # the allowed CPU ids

    @property
    def source(self) -> str:
        """``2 CPUs (cgroup quota 2.5 of 64)``: how ``usable`` was chosen, for a line."""
        n = f"{self.usable} CPU{'s' * (self.usable != 1)}"
        if self.quota is not None and self.quota < self.affinity:
            return f"{n} (cgroup quota {self.quota:g} CPUs)"
        if self.affinity < self.logical:
            return f"{n} (affinity {self.affinity} of {self.logical})"
        if self.physical < self.logical:
            return f"{n} ({self.physical} physical cores of {self.logical} logical CPUs)"
        return n

    def warning(self, threads: int) -> str | None:
        """A line when ``threads`` asks for more than this process may use."""
        if threads <= self.usable:
            return None
        return (f"{threads} threads is more than the {self.source} this process may use: the threads will share "
                f"cores and wait for each other (llama.cpp's threads meet at every operation)")  # fmt: skip


def _affinity() -> tuple[int, ...]:
    try:
        return tuple(sorted(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return tuple(range(os.cpu_count() or 1))


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except (OSError, UnicodeDecodeError):
        return None


def _cgroup_paths(root: Path) -> tuple[str | None, str | None]:
    """This process's cgroup path in v2 (``0::/path``) and in v1's cpu controller."""
    text = _read(Path("/proc/self/cgroup")) if root == CGROUP_ROOT else _read(root / "self.cgroup")
    v2 = v1 = None
    for line in (text or "").splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        if parts[0] == "0" and parts[1] == "":
            v2 = parts[2]
        elif "cpu" in parts[1].split(","):
            v1 = parts[2]
    return v2, v1


def _ancestors(base: Path, rel: str | None) -> list[Path]:
    """``base/rel`` and each folder above it up to ``base`` (a limit anywhere above applies)."""
    rel_parts = [p for p in (rel or "/").split("/") if p]
    return [base.joinpath(*rel_parts[:i]) for i in range(len(rel_parts), -1, -1)]


def cgroup_quota(root: Path = CGROUP_ROOT) -> float | None:
    """The smallest CPU quota (in CPUs) on this process's cgroup path, or None when none is
    set. cgroup v2: ``cpu.max`` ("max 100000" or "150000 100000"); v1: ``cpu.cfs_quota_us``
    (-1 for none) over ``cpu.cfs_period_us``. A file that cannot be read limits nothing."""
    v2, v1 = _cgroup_paths(root)
    quotas: list[float] = []
    for folder in _ancestors(root, v2):
        text = _read(folder / "cpu.max")
        if text:
            parts = text.split()
            if len(parts) == 2 and parts[0] != "max":
                try:
                    quota, period = int(parts[0]), int(parts[1])
                except ValueError:
                    continue
                if quota > 0 and period > 0:
                    quotas.append(quota / period)
    for base in (root / "cpu", root / "cpu,cpuacct", root / "cpuacct,cpu"):
        for folder in _ancestors(base, v1):
            quota, period = _read(folder / "cpu.cfs_quota_us"), _read(folder / "cpu.cfs_period_us")
            try:
                q, p = int(quota or "-1"), int(period or "0")
            except ValueError:
                continue
            if q > 0 and p > 0:
                quotas.append(q / p)
    return min(quotas) if quotas else None


def _physical_cores() -> int:
    try:
        import psutil

        return psutil.cpu_count(logical=False) or os.cpu_count() or 1
    except ImportError:
        return os.cpu_count() or 1


def cpu_budget(root: Path = CGROUP_ROOT, affinity: tuple[int, ...] | None = None) -> CpuBudget:
    """The CPUs this process may use: the affinity mask, capped by the cgroup quota (a
    quota below one CPU still gives one thread) and, when the mask is the whole machine,
    by the physical cores (a second hyperthread of a core adds little to a matmul)."""
    cpus = affinity if affinity is not None else _affinity()
    logical = os.cpu_count() or len(cpus)
    physical = _physical_cores()
    usable = len(cpus) if len(cpus) < logical else min(len(cpus), physical)
    quota = cgroup_quota(root)
    if quota is not None:
        usable = min(usable, max(1, math.floor(quota + 0.01)))
    return CpuBudget(max(1, usable), len(cpus), quota, physical, logical, cpus)


# ------------------------------------------------------------------ host load


@dataclass(frozen=True)
class HostLoad:
    """How busy others kept this process's CPUs during a window, in CPUs on average (0.9 is
    nine tenths of one CPU): ``cpus`` is the affinity's count, ``usable`` what the budget
    gives a run (a quota can make it smaller), ``steal_cpus`` what the hypervisor took."""

    others_cpus: float
    cpus: int
    usable: int
    steal_cpus: float = 0.0
    window_s: float = 0.0

    @property
    def free_cpus(self) -> float:
        return max(0.0, self.cpus - self.others_cpus - self.steal_cpus)

    @property
    def busy(self) -> bool:
        """Others reach into the room a run needs: more than BUSY_SHARE of the usable CPUs
        are taken, after the CPUs beyond the quota (which others may use freely), over a
        window of at least JUDGE_S."""
        return (
            self.window_s >= JUDGE_S
            and self.others_cpus + self.steal_cpus > (self.cpus - self.usable) + BUSY_SHARE * self.usable
        )

    def text(self) -> str:
        """``host busy: 0.90 of 2 CPUs used by others`` (or ``host quiet: …``)."""
        word = "busy" if self.busy else "quiet"
        steal = f", {self.steal_cpus:.2f} stolen" if self.steal_cpus >= 0.01 else ""
        return f"host {word}: {self.others_cpus:.2f} of {self.cpus} CPUs used by others{steal}"

    def short(self) -> str:
        """``busy: 0.90 of 2 CPUs`` (used by others), for a table cell."""
        return f"{'busy' if self.busy else 'quiet'}: {self.others_cpus:.2f} of {self.cpus} CPUs"

    def to_dict(self) -> dict:
        return {**asdict(self), "busy": self.busy}

    @classmethod
    def from_dict(cls, data) -> HostLoad | None:
        """From a session or JSON; None for anything of another shape."""
        if not isinstance(data, dict):
            return None
        try:
            return cls(float(data["others_cpus"]), int(data["cpus"]), int(data["usable"]),
                       float(data.get("steal_cpus") or 0.0), float(data.get("window_s") or 0.0))  # fmt: skip
        except (KeyError, TypeError, ValueError):
            return None


def worst(loads) -> HostLoad | None:
    """The busiest of several windows (a figure over repeats is as clean as its worst run)."""
    loads = [x for x in loads if x is not None]
    return max(loads, key=lambda x: x.others_cpus + x.steal_cpus) if loads else None


def differ(a: HostLoad | None, b: HostLoad | None) -> bool:
    """Two sides measured under conditions too different to compare: one busy, one not."""
    return a is not None and b is not None and a.busy != b.busy


@dataclass(frozen=True)
class _Snap:
    t: float
    busy: float  # CPU seconds used on the allowed CPUs, by everyone
    steal: float
    times: dict  # pid -> CPU seconds, for this process and its family


def _proc_stat(cpus: tuple[int, ...]) -> tuple[float, float]:
    """(busy, steal) CPU seconds of the given CPUs since boot, from /proc/stat."""
    tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    wanted = {f"cpu{i}" for i in cpus}
    busy = steal = 0
    with open("/proc/stat") as f:
        for line in f:
            name, *fields = line.split()
            if name not in wanted:
                continue
            # user nice system idle iowait irq softirq steal guest guest_nice (guest is in user)
            v = [int(x) for x in fields[:8]] + [0] * max(0, 8 - len(fields))
            busy += v[0] + v[1] + v[2] + v[5] + v[6]
            steal += v[7]
    return busy / tick, steal / tick


def family(root: int | None = None) -> list[int]:
    """llmbench's processes: ``root`` (the app or CLI; by default this process) and the
    processes it spawned with multiprocessing under it (model workers, services). Any
    other child (a script's busy loop, a compiler) is someone else's load."""
    import psutil

    try:
        top = psutil.Process(root or os.getpid())
        kids = top.children(recursive=True)
    except psutil.Error:
        return [os.getpid()]
    ours = [top.pid]
    for kid in kids:
        try:
            if "multiprocessing" in " ".join(kid.cmdline()):
                ours.append(kid.pid)
        except psutil.Error:  # gone, or a zombie
            continue
    return ours


def _cpu_seconds(pids) -> dict[int, float]:
    import psutil

    out = {}
    for pid in pids:
        try:
            t = psutil.Process(pid).cpu_times()
            out[pid] = t.user + t.system
        except psutil.Error:
            continue
    return out


class HostSampler:
    """Others' use of the allowed CPUs between two readings: everyone's CPU time on them
    (/proc/stat) less this process's own, or less all of llmbench's (``family_root``: the
    process whose tree is llmbench; a worker passes its parent). Where /proc/stat cannot
    be read, ``load`` returns None."""

    def __init__(self, budget: CpuBudget | None = None, family_root: int | None = None):
        self.budget = budget or cpu_budget()
        self._root = family_root
        self._mark: _Snap | None = self.snapshot()

    def snapshot(self) -> _Snap | None:
        try:
            busy, steal = _proc_stat(self.budget.cpus)
            times = _cpu_seconds(set(family(self._root)) | {os.getpid()})
        except (OSError, ValueError, ImportError):
            return None
        return _Snap(time.monotonic(), busy, steal, times)

    def load(self, since: _Snap | None = None, until: _Snap | None = None, apart: bool = False) -> HostLoad | None:
        """Others' load from ``since`` (default: the last ``mark``) to ``until`` (now); with
        ``apart``, llmbench's other processes (the UI, the other side) count as ours."""
        a, b = since or self._mark, until or self.snapshot()
        if a is None or b is None or b.t - a.t <= 0:
            return None
        wall = b.t - a.t
        pids = b.times if apart else [os.getpid()]
        ours = sum(max(0.0, b.times.get(p, 0.0) - a.times.get(p, 0.0)) for p in pids)
        others = max(0.0, (b.busy - a.busy) - ours) / wall
        cpus = len(self.budget.cpus)
        steal = max(0.0, b.steal - a.steal) / wall
        # /proc/stat counts in ticks (10 ms): a short window reads ±1 tick per CPU
        return HostLoad(round(min(others, cpus), 3), cpus, self.budget.usable, round(steal, 3), round(wall, 3))

    def mark(self, snap: _Snap | None = None) -> _Snap | None:
        """The start of the next window: ``snap`` (one just taken) or now."""
        self._mark = snap or self.snapshot()
        return self._mark


def usable_cpus() -> int:
    """The CPUs a run may use here (``cpu_budget().usable``)."""
    return cpu_budget().usable


def auto_threads(budget: CpuBudget, load: HostLoad | None = None, share: int = 1) -> int:
    """Threads for one model: the usable CPUs split among ``share`` models that run at once,
    and no more than the CPUs others leave free (a CPU others use less than FREE_SLACK of
    still counts as free). Never below one."""
    n = budget.usable // max(1, share)
    if load is not None:
        n = min(n, math.floor(load.free_cpus + FREE_SLACK))
    return max(1, n)
