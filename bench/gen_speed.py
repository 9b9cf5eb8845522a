"""Generation speed through llmbench's worker process: the Duel's own path (a spawned
worker, events over a pipe, RAM and CPU sampling on, as a user runs it).

Shared by ``bench_parity.py`` and ``duel_overhead.py``."""

from __future__ import annotations

import queue
import sys

from llmbench.engine import models
from llmbench.engine.runtime.events import Done, Error, Loaded
from llmbench.engine.runtime.params import GenParams
from llmbench.engine.runtime.worker import ModelWorker

PROMPT = [{"role": "user", "content": "Write a detailed story about a lighthouse keeper and a storm."}]
GREEDY = {"temperature": 0.0}
SAMPLED = {}  # llmbench's defaults: T 0.7, top-k 40, top-p 0.95, repeat penalty 1.1


class WorkerGen:
    """One model in one worker, kept loaded; ``tok_s`` asks it for ``tokens`` tokens
    (end-of-sequence ruled out, as llama-bench's tg) and returns its gen tok/s."""

    def __init__(self, spec: str, threads: int, tokens: int):
        self.params = GenParams(max_tokens=tokens, threads=threads, ignore_eos=True)
        self.sink: queue.Queue = queue.Queue()
        self.worker = ModelWorker("gen-speed", models.resolve(spec), self.params, self.sink)
        self.worker.start()
        while True:
            _, event = self.sink.get(timeout=300)
            if isinstance(event, Loaded):
                return
            if isinstance(event, Error):
                sys.exit(f"{spec}: {event.message}")

    def tok_s(self, sampling: dict) -> float:
        self.worker.generate(PROMPT, self.params.replace(**sampling))
        while True:
            _, event = self.sink.get(timeout=300)
            if isinstance(event, Done):
                return event.stats.gen_tok_s
            if isinstance(event, Error):
                sys.exit(f"worker failed: {event.message}")

    def close(self) -> None:
        self.worker.close()
