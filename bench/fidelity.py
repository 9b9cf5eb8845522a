#!/usr/bin/env python3
"""``llmbench fidelity`` beside llama.cpp's ``llama-perplexity --kl-divergence``.

The same GGUF pair (a full-precision reference and a quantization of it, both made by
``llmbench quantize`` from a demo model), the same text file, ctx and threads.
llama-perplexity needs two runs (the reference writes its base file, then the
candidate is compared with it); llmbench does both models in one. The runs are
interleaved, their order alternating, ``--reps`` times; the script prints the figures
side by side, the median time of each side with its spread, and the ratio.

Targets: PPL within 1 %, Mean KLD within 5 %, Same top p within 0.5 points, and
tokens scored per second at least 0.8x llama-perplexity's.

    .venv/bin/python bench/fidelity.py [--model smollm2] [--quant Q4_K_M] [--ctx 512] [--chunks 20] [--threads 2] [--reps 3]
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from llama_tools import reference, tools_dir  # noqa: E402

LLMBENCH = str(Path(sys.executable).with_name("llmbench"))
PATTERNS = {
    "ppl": r"Mean PPL\(Q\)\s*:\s*([\d.]+)",
    "ppl_base": r"Mean PPL\(base\)\s*:\s*([\d.]+)",
    "kld_mean": r"Mean\s+KLD:\s*([\d.]+)",
    "same_top_p": r"Same top p:\s*([\d.]+)",
    "rms_dp": r"RMS Δp\s*:\s*([\d.]+)",
}


def ladder(model: str, quant: str) -> tuple[Path, Path]:
    """The reference (F32) and the candidate, made once by llmbench quantize."""
    folder = tools_dir() / "models"
    folder.mkdir(parents=True, exist_ok=True)
    ref, cand = folder / f"{model}.F32.gguf", folder / f"{model}.{quant}.gguf"
    if not ref.exists():
        subprocess.run([LLMBENCH, "quantize", model, "--type", "F32", "--out", str(ref), "--quiet"], check=True)
    if not cand.exists():
        subprocess.run([LLMBENCH, "quantize", str(ref), "--type", quant, "--out", str(cand), "--quiet"], check=True)
    return ref, cand


def run_llama_perplexity(exe: Path, ref: Path, cand: Path, text: Path, args, base: Path) -> tuple[float, dict]:
    common = ["-f", str(text), "-c", str(args.ctx), "--chunks", str(args.chunks), "-t", str(args.threads)]
    t0 = time.perf_counter()
    subprocess.run([str(exe), "-m", str(ref), *common, "--kl-divergence-base", str(base)],
                   check=True, capture_output=True)  # fmt: skip
    out = subprocess.run([str(exe), "-m", str(cand), *common, "--kl-divergence-base", str(base), "--kl-divergence"],
                         check=True, capture_output=True, text=True)  # fmt: skip
    seconds = time.perf_counter() - t0
    log = out.stdout + out.stderr
    figures = {k: float(m.group(1)) for k, p in PATTERNS.items() if (m := re.search(p, log))}
    for k in ("same_top_p", "rms_dp"):
        if k in figures:
            figures[k] /= 100
    return seconds, figures


def run_llmbench(ref: Path, cand: Path, text: Path, args) -> tuple[float, dict]:
    cmd = [LLMBENCH, "fidelity", f"gguf:{ref}", f"gguf:{cand}", "--text", str(text), "--ctx", str(args.ctx),
           "--chunks", str(args.chunks), "--threads", str(args.threads), "--format", "json"]  # fmt: skip
    t0 = time.perf_counter()
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    return seconds, json.loads(out.stdout)["candidates"][0]


def spread(values: list[float]) -> str:
    med = statistics.median(values)
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{med:7.1f} s (median of {len(values)}, ± {sd:.1f})"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="smollm2", help="a demo model to quantize (default smollm2)")
    p.add_argument("--quant", default="Q4_K_M")
    p.add_argument("--ctx", type=int, default=512)
    p.add_argument("--chunks", type=int, default=20)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--reps", type=int, default=3)
    args = p.parse_args()
    exe = reference("llama-perplexity", "fidelity")
    if exe is None:
        return 0
    ref, cand = ladder(args.model, args.quant)
    from llmbench.engine.experiments.fidelity.run import read_text

    with tempfile.TemporaryDirectory() as tmp:
        text = Path(tmp) / "text.txt"
        text.write_text(read_text(None).content, encoding="utf-8")
        times = {"llama-perplexity": [], "llmbench": []}
        figures = {}
        for rep in range(args.reps):
            order = ["llama-perplexity", "llmbench"] if rep % 2 == 0 else ["llmbench", "llama-perplexity"]
            for side in order:
                if side == "llmbench":
                    seconds, figures[side] = run_llmbench(ref, cand, text, args)
                else:
                    seconds, figures[side] = run_llama_perplexity(exe, ref, cand, text, args, Path(tmp) / "base.bin")
                times[side].append(seconds)
                print(f"rep {rep + 1}: {side:16s} {seconds:6.1f} s", file=sys.stderr)
    return report(args, ref, cand, times, figures)


def report(args, ref: Path, cand: Path, times: dict, figures: dict) -> int:
    lp, lb = figures["llama-perplexity"], figures["llmbench"]
    tokens = lb["tokens"]
    print(f"{ref.name} -> {cand.name}; ctx {args.ctx}, {args.chunks} chunks ({tokens} tokens scored), "
          f"{args.threads} threads, {args.reps} interleaved repetitions")  # fmt: skip
    print(f"{'figure':12s} {'llama-perplexity':>18s} {'llmbench':>12s}  target")
    checks = []
    for key, label, tol, how in (
        ("ppl", "PPL(Q)", 0.01, "rel"),
        ("ppl_base", "PPL(base)", 0.01, "rel"),
        ("kld_mean", "Mean KLD", 0.05, "rel"),
        ("same_top_p", "Same top p", 0.005, "abs"),
        ("rms_dp", "RMS Δp", None, None),
    ):
        a, b = lp.get(key), lb.get(key)
        ok = None
        if tol is not None and a is not None and b is not None:
            ok = abs(b - a) <= (tol * abs(a) if how == "rel" else tol)
            checks.append(ok)
        target = (
            "" if tol is None else f"{'within ' + str(int(tol * 100)) + ' %' if how == 'rel' else 'within 0.5 points'}"
        )
        shown = "—" if a is None else f"{a:.6f}"
        print(f"{label:12s} {shown:>18s} {b:>12.6f}  {target} {'' if ok is None else ('ok' if ok else 'MISSED')}")
    rate = {side: [tokens / s for s in values] for side, values in times.items()}
    for side in times:
        print(f"{side:16s} {spread(times[side])}  {statistics.median(rate[side]):,.0f} tokens scored/s")
    ratio = statistics.median(rate["llmbench"]) / statistics.median(rate["llama-perplexity"])
    print(f"speed ratio llmbench / llama-perplexity: {ratio:.2f}x (target at least 0.80x)")
    checks.append(ratio >= 0.8)
    print("all targets met" if all(checks) else "TARGETS MISSED")
    return 0 if all(checks) else 1


if __name__ == "__main__":
    sys.exit(main())
