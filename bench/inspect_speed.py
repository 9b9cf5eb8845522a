#!/usr/bin/env python3
"""Inspect speed: a GGUF header read (goal: under 1 s at any file size) and a
config-only inspect of a 70B-class config (goal: under 5 s), each against gguf-py's
GGUFReader on the same file as the reference.

    .venv/bin/python bench/inspect_speed.py [GGUF ...]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from llmbench.engine import models
from llmbench.engine.inspect import inspect_source
from llmbench.engine.inspect.memory import memory_table

CONFIG_70B = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "configs" / "meta-llama-3-70b.json"


def timed(fn, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    files = sys.argv[1:] or [str(models.demo_path(n)) for n in models.DEMO_MODELS]
    import gguf  # loaded once, outside the timings

    for f in files:
        ours = timed(lambda: inspect_source(f))
        ref = timed(lambda: gguf.GGUFReader(f), repeat=1)
        size = Path(f).stat().st_size / 2**20
        print(
            f"{Path(f).name} ({size:,.0f} MiB): llmbench {ours * 1000:.0f} ms, gguf-py GGUFReader "
            f"{ref * 1000:.0f} ms, ratio {ref / ours:.0f}x; goal < 1 s: {'met' if ours < 1 else 'NOT met'}"
        )
    t = timed(lambda: memory_table(inspect_source(str(CONFIG_70B)), 8192))
    print(
        f"Llama-3-70B config, summary and memory table: {t * 1000:.1f} ms; goal < 5 s: {'met' if t < 5 else 'NOT met'}"
    )
    # the module tree: transformers builds the model class on the meta device, in a fresh
    # process as the TUI does (the first call pays for importing torch and transformers)
    from llmbench.engine.inspect.isolated import inspect_isolated

    t = timed(lambda: inspect_isolated(str(CONFIG_70B), tree=True), repeat=2)
    print(f"Llama-3-70B config, module tree on the meta device (fresh process, imports included): {t:.2f} s")


if __name__ == "__main__":
    main()
