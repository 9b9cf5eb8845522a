"""How many threads a model runs with, chosen in its worker before each request and again
every second while it answers, and how busy the host was while it did.

``threads auto`` gives a model the CPUs this process may use (``cpu_budget``: affinity,
cgroup quota, physical cores), split among the models that run at once, and never more
than the CPUs others left free in the last window: llama.cpp's threads meet at every
operation, so one thread that shares its core with a busy process stalls them all.
An explicit count is obeyed as given (the CLI warns when it exceeds the budget).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

from ..util.cpus import CpuBudget, HostLoad, HostSampler, auto_threads, cpu_budget

MIN_WINDOW_S = 0.1  # a shorter window says too little (/proc/stat ticks are 10 ms); the last one stands
RETUNE_S = 1.0  # while answering, the count is chosen again this often


@dataclass(frozen=True)
class ThreadPolicy:
    """``fixed``: the user's count, obeyed; else auto over ``share`` models running at once,
    with ``reserve`` CPUs kept for a UI."""

    fixed: int | None = None
    share: int = 1
    reserve: int = 0

    def choose(self, budget: CpuBudget, load: HostLoad | None) -> int:
        if self.fixed:
            return self.fixed
        if self.reserve:
            budget = CpuBudget(max(1, budget.usable - self.reserve), *_rest(budget))
        return auto_threads(budget, load, self.share)

    def first(self) -> int:
        """The count a model loads with, before anything was measured."""
        return self.choose(cpu_budget(), None)


def _rest(budget: CpuBudget) -> tuple:
    return budget.affinity, budget.quota, budget.physical, budget.logical, budget.cpus


class Conditions:
    """In a worker: the thread count for each request and the host's load while it ran."""

    def __init__(self, policy: ThreadPolicy, budget: CpuBudget | None = None):
        self.policy = policy
        self.sampler = HostSampler(budget, family_root=os.getppid())
        self.budget = self.sampler.budget
        self.recent: HostLoad | None = None  # the last window long enough to go by
        self._start = self._tick = None

    def _update(self, load: HostLoad | None) -> None:
        if load is not None and load.window_s >= MIN_WINDOW_S:
            self.recent = load

    def begin(self) -> int:
        """A request starts: the threads for it, from the window since the last one (the
        first request of a worker that loaded faster than MIN_WINDOW_S waits out the rest:
        two threads beside a busy loop would crawl until the first retune)."""
        load = self.sampler.load()
        if self.recent is None and (load is None or load.window_s < MIN_WINDOW_S):
            time.sleep(MIN_WINDOW_S - (load.window_s if load else 0.0))
            load = self.sampler.load()
        self._update(load)
        self._start = self._tick = self.sampler.mark()
        return self.policy.choose(self.budget, self.recent)

    def retune(self) -> int:
        """While answering: the threads for the next second, from the second just past."""
        now = self.sampler.snapshot()
        self._update(self.sampler.load(self._tick, now))
        self._tick = now
        return self.policy.choose(self.budget, self.recent)

    def end(self) -> HostLoad | None:
        """The request ended: how busy others (not llmbench's own processes: the UI, the
        other side) kept the host over it; None where /proc cannot be read."""
        now = self.sampler.snapshot()
        self._update(self.sampler.load(self._start, now))
        self.sampler.mark(now)
        return self.sampler.load(self._start, now, apart=True)
