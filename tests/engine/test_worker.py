"""One worker process on its own: events, RAM samples, cancel without a kill."""

import queue
import time

import pytest

from llmbench.engine import models
from llmbench.engine.runtime.events import Done, Error, Loaded, Resources, Started
from llmbench.engine.runtime.params import GenParams
from llmbench.engine.runtime.worker import IDLE_SAMPLE_S, SAMPLE_INTERVAL_S, ModelWorker

LONG = [{"role": "user", "content": "Write a very long story about the sea."}]


def events_until_done(sink, timeout=120):
    out = []
    while True:
        _, event = sink.get(timeout=timeout)
        out.append(event)
        if isinstance(event, (Done, Error)):
            return out


@pytest.fixture
def worker(smollm2):
    sink: queue.Queue = queue.Queue()
    w = ModelWorker("t", models.resolve(smollm2), GenParams(threads=1), sink)
    w.start()
    first = events_until_done_or_loaded(sink)
    assert isinstance(first, Loaded)
    yield w, sink
    w.close()


def events_until_done_or_loaded(sink):
    while True:
        _, event = sink.get(timeout=120)
        if not isinstance(event, Resources):
            return event


def test_cancel_right_after_the_request_is_not_lost(worker):
    """A cancel that reaches the child before it picks up the request still counts:
    the answer ends as cancelled, and the process is not killed."""
    w, sink = worker
    w.generate(LONG, GenParams(max_tokens=500, threads=1))
    w.cancel()
    done = [e for e in events_until_done(sink) if isinstance(e, (Done, Error))][-1]
    assert isinstance(done, Done) and done.finish_reason == "cancelled"
    assert done.stats.gen_tokens < 5
    assert w.process.is_alive() and not w.dead
    # and the same worker answers the next request in full
    w.generate(LONG, GenParams(max_tokens=6, threads=1, temperature=0, ignore_eos=True))
    events = events_until_done(sink)
    assert isinstance(events[-1], Done) and events[-1].stats.gen_tokens == 6
    assert any(isinstance(e, Started) for e in events)


def test_rss_is_the_workers_own(worker):
    import os

    import psutil

    w, sink = worker
    w.generate(LONG, GenParams(max_tokens=16, threads=1))
    events = events_until_done(sink)
    samples = [e for e in events if isinstance(e, Resources)]
    assert samples and all(s.rss_bytes > 50 * 2**20 for s in samples)
    assert w.pid != os.getpid()
    assert abs(samples[-1].rss_bytes - psutil.Process(w.pid).memory_info().rss) < 64 * 2**20
    assert events[-1].stats.peak_rss_mib * 2**20 >= max(s.rss_bytes for s in samples)
    assert events[-1].stats.mean_cpu_percent is None or events[-1].stats.mean_cpu_percent >= 0


def test_a_waiting_worker_is_sampled_seldom_and_a_request_at_once(worker):
    """Loaded and idle (a duel's side that is done), the RAM is read every IDLE_SAMPLE_S,
    not at the busy rate: each sample is a message the UI handles. A request wakes it."""
    w, sink = worker
    while not sink.empty():
        sink.get_nowait()
    watch = 3 * IDLE_SAMPLE_S
    time.sleep(watch)
    idle = sum(isinstance(e, Resources) for _, e in list(sink.queue))
    assert 1 <= idle <= watch / IDLE_SAMPLE_S + 1, f"{idle} samples in {watch} s idle"
    assert idle < watch / SAMPLE_INTERVAL_S / 3, "the busy rate is not the idle one"
    with sink.mutex:
        sink.queue.clear()
    while not isinstance(sink.get(timeout=2 * IDLE_SAMPLE_S)[1], Resources):
        pass  # an idle sample just taken: the next is IDLE_SAMPLE_S away unless the request wakes it
    w.generate(LONG, GenParams(max_tokens=4, threads=1, temperature=0, ignore_eos=True))
    events = events_until_done(sink)
    # one as the request goes (the sampler woken), one at its end; a sleeping sampler gives one
    assert sum(isinstance(e, Resources) for e in events) >= 2, [type(e).__name__ for e in events]


def test_the_memory_split_adds_up_to_the_rss_beside_the_engines_buffers_and_the_estimate(worker):
    w, sink = worker
    w.generate(LONG, GenParams(max_tokens=8, threads=1))
    mem = events_until_done(sink)[-1].stats.memory
    assert mem["file"] + mem["anon"] + mem.get("shmem", 0) == pytest.approx(mem["rss"], abs=0.3)  # MiB, rounded
    assert mem["file"] > 50, "SmolLM2's 92 MiB of weights are mapped from its file"
    buffers = mem["buffers"]
    assert buffers["weights mapped"] == pytest.approx(92, abs=2) and buffers["KV cache"] > 0 and buffers["compute"] > 0
    assert mem["estimate"] > 0 and mem["estimate_error"] == pytest.approx(mem["estimate"] / mem["rss"] - 1, abs=1e-3)


def test_llama_cpp_buffer_lines_are_read_per_kind():
    from llmbench.engine.runtime.memory_split import llama_buffers

    log = [  # Gemma-3-270M's load log, as llama.cpp prints it (two KV caches: SWA and full)
        "load_tensors:   CPU_Mapped model buffer size =   235.16 MiB\n",
        "load_tensors:   CPU_REPACK model buffer size =    12.66 MiB\n",
        "llama_context:        CPU  output buffer size =     1.00 MiB\n",
        "llama_kv_cache:        CPU KV buffer size =     6.00 MiB\n",
        "llama_kv_cache:        CPU KV buffer size =    30.00 MiB\n",
        "sched_reserve:        CPU compute buffer size =   514.50 MiB\n",
        "load_tensors:        CUDA0 model buffer size =   100.00 MiB\n",
    ]
    assert llama_buffers(log) == {"weights mapped": 235.16, "weights copied": 12.66, "output": 1.0,
                                  "KV cache": 36.0, "compute": 514.5, "weights on GPU": 100.0}  # fmt: skip
