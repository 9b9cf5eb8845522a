"""``inspect SRC --memory --measure``: load the model in a worker, let it answer a few
tokens (so the weights it touches are resident), and set what it took beside Inspect's
estimate, part by part."""

from __future__ import annotations

import queue

from .. import models
from ..errors import LlmbenchError
from ..runtime.events import Done
from ..runtime.fits import Estimate, estimate
from ..runtime.params import GenParams
from ..runtime.worker import ModelWorker
from ..util.fmt import MIB

PROBE = [{"role": "user", "content": "Name three colours."}]
PROBE_TOKENS = 8
TIMEOUT_S = 900.0


def measure_memory(spec: str, n_ctx: int, threads: int | None = None, force: bool = False) -> dict:
    """The worker's memory after a short answer at context ``n_ctx`` (``Stats.memory``),
    with ``parts``: (part, estimate MiB, measured MiB, error) rows."""
    model = models.resolve(spec)
    if model.backend == "openai":
        raise LlmbenchError(f"{spec}: a server's memory is its own; --measure loads local models")
    params = GenParams(n_ctx=n_ctx, max_tokens=PROBE_TOKENS, temperature=0, ignore_eos=True, threads=threads,
                       force=force)  # fmt: skip
    if not force:
        from ..runtime.fits import check_fits

        check_fits(model, params)
    sink: queue.Queue = queue.Queue()
    worker = ModelWorker("measure", model, params, sink)
    worker.start()
    try:
        worker.generate(PROBE, params)
        done, why = worker.reply(Done, TIMEOUT_S)
        if done is None:
            raise LlmbenchError(f"{spec}: could not measure it: {why}")
    finally:
        worker.close()
    mem = dict(done.stats.memory or {})
    if not mem:
        raise LlmbenchError(f"{spec}: this system does not report a process's memory (/proc)")
    est = estimate(model, params)
    mem["parts"] = reconcile(mem, est) if est else []
    mem["model"], mem["n_ctx"], mem["load_s"] = model.title, n_ctx, done.stats.load_s
    return mem


def reconcile(mem: dict, est: Estimate) -> list[tuple[str, float, float | None, float | None]]:
    """Inspect's parts against what was measured: weights against the engine's weight
    buffers (or the file-backed pages), the KV cache against its buffer, the runtime against
    what is left of the RSS, and the total against the RSS."""
    buffers = mem.get("buffers") or {}
    weights = sum(v for k, v in buffers.items() if k.startswith("weights")) or mem.get("file")
    kv = sum(v for k, v in buffers.items() if k.startswith("KV cache")) or None
    runtime = mem["rss"] - (weights or 0) - (kv or 0) if weights else None
    rows = []
    for part, e, m in (("weights", est.weights, weights), ("KV cache", est.kv, kv), ("runtime", est.overhead, runtime),
                       ("total", est.total, mem["rss"])):  # fmt: skip
        e_mib = e / MIB
        rows.append((part, round(e_mib, 1), None if m is None else round(m, 1), e_mib / m - 1 if m else None))
    return rows
