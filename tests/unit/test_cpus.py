"""The CPUs a run may use (affinity, cgroup quotas), the host's load, the auto thread policy,
and stop strings held back while an answer streams."""

import os
import subprocess
import sys
import time

import pytest

from llmbench.engine.runtime.prompt import StopFilter
from llmbench.engine.runtime.threads import ThreadPolicy
from llmbench.engine.util.cpus import CpuBudget, HostLoad, HostSampler, auto_threads, cgroup_quota, cpu_budget


def _cgroup(root, self_cgroup: str, files: dict[str, str]):
    root.mkdir(parents=True, exist_ok=True)
    (root / "self.cgroup").write_text(self_cgroup)
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_cgroup_v2_quota_is_read_and_the_smallest_on_the_path_wins(tmp_path):
    root = _cgroup(tmp_path, "0::/kubepods/pod1/ctr\n", {
        "kubepods/cpu.max": "400000 100000\n",
        "kubepods/pod1/ctr/cpu.max": "150000 100000\n",
    })  # fmt: skip
    assert cgroup_quota(root) == pytest.approx(1.5)
    (root / "kubepods/pod1/ctr/cpu.max").write_text("max 100000\n")
    assert cgroup_quota(root) == pytest.approx(4.0)


def test_cgroup_v1_quota_and_period_and_none(tmp_path):
    root = _cgroup(tmp_path, "4:memory:/x\n2:cpu,cpuacct:/docker/abc\n", {
        "cpu,cpuacct/docker/abc/cpu.cfs_quota_us": "250000\n",
        "cpu,cpuacct/docker/abc/cpu.cfs_period_us": "100000\n",
    })  # fmt: skip
    assert cgroup_quota(root) == pytest.approx(2.5)
    (root / "cpu,cpuacct/docker/abc/cpu.cfs_quota_us").write_text("-1\n")
    assert cgroup_quota(root) is None
    assert cgroup_quota(_cgroup(tmp_path / "empty", "0::/\n", {})) is None


def test_garbage_in_cgroup_files_limits_nothing(tmp_path):
    root = _cgroup(tmp_path, "0::/a\n", {"a/cpu.max": "lots of cpus\n", "cpu.max": "0 0\n"})
    assert cgroup_quota(root) is None


def test_budget_starts_from_affinity_then_quota_then_cores(tmp_path, monkeypatch):
    import llmbench.engine.util.cpus as cpus

    monkeypatch.setattr(cpus.os, "cpu_count", lambda: 64)
    monkeypatch.setattr(cpus, "_physical_cores", lambda: 32)
    none = _cgroup(tmp_path / "none", "0::/\n", {})
    whole = cpu_budget(none, affinity=tuple(range(64)))
    assert whole.usable == 32 and whole.source == "32 CPUs (32 physical cores of 64 logical CPUs)"
    pinned = cpu_budget(none, affinity=(3,))
    assert pinned.usable == 1 and pinned.source == "1 CPU (affinity 1 of 64)"
    quota = _cgroup(tmp_path / "quota", "0::/c\n", {"c/cpu.max": "400000 100000\n"})
    limited = cpu_budget(quota, affinity=tuple(range(64)))
    assert limited.usable == 4 and limited.source == "4 CPUs (cgroup quota 4 CPUs)"
    tiny = _cgroup(tmp_path / "tiny", "0::/c\n", {"c/cpu.max": "50000 100000\n"})
    assert cpu_budget(tiny, affinity=tuple(range(64))).usable == 1, "a quota below one CPU still runs one thread"
    assert limited.warning(8).startswith("8 threads is more than the 4 CPUs (cgroup quota 4 CPUs) this process may use")
    assert limited.warning(4) is None


def test_auto_threads_leaves_the_cores_others_use():
    two = CpuBudget(2, 2, None, 2, 2, (0, 1))
    load = lambda others: HostLoad(others, 2, 2)  # noqa: E731
    assert auto_threads(two) == 2
    assert auto_threads(two, load(0.06)) == 2, "a UI's few percent keep both cores"
    assert auto_threads(two, load(0.67)) == 1, "a busy loop sharing the cores with our two threads"
    assert auto_threads(two, load(1.0)) == 1
    assert auto_threads(two, load(2.0)) == 1, "never below one"
    assert auto_threads(two, None, share=2) == 1
    quota = CpuBudget(4, 64, 4.0, 32, 64, tuple(range(64)))
    assert auto_threads(quota, HostLoad(30.0, 64, 4)) == 4, "others on a big host leave our quota's room free"
    assert auto_threads(quota, HostLoad(62.0, 64, 4)) == 2
    assert ThreadPolicy(fixed=6).choose(two, load(1.0)) == 6, "an explicit count is obeyed as given"
    assert ThreadPolicy(reserve=1).choose(two, None) == 1


def test_host_load_is_busy_only_when_others_reach_into_the_room_a_run_needs():
    assert not HostLoad(0.06, 2, 2, window_s=3).busy and HostLoad(0.9, 2, 2, window_s=3).busy
    assert HostLoad(0.9, 2, 2, window_s=3).text() == "host busy: 0.90 of 2 CPUs used by others"
    assert not HostLoad(0.9, 2, 2, window_s=0.1).busy, "too short a window to judge"
    assert not HostLoad(30.0, 64, 4, window_s=3).busy, "60 spare CPUs beyond a quota of 4"
    assert HostLoad.from_dict(HostLoad(0.5, 2, 2, 0.1, 3.0).to_dict()) == HostLoad(0.5, 2, 2, 0.1, 3.0)
    assert HostLoad.from_dict({"others_cpus": "x"}) is None and HostLoad.from_dict(None) is None


def test_the_sampler_counts_a_busy_loop_beside_it_and_not_its_own_work():
    sampler = HostSampler(CpuBudget(2, 2, None, 2, 2, tuple(sorted(os.sched_getaffinity(0)))[:2]))
    t_end = time.monotonic() + 0.6
    while time.monotonic() < t_end:  # this process's own work is not "others"
        pass
    own = sampler.load()
    loop = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.3)
        sampler.mark()
        time.sleep(1.0)
        busy = sampler.load()
    finally:
        loop.kill()
        loop.wait()
    assert busy is not None and busy.others_cpus >= 0.5 and busy.busy, busy
    if own.others_cpus > 0.3:
        pytest.skip(f"the machine was not quiet enough to check the quiet case ({own.text()})")
    assert not own.busy


def test_a_stop_string_split_across_tokens_never_reaches_the_stream():
    f = StopFilter(("<end_of_turn>",))
    shown = [f.feed(p) for p in ["Hello", " world", "<end", "_of", "_turn>", "more"]]
    assert shown == ["Hello", " world", "", "", "", ""]
    assert f.stopped and f.text == "Hello world"
    g = StopFilter(("<|im_end|>",))
    assert [g.feed(p) for p in ["a <", "b", "<|im", "_end|>x"]] == ["a ", "<b", "", ""]
    assert g.text == "a <b"
    h = StopFilter(("</s>",))
    assert h.feed("x</") == "x" and not h.stopped and h.text == "x</", "a held end with no stop after it is kept"
    plain = StopFilter(())
    assert plain.feed("<end") == "<end" and plain.text == "<end"
