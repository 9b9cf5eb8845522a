#!/usr/bin/env python3
"""llmbench's speed beside llama.cpp's own ``llama-bench``, on the demo models.

llama-bench is built (or found) from the llama.cpp sources vendored in the installed
llama-cpp-python's sdist, with AMX off (``llama_tools.py``). For each demo model,
alternately, ``--rounds`` times, on the same GGUF and threads:

- llama-bench ``-p P -n N -r R``;
- ``llmbench bench`` with the same tests (its bare decode, as llama-bench times it);
- generation through llmbench's worker, the Duel's own path (RAM sampling on, end of
  sequence ruled out, N tokens), greedy and with the default sampling (T 0.7, top-k
  40, top-p 0.95, repeat penalty 1.1): R triples of llama-bench tg (one repetition),
  one greedy answer and one sampled answer, finely interleaved, so that the machine's
  drift from minute to minute falls on both sides of each ratio.

It prints every round, then per figure the medians and the median of the paired
ratios to llama-bench's (pp to pp, everything else to tg) with their range.
Targets (issue 15): pp, tg and greedy generation at least 0.95x, sampled generation
at least 0.92x; PASS or MISS each, never a timing assertion in the test suite.

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
from gen_speed import GREEDY, SAMPLED, WorkerGen  # noqa: E402
from llama_tools import reference  # noqa: E402

LLMBENCH = str(Path(sys.executable).with_name("llmbench"))
TARGETS = {"pp": 0.95, "tg": 0.95, "gen greedy": 0.95, "gen sampled": 0.92}


def model_path(name: str) -> str:
    out = subprocess.run([LLMBENCH, "models", "list", "--format", "json"], check=True, capture_output=True, text=True)
    found = next((m for m in json.loads(out.stdout) if m["name"] == name and m["status"] == "ready"), None)
    if found is None:
        sys.exit(f"bench_parity: {name}: not a ready model here (run `make demo` first)")
    return found["path"]


def llama_bench(exe: Path, path: str, args, p: int | None = None, r: int | None = None) -> dict[str, float]:
    p, r = args.p if p is None else p, args.r if r is None else r
    cmd = [str(exe), "-m", path, "-p", str(p), "-n", str(args.n), "-r", str(r), "-t", str(args.t), "-o",
           "json"]  # fmt: skip
    rows = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
    return {("pp" if r["n_prompt"] else "tg") + str(r["n_prompt"] or r["n_gen"]): r["avg_ts"] for r in rows}


def llmbench(path: str, args) -> dict[str, float]:
    cmd = [LLMBENCH, "bench", f"gguf:{path}", "-p", str(args.p), "-n", str(args.n), "-r", str(args.r), "-t",
           str(args.t), "-o", "json", "--no-record"]  # fmt: skip
    rows = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
    return {r["test"]: r["avg_ts"] for r in rows}


def generation(exe: Path, path: str, gen: WorkerGen, args) -> list[tuple[float, float, float]]:
    """R triples, finely interleaved: llama-bench's tg (one repetition after its warmup),
    one greedy answer, one sampled answer; the order rotates so none always goes first."""
    triples = []
    for i in range(args.r):
        steps = [lambda: llama_bench(exe, path, args, p=0, r=1)[f"tg{args.n}"], lambda: gen.tok_s(GREEDY),
                 lambda: gen.tok_s(SAMPLED)]  # fmt: skip
        shift = i % 3
        got = [step() for step in steps[shift:] + steps[:shift]]
        triples.append(tuple(got[-shift:] + got[:-shift]) if shift else tuple(got))
    return triples


def one_round(i: int, exe: Path, path: str, args) -> tuple[dict, dict]:
    """llama-bench's pp and tg and llmbench bench's, the order alternating from round to round."""
    steps = [lambda: llama_bench(exe, path, args), lambda: llmbench(path, args)]
    got = [step() for step in (steps if i % 2 == 0 else steps[::-1])]
    return (got[0], got[1]) if i % 2 == 0 else (got[1], got[0])


def verdict(name: str, figure: str, ref: list[float], ours: list[float], ratios: list[float], target: float) -> int:
    ratio = statistics.median(ratios)
    word = "PASS" if ratio >= target else "MISS"
    print(f"{name} {figure:<11} llama-bench {statistics.median(ref):6.1f} t/s, llmbench {statistics.median(ours):6.1f} "
          f"t/s, ratio {ratio:.2f} (per pair {min(ratios):.2f} to {max(ratios):.2f}, {len(ratios)} pairs; target "
          f"{target}) {word}")  # fmt: skip
    return word == "MISS"


def report(name: str, rounds: list[tuple[dict, dict]], triples: list[tuple[float, float, float]]) -> int:
    missed = 0
    for test in rounds[0][0]:
        ref, ours = [r[test] for r, _ in rounds], [o[test] for _, o in rounds]
        missed += verdict(name, test, ref, ours, [o / r for r, o in zip(ref, ours)], TARGETS[test[:2]])
    ref = [t[0] for t in triples]
    for k, figure in ((1, "gen greedy"), (2, "gen sampled")):
        ours = [t[k] for t in triples]
        missed += verdict(name, figure, ref, ours, [o / r for r, o in zip(ref, ours)], TARGETS[figure])
    return missed


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", default="smollm2,gemma3-270m")
    ap.add_argument("-p", type=int, default=128)
    ap.add_argument("-n", type=int, default=128)
    ap.add_argument("-r", type=int, default=5)
    ap.add_argument("-t", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    exe = reference("llama-bench", "bench_parity")
    if exe is None:
        return 0
    missed = 0
    for name in args.models.split(","):
        path = model_path(name)
        gen = WorkerGen(f"gguf:{path}", args.t, args.n)
        gen.tok_s(GREEDY)  # warmup, as llama-bench's
        rounds, triples = [], []
        for i in range(args.rounds):
            ref, ours = one_round(i, exe, path, args)
            rounds.append((ref, ours))
            got = generation(exe, path, gen, args)
            triples += got
            print(f"{name} round {i + 1}: llama-bench " + " ".join(f"{t} {v:.1f}" for t, v in ref.items())
                  + " | llmbench bench " + " ".join(f"{t} {v:.1f}" for t, v in ours.items())
                  + " | tg, greedy, sampled: " + "; ".join(" ".join(f"{v:.1f}" for v in t) for t in got),
                  flush=True)  # fmt: skip
        gen.close()
        missed += report(name, rounds, triples)
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
