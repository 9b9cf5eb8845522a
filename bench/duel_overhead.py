#!/usr/bin/env python3
"""Generation speed through llmbench's worker process vs raw llama-cpp-python.

Same model, threads, prompt tokens and sampling (greedy, so both produce the same
tokens); runs interleaved so drift in machine load hits both alike. The worker runs
as a user runs it: RAM and CPU sampling on. Prints each run, the medians, and their
ratio (llmbench / raw). Target: at least 0.97. (llmbench samples in llama.cpp's C
samplers on a view of the logits; raw ``Llama.generate`` copies them into numpy each
token, so on a large vocabulary the ratio goes above 1.)

    .venv/bin/python bench/duel_overhead.py [--model smollm2] [--rounds 5] [--tokens 128]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

from llmbench.engine import models
from llmbench.engine.runtime.backends.llama_cpp import LlamaCppBackend
from llmbench.engine.runtime.params import GenParams
from llmbench.engine.util.cpus import usable_cpus as default_threads

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gen_speed import GREEDY, PROMPT, WorkerGen  # noqa: E402

TARGET = 0.97


def raw_tok_s(llm, tokens: list[int], n: int) -> tuple[float, int]:
    """Decode speed of a bare llm.generate loop: (tokens after the first) / (last - first);
    like the worker's (ignore_eos), it never stops at an end-of-sequence token."""
    llm.reset()
    times = []
    for _ in llm.generate(tokens, top_k=40, top_p=0.95, temp=0.0, repeat_penalty=1.1, reset=True):
        times.append(time.monotonic_ns())
        if len(times) >= n:
            break
    return (len(times) - 1) * 1e9 / (times[-1] - times[0]), len(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="smollm2", help="model spec (default smollm2)")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--tokens", type=int, default=128)
    ap.add_argument("--threads", type=int, default=default_threads())
    args = ap.parse_args()

    info = models.resolve(args.model)
    params = GenParams(max_tokens=args.tokens, temperature=0.0, threads=args.threads)

    # reference: raw llama-cpp-python, in this process
    ref = LlamaCppBackend(info, params)
    ref.load()
    text, add_bos = ref.render(PROMPT, raw=False)
    tokens = ref.llm.tokenize(text.encode(), add_bos=add_bos, special=True)

    # llmbench: the same model in a worker process, events over a pipe, sampling RAM
    ours_gen = WorkerGen(args.model, args.threads, args.tokens)

    raw, ours = [], []
    print(
        f"model {info.name} ({info.quant}), {args.threads} threads, {len(tokens)} prompt tokens, "
        f"{args.tokens} tokens a run, {args.rounds} rounds interleaved"
    )
    for r in range(args.rounds):
        order = ("raw", "llmbench") if r % 2 == 0 else ("llmbench", "raw")
        for who in order:
            if who == "raw":
                speed, n = raw_tok_s(ref.llm, tokens, args.tokens)
                raw.append(speed)
            else:
                speed, n = ours_gen.tok_s(GREEDY), args.tokens
                ours.append(speed)
            print(f"  round {r + 1} {who:>8}: {speed:7.1f} tok/s ({n} tokens)")
    ours_gen.close()
    ref.close()
    r_med, o_med = statistics.median(raw), statistics.median(ours)
    ratio = o_med / r_med
    print(f"raw llama-cpp-python : {r_med:7.1f} tok/s (median)")
    print(f"llmbench worker      : {o_med:7.1f} tok/s (median)")
    print(f"ratio                : {ratio:.3f}  (target >= {TARGET}: {'met' if ratio >= TARGET else 'NOT met'})")


if __name__ == "__main__":
    main()
