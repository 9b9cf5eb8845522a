"""Shared fixtures. Nothing a test does lands outside its temporary folders:

* the whole run gets a sandbox: the XDG data, config and cache folders (platformdirs,
  pip, torch) and HF_HOME point into it, so subprocesses are fenced in too;
* every test gets its own LLMBENCH_HOME;
* the demo models are read where ``make setup`` pulled them (never written there),
  or pulled into the sandbox when this machine lacks them;
* at the end of the run, llmbench's real data, config and cache folders are checked
  to be exactly as they were.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from llmbench.engine import models, paths
from tests.helpers import write_gguf

# The fast lane (`make test-fast`, `-m "not slow"`) runs the unit and engine tests that need at
# most SmolLM2. A test that loads Gemma, the Hugging Face stack or the embedder, drives the
# TUI, or builds a wheel is marked slow; these fixtures give such a test away.
SLOW_FIXTURES = {
    "gemma",
    "embedder",
    "demo_collection",
    "_demo_collection_dir",
    "tiny_hf",
    "smollm2_hf",
    "pump",
    "ladder",
}


def pytest_collection_modifyitems(config, items):
    unmarked = [
        item.nodeid
        for item in items
        if SLOW_FIXTURES & set(getattr(item, "fixturenames", ())) and item.get_closest_marker("slow") is None
    ]
    if unmarked:
        raise pytest.UsageError("these tests use slow fixtures but are not marked slow: " + ", ".join(unmarked))


_SANDBOX_VARS = ("XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME", "HF_HOME", "LLMBENCH_HOME")


def _user_dirs() -> dict[str, Path]:
    """llmbench's own folders as the user has them (before the sandbox is set up)."""
    if os.environ.get("LLMBENCH_HOME"):
        home = Path(os.environ["LLMBENCH_HOME"]).expanduser()
        return {"data": home, "config": home, "cache": home / "cache"}
    import platformdirs

    return {
        "data": Path(platformdirs.user_data_dir("llmbench")),
        "config": Path(platformdirs.user_config_dir("llmbench")),
        "cache": Path(platformdirs.user_cache_dir("llmbench")),
    }


_USER_DIRS = _user_dirs()
# where the user's demo files may be: their home's models folder, then the shared one
_DEMO_DIRS = list(dict.fromkeys([_USER_DIRS["data"] / "models", paths.shared_models_dir(), paths.default_models_dir()]))


def _snapshot(folders) -> dict[str, tuple[int, int]]:
    out = {}
    for folder in folders:
        for root, _dirs, files in os.walk(folder):
            for name in files:
                path = os.path.join(root, name)
                try:
                    st = os.lstat(path)
                except OSError:
                    continue
                out[path] = (st.st_size, st.st_mtime_ns)
    return out


@pytest.fixture(scope="session", autouse=True)
def sandbox(tmp_path_factory) -> Path:
    """Every folder a test run could write to, inside one temporary folder."""
    root = tmp_path_factory.mktemp("sandbox")
    watched = [d for d in _USER_DIRS.values() if d.is_dir()]
    before = _snapshot(watched)
    saved = {k: os.environ.get(k) for k in _SANDBOX_VARS}
    for var, sub in (
        ("XDG_DATA_HOME", "data"),
        ("XDG_CONFIG_HOME", "config"),
        ("XDG_CACHE_HOME", "cache"),
        ("HF_HOME", "hf"),
        ("LLMBENCH_HOME", "home"),
    ):
        os.environ[var] = str(root / sub)
    yield root
    for var, value in saved.items():
        if value is None:
            os.environ.pop(var, None)
        else:
            os.environ[var] = value
    after = _snapshot(watched)
    changed = sorted(set(before.items()) ^ set(after.items()))
    assert not changed, f"the tests wrote outside their temporary folders: {changed[:5]}"


@pytest.fixture(scope="session")
def demo_paths(sandbox) -> dict[str, Path]:
    """The real demo GGUFs: read where `make setup` pulled them, or pulled into the sandbox."""
    from llmbench.engine.util.files import file_sha256

    out = {}
    for name, demo in models.DEMO_MODELS.items():
        for installed in (d / demo.filename for d in _DEMO_DIRS):
            marker = installed.with_name(installed.name + ".sha256")
            if (
                installed.is_file()
                and installed.stat().st_size == demo.size_bytes
                and (
                    (marker.is_file() and marker.read_text().strip() == demo.sha256)
                    or file_sha256(installed) == demo.sha256
                )
            ):
                out[name] = installed
                break
        else:
            out[name] = models.pull(name).path  # into the sandbox's shared folder
    return out


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch, sandbox) -> Path:
    """A private LLMBENCH_HOME: no test reads or writes the user's settings or sessions."""
    home = tmp_path / "home"
    (home / "cache").mkdir(parents=True)
    # made once per run and shared, as a user's cache shares them between runs: the GGUF ->
    # safetensors conversions and the quantization matrix's GGUF ladders (F32, Q8_0, Q2_K
    # of a demo model); both are written whole (staged) and keyed by their source
    for name in ("hf-from-gguf", "ladder"):
        shared = sandbox / name
        shared.mkdir(parents=True, exist_ok=True)
        (home / "cache" / name).symlink_to(shared)
    monkeypatch.setenv("LLMBENCH_HOME", str(home))
    monkeypatch.delenv("LLMBENCH_SESSIONS", raising=False)
    for name in ("LLMBENCH_MAX_RAM", "LLMBENCH_API_KEY", "OPENAI_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    return home


@pytest.fixture(scope="session")
def llama_tools(sandbox):
    """llama.cpp's reference tools and scripts (``bench/llama_tools.py``): ``tool(name)``
    the one built in the user's cache, or None (the tests never build it); ``script(name)``
    the user's cached copy, else fetched from the sdist into the sandbox (None offline)."""
    import importlib.metadata
    import subprocess
    import sys
    import types

    user = _USER_DIRS["cache"] / "llama-tools" / importlib.metadata.version("llama_cpp_python")

    def tool(name: str) -> Path | None:
        return user / "bin" / name if (user / "bin" / name).is_file() else None

    def script(name: str) -> Path | None:
        if (user / "scripts" / name).is_file():
            return user / "scripts" / name
        root = Path(__file__).resolve().parent.parent
        done = subprocess.run([sys.executable, str(root / "bench" / "llama_tools.py"), "--script", name],
                              capture_output=True, text=True, timeout=600)  # fmt: skip
        return Path(done.stdout.strip()) if done.returncode == 0 and done.stdout.strip() else None

    return types.SimpleNamespace(tool=tool, script=script)


@pytest.fixture
def smollm2(demo_paths) -> str:
    return f"gguf:{demo_paths['smollm2']}"


@pytest.fixture
def gemma(demo_paths) -> str:
    return f"gguf:{demo_paths['gemma3-270m']}"


@pytest.fixture
def registered(home, demo_paths) -> None:
    """The demo models under their registry names in the private home."""
    for name, path in demo_paths.items():
        target = models.demo_path(name)
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.exists():
            os.symlink(path, target)


@pytest.fixture
def busy_core():
    """A busy loop pinned to the last CPU this process may use, for as long as the test
    runs: the machine a shared server or a laptop with a browser open is."""
    import subprocess
    import sys

    cpu = max(os.sched_getaffinity(0))
    code = f"import os; os.sched_setaffinity(0, {{{cpu}}})\nwhile True: pass"
    loop = subprocess.Popen([sys.executable, "-c", code])
    time.sleep(0.3)
    yield cpu
    loop.kill()
    loop.wait()


@pytest.fixture
def tiny_gguf(tmp_path) -> Path:
    return write_gguf(tmp_path / "tiny.gguf", chat_template="{{ messages[0]['content'] }}")


# ---------------------------------------------------------------- documents


@pytest.fixture(scope="session")
def embedder(sandbox):
    """One loaded all-MiniLM-L6-v2 for the whole run (its import alone takes ~12 s here)."""
    from llmbench.engine.rag.embed import Embedder

    e = Embedder()
    e.encode(["load"])
    return e


@pytest.fixture(scope="session")
def _demo_collection_dir(tmp_path_factory, embedder, sandbox) -> Path:
    """The demo corpus indexed once per run, in a folder of its own."""
    from llmbench.engine.rag.collection import index_add
    from llmbench.engine.rag.demo import DEMO_COLLECTION, demo_sources

    home = tmp_path_factory.mktemp("demo-home")
    old = os.environ["LLMBENCH_HOME"]
    os.environ["LLMBENCH_HOME"] = str(home)
    try:
        index_add(DEMO_COLLECTION, sources=demo_sources(), embedder=embedder)
    finally:
        os.environ["LLMBENCH_HOME"] = old
    return home / "collections" / DEMO_COLLECTION


@pytest.fixture
def demo_collection(home, _demo_collection_dir) -> str:
    """The demo collection, copied into this test's private home."""
    import shutil

    shutil.copytree(_demo_collection_dir, home / "collections" / "demo")
    return "demo"
