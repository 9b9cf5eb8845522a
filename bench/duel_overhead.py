#!/usr/bin/env python3
"""Generation speed through llmbench's worker process vs raw llama-cpp-python.

Same model, threads, prompt tokens and sampling (greedy, so both produce the same
tokens); runs interleaved so drift in machine load hits both alike. Prints each
run, the medians, and their ratio (llmbench / raw). Target: at least 0.97.

    .venv/bin/python bench/duel_overhead.py [--model smollm2] [--rounds 5] [--tokens 128]
"""

from __future__ import annotations

import argparse
import queue
import statistics
import sys
import threading
import time

from llmbench.engine import models
from llmbench.engine.runtime.backends.llama_cpp import LlamaCppBackend
from llmbench.engine.runtime.events import Done, Error, Loaded
from llmbench.engine.runtime.params import GenParams
from llmbench.engine.runtime.worker import Worker
from llmbench.engine.util.host import physical_cores as default_threads

PROMPT = [{"role": "user", "content": "Write a detailed story about a lighthouse keeper and a storm."}]
TARGET = 0.97


def raw_tok_s(llm, tokens: list[int], n: int) -> tuple[float, int]:
    """Decode speed of a bare llm.generate loop: (tokens after the first) / (last - first)."""
    import llama_cpp

    llm.reset()
    times = []
    for tok in llm.generate(tokens, top_k=40, top_p=0.95, temp=0.0, repeat_penalty=1.1, reset=True):
        if llama_cpp.llama_vocab_is_eog(llm._model.vocab, tok):
            break
        times.append(time.monotonic_ns())
        if len(times) >= n:
            break
    return (len(times) - 1) * 1e9 / (times[-1] - times[0]), len(times)


def worker_tok_s(worker: Worker, sink: queue.Queue, params: GenParams) -> tuple[float, int]:
    worker.generate(PROMPT, params)
    while True:
        _, event = sink.get(timeout=300)
        if isinstance(event, Done):
            return event.stats.gen_tok_s, event.stats.gen_tokens
        if isinstance(event, Error):
            sys.exit(f"worker failed: {event.message}")


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

    # llmbench: the same model in a worker process, events over a pipe
    sink: queue.Queue = queue.Queue()
    worker = Worker("bench", info, params, sink)
    worker.start()
    while not isinstance(sink.get(timeout=300)[1], Loaded):
        pass
    worker.pause_sampling()
    threading.Event().wait(0.5)

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
                speed, n = worker_tok_s(worker, sink, params)
                ours.append(speed)
            print(f"  round {r + 1} {who:>8}: {speed:7.1f} tok/s ({n} tokens)")
    worker.close()
    ref.close()
    r_med, o_med = statistics.median(raw), statistics.median(ours)
    ratio = o_med / r_med
    print(f"raw llama-cpp-python : {r_med:7.1f} tok/s (median)")
    print(f"llmbench worker      : {o_med:7.1f} tok/s (median)")
    print(f"ratio                : {ratio:.3f}  (target >= {TARGET}: {'met' if ratio >= TARGET else 'NOT met'})")


if __name__ == "__main__":
    main()
