"""The wheel: everything under one ``llmbench`` namespace, the themes and the sample
sessions inside it as package data, and a working ``llmbench`` command.

The wheel is built from a copy of the sources (the build writes nothing into the
repository) and installed with ``--no-deps`` into a fresh virtualenv; the libraries
it needs at run time are borrowed from this environment through a ``.pth`` line."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from tests.helpers import ROOT

pytestmark = pytest.mark.slow  # builds a wheel and a virtualenv

SOURCES = ("engine", "tui", "themes", "sessions", "pyproject.toml", "README.md")


def run(*cmd, **kw) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=300, **kw)
    assert proc.returncode == 0, f"{' '.join(map(str, cmd))}\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
    return proc


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    src = tmp_path_factory.mktemp("src")
    for name in SOURCES:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, src / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(path, src / name)
    dist = tmp_path_factory.mktemp("dist")
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", dist, src)
    return next(dist.glob("llmbench-*.whl"))


@pytest.fixture(scope="module")
def venv(tmp_path_factory, wheel) -> tuple[Path, set[str]]:
    """A fresh virtualenv with the wheel installed, and what the install added to its site-packages."""
    env = tmp_path_factory.mktemp("venv")
    run(sys.executable, "-m", "venv", env)
    site = next(env.glob("lib/python*/site-packages"))
    before = {p.name for p in site.iterdir()}
    run(env / "bin" / "python", "-m", "pip", "install", "-q", "--no-deps", "--no-index", wheel)
    added = {p.name for p in site.iterdir()} - before
    (site / "zz-borrowed-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return env, added


def test_the_wheel_holds_one_namespace_with_its_data(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names}
    assert {t for t in tops if not t.endswith(".dist-info")} == {"llmbench"}
    for theme in ("llmbench-dark", "llmbench-light", "solarized-terminal"):
        assert f"llmbench/themes/{theme}.toml" in names
    assert len([n for n in names if n.startswith("llmbench/samples/") and n.endswith(".jsonl")]) == 3
    assert "llmbench/engine/experiments/quant/data/quant_questions.jsonl" in names
    assert "llmbench/engine/rag/data/demo_questions.jsonl" in names
    assert "llmbench/tui/app/styles/duel.tcss" in names, "the app's stylesheets"
    # every source module is in the wheel
    sources = {
        f"llmbench/{p.relative_to(ROOT).as_posix()}" for pkg in ("engine", "tui") for p in (ROOT / pkg).rglob("*.py")
    }
    assert sources <= set(names), sorted(sources - set(names))[:5]


def test_installed_it_adds_only_llmbench_and_works(venv, tmp_path):
    venv, added = venv
    assert {n for n in added if not n.endswith(".dist-info")} == {"llmbench"}
    exe = venv / "bin" / "llmbench"
    env = {"PATH": f"{venv / 'bin'}:/usr/bin:/bin", "LLMBENCH_HOME": str(tmp_path / "home"), "HOME": str(tmp_path)}
    help_text = run(exe, "--help", env=env).stdout
    assert "duel" in help_text and "quant-matrix" in help_text
    where = run(
        venv / "bin" / "python",
        "-c",
        "import llmbench.engine, llmbench.tui.cli; print(llmbench.engine.__file__)",
        env=env,
    ).stdout.strip()
    assert where.startswith(str(venv)), f"llmbench came from {where}, not from the wheel"
    themes = run(
        venv / "bin" / "python",
        "-c",
        "from llmbench.tui.app.themes import load_themes; print(' '.join(sorted(t.name for t in load_themes()[0])))",
        env=env,
    ).stdout.split()
    assert themes == ["llmbench-dark", "llmbench-light", "solarized-terminal"]
    listed = json.loads(run(exe, "sessions", "list", "--format", "json", env=env).stdout)
    assert sorted(s["kind"] for s in listed if s["sample"]) == ["chat", "duel", "eval"]
    assert all(s["path"].startswith(str(venv)) for s in listed)
