"""Outputs a killed run cannot litter: every file a job writes goes through
``util.files.staged`` (a partial name, renamed when complete); a killed run's partial
goes when the next run of the same kind starts, or with ``doctor --clean``; a full
disk names the output's folder."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from llmbench.engine import paths
from llmbench.engine.doctor import diagnose
from llmbench.engine.errors import QuantizeError
from llmbench.engine.experiments.fidelity.run import Fidelity, read_text
from llmbench.engine.jobs import Finished
from llmbench.engine.models.quantize import quantize_gguf
from llmbench.engine.util.files import atomic_write_text, output_error, part_path, staged, stale_parts
from llmbench.tui.cli import main
from tests.helpers import LLMBENCH, small_tmpfs

GONE_PID = 4_194_304 + 7  # above any Linux pid_max: never a live process


def _partial_of_a_dead_run(target: Path, text: str = "half") -> Path:
    p = target.with_name(f".{target.name}.{GONE_PID}.abcdef.part")
    p.write_text(text)
    return p


def _parts(folder: Path) -> list[Path]:
    return sorted(folder.glob(".*.part"))


def test_staged_names_the_output_only_when_it_is_complete(tmp_path):
    target = tmp_path / "out.gguf"
    target.write_text("old")
    with staged(target) as tmp:
        tmp.write_text("new")
        assert target.read_text() == "old" and tmp.name.startswith(".out.gguf.") and tmp.suffix == ".part"
    assert target.read_text() == "new" and _parts(tmp_path) == []
    with pytest.raises(RuntimeError), staged(target) as tmp:
        tmp.write_text("broken")
        raise RuntimeError("the job failed")
    assert target.read_text() == "new" and _parts(tmp_path) == []


def test_a_dead_runs_partial_goes_when_the_next_run_of_its_kind_starts(tmp_path):
    dead = _partial_of_a_dead_run(tmp_path / "a.Q8_0.gguf")
    live = part_path(tmp_path / "b.gguf")  # this process: alive, kept
    live.write_text("being written")
    other_kind = _partial_of_a_dead_run(tmp_path / "ref.bin")
    assert stale_parts(tmp_path, "*.gguf") == [dead]
    with staged(tmp_path / "c.gguf") as tmp:
        tmp.write_text("done")
    assert not dead.exists() and live.exists() and other_kind.exists()
    atomic_write_text(tmp_path / "meta.bin", "x")  # its own name only: other .bin partials stay
    assert other_kind.exists()
    atomic_write_text(tmp_path / "ref.bin", "x")
    assert not other_kind.exists()


def test_a_full_disk_names_the_outputs_folder(tmp_path):
    import errno

    line = output_error(tmp_path / "out.gguf", OSError(errno.ENOSPC, "No space left on device", "/src/model.gguf"))
    assert line.startswith(f"{tmp_path}: the disk is full, out.gguf was not written; ")
    assert "/src/model.gguf" not in line


def _kill_when_a_partial_grows(cmd: list[str], folder: Path, timeout_s: float = 120) -> Path:
    """Start ``cmd`` in its own session, SIGKILL it once a partial in ``folder`` holds data."""
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and proc.poll() is None:
            grown = [p for p in _parts(folder) if p.stat().st_size > 0]
            if grown:
                return grown[0]
            time.sleep(0.05)
        raise AssertionError(f"no partial appeared in {folder} (exit {proc.poll()})")
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def test_a_killed_quantize_leaves_a_partial_that_the_next_one_removes(demo_paths, tmp_path):
    out = tmp_path / "models"
    out.mkdir()
    cmd = [LLMBENCH, "quantize", str(demo_paths["smollm2"]), "--type", "F32", "--out", str(out / "smollm2.F32.gguf")]
    left = _kill_when_a_partial_grows(cmd, out)
    assert not (out / "smollm2.F32.gguf").exists() and left.exists()  # the kill left it, named as partial
    done = quantize_gguf(demo_paths["smollm2"], "Q8_0", out / "smollm2.Q8_0.gguf")
    assert Path(done.out).is_file() and _parts(out) == []
    assert sorted(p.name for p in out.iterdir()) == ["smollm2.Q8_0.gguf"]


def test_a_killed_save_ref_leaves_a_partial_that_the_next_one_removes(demo_paths, smollm2, tmp_path):
    text = tmp_path / "text.txt"
    text.write_text(read_text(None).content[:20_000])
    cmd = [LLMBENCH, "fidelity", smollm2, "--text", str(text), "--ctx", "64", "--save-ref", str(tmp_path / "a.kld")]
    left = _kill_when_a_partial_grows(cmd, tmp_path)
    assert left.name.startswith(".a.kld.") and not (tmp_path / "a.kld").exists()
    fid = Fidelity(smollm2, [], read_text(str(text)), ctx=64, chunks=2, save_ref=tmp_path / "b.kld")
    assert isinstance(list(fid.run())[-1], Finished)
    assert (tmp_path / "b.kld").is_file() and _parts(tmp_path) == []


@pytest.fixture
def small_disk(tmp_path):
    """A 2 MiB tmpfs, where this process may mount one."""
    with small_tmpfs(tmp_path / "small", "2m") as mnt:
        yield mnt


def test_a_full_disk_during_quantize_names_the_outputs_folder(demo_paths, small_disk):
    with pytest.raises(QuantizeError) as err:
        quantize_gguf(demo_paths["smollm2"], "Q8_0", small_disk / "smollm2.Q8_0.gguf")
    message = str(err.value)
    assert message.startswith(f"{small_disk}: the disk is full, smollm2.Q8_0.gguf was not written")
    assert "\n" not in message and list(small_disk.iterdir()) == []


def test_doctor_finds_the_leftovers_and_cleans_them(home, capsys):
    sessions = paths.ensure(paths.sessions_dir())
    left = _partial_of_a_dead_run(sessions / "x.jsonl", "x" * 10_000)
    scratch = paths.ensure(paths.cache_dir()) / f".llmbench-matrix-ref.{GONE_PID}.abcdef.part"
    scratch.mkdir()
    check = next(c for c in diagnose()[1] if c.area == "leftovers")
    assert check.verdict == "warn" and "2 partial file(s) of killed runs" in check.found and "--clean" in check.fix
    assert main(["doctor", "--clean", "--format", "json"]) in (0, 1)
    err = capsys.readouterr().err
    assert "removed 2 partial file(s)" in err and not left.exists() and not scratch.exists()
    assert next(c for c in diagnose()[1] if c.area == "leftovers").verdict == "ok"
