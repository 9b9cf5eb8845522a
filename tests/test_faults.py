"""Faults of the process tree: the main process killed or hung up (an SSH drop), a worker
stopped. No worker outlives its parent by more than a second; a stopped worker does not
hang the duel."""

import os
import signal
import subprocess
import time

import psutil
import pytest

from .test_cli import LLMBENCH

pytestmark = pytest.mark.slow  # real workers on SmolLM2

# A long prompt pass: seconds inside one native call, when a worker writes nothing up its pipe
# (a busy generating worker would notice its parent gone at its next token anyway).
LONG = ["--max-tokens", "64", "--n-ctx", "4096", "--raw", "--ignore-eos", "--no-record", "--prompt",
        "The lighthouse keeper wrote in his logbook. " * 380]  # fmt: skip


def _workers_of(proc: subprocess.Popen, timeout: float = 60) -> list[psutil.Process]:
    """The model workers of a running `llmbench duel` once both have started."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        kids = [
            p
            for p in psutil.Process(proc.pid).children(recursive=True)
            if "resource_tracker" not in " ".join(p.cmdline())
        ]
        if len(kids) >= 2:
            return kids
        time.sleep(0.1)
    raise AssertionError("the workers never started")


def _running(p: psutil.Process) -> bool:
    try:
        return p.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP, signal.SIGKILL])
def test_no_worker_outlives_the_main_process(registered, sig):
    proc = subprocess.Popen([LLMBENCH, "duel", "--a", "smollm2", "--b", "smollm2",
                             "--mode", "concurrent", *LONG], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
    workers = _workers_of(proc)
    time.sleep(1.0)  # both answering, inside llama.cpp's native calls
    os.kill(proc.pid, sig)
    proc.wait(timeout=10)
    gone, alive = psutil.wait_procs(workers, timeout=1.5)
    alive = [p for p in alive if _running(p)]  # (a zombie is dead: only its reaper is slow)
    for p in alive:
        p.kill()
    assert not alive, f"{len(alive)} worker(s) outlived the main process by 1.5 s after {sig.name}"
    if sig != signal.SIGKILL:
        assert proc.returncode == 130 and b"Traceback" not in proc.stderr.read()


def test_a_stopped_worker_fails_its_side_and_the_duel_ends(smollm2):
    """kill -STOP on one worker of a concurrent duel: the watchdog fails that side with the
    reason within seconds (it used to wait forever); the other side answers."""
    from llmbench.engine.runtime.duel import Duel
    from llmbench.engine.runtime.events import Channel, Done, Error, Token
    from llmbench.engine.runtime.params import GenParams

    params = GenParams(max_tokens=300, temperature=0, raw=True, ignore_eos=True, n_ctx=512)
    stopped = []
    start = time.monotonic()
    with Duel(smollm2, smollm2, params, mode="concurrent", record=False) as duel:
        events = []
        for side, event in duel.run("Once upon a time"):
            events.append((side, event))
            if side == "a" and isinstance(event, Token) and not stopped:
                stopped.append(duel.sides[Channel.A].worker.pid)
                os.kill(stopped[0], signal.SIGSTOP)
    took = time.monotonic() - start
    a_error = [e for s, e in events if s == "a" and isinstance(e, Error)]
    assert a_error and "stopped answering" in a_error[0].message and "SIGSTOP" in a_error[0].message
    assert [e for s, e in events if s == "b" and isinstance(e, Done)], "the other side answered"
    assert took < 60
    assert not _running(psutil.Process(stopped[0])) if psutil.pid_exists(stopped[0]) else True
