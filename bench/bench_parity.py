#!/usr/bin/env python3
"""``llmbench bench`` beside llama.cpp's own ``llama-bench``, on the demo models.

llama-bench is built (or found) from the llama.cpp sources vendored in the installed
llama-cpp-python's sdist, with AMX off (``llama_tools.py``). For each demo model the two
tools run the same GGUF, threads and tests (``-p``, ``-n``, ``-r``), alternately,
``--rounds`` times; the script prints every round's t/s (avg ± stddev of its
repetitions) from both tools, then per test the median of the rounds and the ratio
llmbench / llama-bench with the spread of the per-round ratios.

Targets (issue 15): tg at least 0.95x and pp at least 0.95x of llama-bench's; the
script prints PASS or MISS for each, never a timing assertion in the test suite.

    .venv/bin/python bench/bench_parity.py [--models smollm2,gemma3-270m] [-p 128] [-n 128] [-r 5] [-t 2] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from llama_tools import tool  # noqa: E402

LLMBENCH = str(Path(sys.executable).with_name("llmbench"))
TARGET = 0.95


def model_path(name: str) -> str:
    out = subprocess.run([LLMBENCH, "models", "list", "--format", "json"], check=True, capture_output=True, text=True)
    found = next((m for m in json.loads(out.stdout) if m["name"] == name and m["status"] == "ready"), None)
    if found is None:
        sys.exit(f"bench_parity: {name}: not a ready model here (run `make demo` first)")
    return found["path"]


def llama_bench(exe: Path, path: str, args) -> dict[str, float]:
    cmd = [str(exe), "-m", path, "-p", str(args.p), "-n", str(args.n), "-r", str(args.r), "-t", str(args.t), "-o",
           "json"]  # fmt: skip
    rows = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
    return {("pp" if r["n_prompt"] else "tg") + str(r["n_prompt"] or r["n_gen"]): r["avg_ts"] for r in rows}


def llmbench(path: str, args) -> dict[str, float]:
    cmd = [LLMBENCH, "bench", f"gguf:{path}", "-p", str(args.p), "-n", str(args.n), "-r", str(args.r), "-t",
           str(args.t), "-o", "json", "--no-record"]  # fmt: skip
    rows = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
    return {r["test"]: r["avg_ts"] for r in rows}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", default="smollm2,gemma3-270m")
    ap.add_argument("-p", type=int, default=128)
    ap.add_argument("-n", type=int, default=128)
    ap.add_argument("-r", type=int, default=5)
    ap.add_argument("-t", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    exe = tool("llama-bench")
    if exe is None:
        print("bench_parity: SKIP: llama-bench cannot be built here (see above)")
        return 0
    missed = 0
    for name in args.models.split(","):
        path = model_path(name)
        rounds: list[tuple[dict, dict]] = []
        for i in range(args.rounds):
            first, second = (llama_bench, llmbench) if i % 2 == 0 else (llmbench, llama_bench)
            a = first(exe, path, args) if first is llama_bench else first(path, args)
            b = second(exe, path, args) if second is llama_bench else second(path, args)
            ref, ours = (a, b) if first is llama_bench else (b, a)
            rounds.append((ref, ours))
            print(f"{name} round {i + 1}: " + "  ".join(f"{t} llama-bench {ref[t]:.1f} llmbench {ours[t]:.1f}"
                                                      for t in ref))  # fmt: skip
        for test in rounds[0][0]:
            ratios = [ours[test] / ref[test] for ref, ours in rounds]
            med_ref = statistics.median(r[test] for r, _ in rounds)
            med_ours = statistics.median(o[test] for _, o in rounds)
            ratio = statistics.median(ratios)
            verdict = "PASS" if ratio >= TARGET else "MISS"
            missed += verdict == "MISS"
            print(f"{name} {test}: llama-bench {med_ref:.1f} t/s, llmbench {med_ours:.1f} t/s, ratio {ratio:.2f} "
                  f"(rounds {min(ratios):.2f} to {max(ratios):.2f}; target {TARGET}) {verdict}")  # fmt: skip
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
