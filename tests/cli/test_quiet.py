"""Quiet by default: libraries' warnings, logs and progress bars go to llmbench's log
file (and to stderr with ``--verbose``); stderr holds llmbench's own lines."""

from __future__ import annotations

import logging
import re
import subprocess
import warnings

import pytest

from llmbench.engine.util import logs
from tests.helpers import LLMBENCH

# what llmbench itself writes on stderr: its messages, and its own progress rows (a bar,
# or a stage with its count and elapsed time)
OWN_LINE = re.compile(r"^(llmbench: |session: |note: |removed |exported )|━|^[a-z]+ +.*\d+/(\d+|\?) .*\d:\d\d:\d\d")


@pytest.fixture
def routed(monkeypatch):
    """Undo the routing after the test: pytest's own logging stays as it was."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    for name in ("LLMBENCH_VERBOSE", "TQDM_DISABLE"):
        monkeypatch.delenv(name, raising=False)
    yield
    for h in root.handlers:
        if h not in handlers:
            h.close()
    root.handlers[:] = handlers
    root.setLevel(level)
    logging.captureWarnings(False)


def test_library_warnings_go_to_the_log_file_not_the_screen(home, routed, capfd):
    path = logs.route_library_output(verbose=False)
    logging.getLogger("bitsandbytes.backends.cpu.ops").warning("Failed to load CPU gemm_4bit_forward")
    warnings.warn("a library's FutureWarning", FutureWarning, stacklevel=1)
    logging.getLogger("somelib").info("chatter below the warning level")
    assert capfd.readouterr().err == ""
    text = path.read_text()
    assert "bitsandbytes.backends.cpu.ops WARNING: Failed to load CPU gemm_4bit_forward" in text
    assert "a library's FutureWarning" in text and "chatter" not in text


def test_verbose_shows_them_on_stderr_too(home, routed, capfd):
    path = logs.route_library_output(verbose=True)
    logging.getLogger("somelib").info("loading configuration file")
    err = capfd.readouterr().err
    assert "somelib INFO: loading configuration file" in err and "loading configuration file" in path.read_text()


def test_a_library_with_its_own_stderr_handler_is_routed_too(home, routed, capfd):
    lib = logging.getLogger("huggingface_hub")
    own = logging.StreamHandler()
    lib.addHandler(own)
    lib.propagate = False
    try:
        import huggingface_hub  # noqa: F401  (routing adopts only the libraries already imported)

        path = logs.route_library_output(verbose=False)
        lib.warning("a hub warning")
        assert capfd.readouterr().err == "" and "a hub warning" in path.read_text()
        assert own not in lib.handlers and lib.propagate
    finally:
        lib.removeHandler(own)


def _stderr_of(args: list[str]) -> list[str]:
    done = subprocess.run([LLMBENCH, *args], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, (args, done.stderr[-2000:])
    return [line for line in done.stderr.splitlines() if line.strip()]


@pytest.mark.slow  # the embedder and the HF stack, in subprocesses
def test_the_main_commands_write_only_their_own_lines_on_stderr(registered, demo_paths, tmp_path):
    doc = tmp_path / "notes.md"
    doc.write_text("# Lighthouses\n\nA keeper trims the lamp at dusk and logs the ships that pass.\n")
    smollm2 = str(demo_paths["smollm2"])
    runs = [
        ["index", "add", "notes", str(doc)],  # loaded bitsandbytes' CPU kernels warning here before
        ["inspect", f"hf:{smollm2}"],  # transformers' GGUF conversion bar
        ["duel", "--a", "smollm2", "--b", "smollm2", "--prompt", "Hi", "--max-tokens", "4", "--quiet"],
        ["quantize", smollm2, "--type", "Q8_0", "--out", str(tmp_path / "s.Q8_0.gguf")],
    ]
    for args in runs:
        foreign = [line for line in _stderr_of(args) if not OWN_LINE.search(line)]
        assert foreign == [], (args, foreign)
