"""engine stays headless and light: no Textual or Rich ever, no torch, transformers or
llama_cpp at import time (those load inside the functions that need them)."""

import subprocess
import sys

HEAVY = (
    "textual",
    "rich",
    "torch",
    "transformers",
    "llama_cpp",
    "faiss",
    "sentence_transformers",
    "pypdf",
    "bitsandbytes",
    "peft",
    "optimum",
    "torchao",
    "safetensors",
)

CHECK = f"""
import importlib, pkgutil, sys
import llmbench.engine as engine
for m in pkgutil.walk_packages(engine.__path__, "llmbench.engine."):
    importlib.import_module(m.name)
loaded = [m for m in {HEAVY!r} if m in sys.modules]
print(",".join(loaded))
"""


def test_importing_every_engine_module_loads_nothing_heavy():
    out = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"importing engine loaded: {out.stdout.strip()}"


def test_the_check_itself_sees_a_heavy_import():
    """Guard against a check that cannot fail: importing tui does load textual."""
    code = "import sys, llmbench.tui.app.app; print('textual' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True"


def test_engine_sources_never_name_textual_or_rich():
    from pathlib import Path

    import llmbench.engine as engine

    for path in Path(engine.__file__).parent.rglob("*.py"):
        text = path.read_text()
        for lib in ("textual", "rich"):
            assert f"import {lib}" not in text and f"from {lib}" not in text, f"{path} imports {lib}"
