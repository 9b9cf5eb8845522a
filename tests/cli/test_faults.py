"""Faults of the process tree: the main process (the CLI or the TUI) killed or hung up (an
SSH drop), a worker, the retrieval service or the inspection child stopped or killed. No
child outlives its parent by more than a second and a half; a stopped child does not hang
what waits on it."""

import os
import signal
import subprocess
import time

import psutil
import pytest

from tests.helpers import FIXTURES, LLMBENCH, small_tmpfs

pytestmark = pytest.mark.slow  # real workers on SmolLM2

# A long prompt pass: seconds inside one native call, when a worker writes nothing up its pipe
# (a busy generating worker would notice its parent gone at its next token anyway).
LONG = ["--max-tokens", "64", "--n-ctx", "4096", "--raw", "--ignore-eos", "--no-record", "--prompt",
        "The lighthouse keeper wrote in his logbook. " * 380]  # fmt: skip


def _workers_of(proc: subprocess.Popen, timeout: float = 60) -> list[psutil.Process]:
    """The model workers of a running `llmbench duel` once both have started."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        kids = [p for p in psutil.Process(proc.pid).children(recursive=True) if "resource_tracker" not in _cmdline(p)]
        if len(kids) >= 2:
            return kids
        time.sleep(0.1)
    raise AssertionError("the workers never started")


def _cmdline(p: psutil.Process) -> str:
    """A process's command line; "" for one that ended or is a zombie (on a busy machine a
    child of an earlier test may not be reaped yet)."""
    try:
        return " ".join(p.cmdline())
    except psutil.Error:
        return ""


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


@pytest.mark.parametrize("sig", [signal.SIGHUP, signal.SIGTERM])
def test_the_tui_ends_on_sighup_and_sigterm_and_takes_its_workers(registered, sig):
    """The TUI in a real terminal (a pty at 80x24) with both duel workers loaded: SIGHUP
    (an SSH drop) or SIGTERM ends it as Ctrl+Q does, with exit code 128 + the signal and
    no traceback, and no worker outlives it by more than 1.5 s."""
    import fcntl
    import pty
    import struct
    import termios
    import threading

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    env = {**os.environ, "TERM": "xterm-256color"}
    proc = subprocess.Popen([LLMBENCH, "tui", "--a", "smollm2", "--b", "smollm2"], stdin=slave, stdout=slave,
                            stderr=slave, env=env, start_new_session=True)  # fmt: skip
    os.close(slave)
    screen = bytearray()

    def drain() -> None:  # a terminal reads what the app writes, or the app blocks
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                return
            if not chunk:
                return
            screen.extend(chunk)

    threading.Thread(target=drain, daemon=True).start()
    try:
        end = time.monotonic() + 60
        while b"Enter" not in screen and time.monotonic() < end:  # the prompt's placeholder: ready
            time.sleep(0.2)
        os.write(master, b"Name a colour.\r")
        workers = _workers_of(proc)
        time.sleep(1.0)
        os.kill(proc.pid, sig)
        proc.wait(timeout=15)
        gone, alive = psutil.wait_procs(workers, timeout=1.5)
        alive = [p for p in alive if _running(p)]
        for p in alive:
            p.kill()
        assert not alive, f"{len(alive)} worker(s) outlived the TUI by 1.5 s after {sig.name}"
        assert proc.returncode == 128 + sig, proc.returncode
        assert b"Traceback" not in screen
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)


@pytest.mark.parametrize(
    "sig, says", [(signal.SIGSTOP, r"was given up \(its process was stopped"), (signal.SIGKILL, "died")]
)
def test_a_stopped_or_killed_service_child_is_one_error_and_the_next_call_starts_afresh(home, sig, says):
    """The child that keeps the embedder for the TUI (any ``Service``), stopped or killed in
    the middle of a call: the call ends in one line within seconds (a stopped one used to
    be waited on forever), and the next call gets a fresh child."""
    import threading

    from llmbench.engine.errors import LlmbenchError
    from llmbench.engine.util.service import Service
    from tests.children import Napper

    service = Service(Napper, "napper")
    try:
        assert service.call("nap", 0) == 0
        pid = service.proc.pid
        threading.Timer(0.5, os.kill, (pid, sig)).start()
        start = time.monotonic()
        with pytest.raises(LlmbenchError, match=says):
            service.call("nap", 60)
        assert time.monotonic() - start < 15
        assert not (psutil.pid_exists(pid) and _running(psutil.Process(pid))), "the stopped child is killed"
        assert service.call("nap", 0) == 0, "a fresh child answers"
    finally:
        service.stop()


@pytest.mark.parametrize(
    "sig, says", [(signal.SIGSTOP, r"was given up \(its process was stopped"), (signal.SIGKILL, "died")]
)
def test_a_stopped_or_killed_inspection_child_is_one_error(home, tmp_path, sig, says):
    """The child that builds a model on the meta device for Inspect, stopped or killed while
    it imports transformers: one line naming the source, within seconds, and no child left."""
    import shutil

    from llmbench.engine.errors import LlmbenchError
    from llmbench.engine.inspect.isolated import inspect_isolated

    config = tmp_path / "config.json"
    shutil.copy(FIXTURES / "configs" / "gpt2.json", config)
    signalled: list[int] = []

    def signal_the_child() -> bool:  # called at every poll: the first one, the child is starting
        if not signalled:
            kids = [p for p in psutil.Process().children() if _running(p) and "resource_tracker" not in _cmdline(p)]
            child = max(kids, key=lambda p: p.create_time())
            os.kill(child.pid, sig)
            signalled.append(child.pid)
        return False

    start = time.monotonic()
    with pytest.raises(LlmbenchError, match=says) as caught:
        inspect_isolated(str(config), tree=True, cancelled=signal_the_child)
    assert str(config) in str(caught.value) and "\n" not in str(caught.value)
    assert time.monotonic() - start < 15
    assert not (psutil.pid_exists(signalled[0]) and _running(psutil.Process(signalled[0])))


@pytest.fixture
def full_home(tmp_path, monkeypatch, demo_paths):
    """LLMBENCH_HOME on a real 512 KB tmpfs, the demo models linked in, then filled to the
    last byte. Skipped where the tests cannot mount one (not root, no CAP_SYS_ADMIN); the
    injected-ENOSPC tests in test_sessions and test_rag run everywhere."""
    from llmbench.engine import models

    with small_tmpfs(tmp_path / "full", "512k") as home:
        monkeypatch.setenv("LLMBENCH_HOME", str(home))
        for name, path in demo_paths.items():
            target = models.demo_path(name)
            target.parent.mkdir(parents=True, exist_ok=True)
            if not target.exists():
                os.symlink(path, target)
        fd = os.open(home / "filler", os.O_WRONLY | os.O_CREAT)
        try:
            while os.write(fd, b"\0" * 4096):
                pass
        except OSError:  # ENOSPC: full
            pass
        finally:
            os.close(fd)
        yield home


def test_a_real_full_disk_loses_no_answer_and_says_so_in_one_line(full_home, tiny_gguf):
    """A disk with no byte left (a real tmpfs, not an injected error): the duel still runs
    both sides and says "not recorded: disk full", leaving no empty session; `index add`
    and `models add` fail in one line naming the file, with the registry as it was."""
    duel = subprocess.run([LLMBENCH, "duel", "--a", "smollm2", "--b", "smollm2", "--max-tokens", "8", "--prompt",
                           "Name a colour."], capture_output=True, text=True, timeout=300)  # fmt: skip
    assert duel.returncode == 0 and duel.stdout.count("finish") == 1, duel.stderr
    assert "not recorded" in duel.stderr and "disk full" in duel.stderr and "Traceback" not in duel.stderr
    assert not [f for f in full_home.rglob("*") if f.is_file() and f.stat().st_size == 0], "no empty files left"
    added = subprocess.run([LLMBENCH, "models", "add", "tiny", str(tiny_gguf)], capture_output=True, text=True)
    assert added.returncode == 1 and "Traceback" not in added.stderr
    assert added.stderr.count("\n") == 1 and "registry.json" in added.stderr and "No space left" in added.stderr
    assert not (full_home / "registry.json").exists()
    doc = full_home.parent / "pumps.md"
    doc.write_text("# Pumps\n\nThe pump warranty lasts two years.\n")
    index = subprocess.run([LLMBENCH, "index", "add", "t", str(doc)], capture_output=True, text=True, timeout=300)
    error = [line for line in index.stderr.splitlines() if line.startswith("llmbench: error:")]
    assert index.returncode == 1 and "Traceback" not in index.stderr and len(error) == 1, index.stderr
    assert "collections/t" in error[0] and "the collection is unchanged" in error[0]
