"""One worker process on its own: events, RAM samples, cancel without a kill."""

import queue

import pytest

from llmbench.engine import models
from llmbench.engine.runtime.events import Done, Error, Loaded, Resources, Started
from llmbench.engine.runtime.params import GenParams
from llmbench.engine.runtime.worker import Worker

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
    w = Worker("t", models.resolve(smollm2), GenParams(threads=1), sink)
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
