"""Speed as llama-bench measures it, for every local backend: ``llmbench bench``.

Each model runs in its own worker process. The tests (``pp512``, ``tg128``,
``pp512+tg128``, each at every ``--depth``) run **interleaved**: repetition by
repetition, test by test, model by model, so a drift in the machine's load hits all
of them alike. The first ``warmup`` rounds are run and thrown away, then ``reps``
rounds are kept. Per model and test: the samples, their mean and standard deviation
in tokens/s (llama-bench's ``avg_ts ± stddev_ts``, the mean of the per-sample rates),
the time to the prompt's last logits (TTFT), and the KV cache's fill after a run.

The text that fills the cache and feeds the tests is real text (the demo corpus, or
``--text``), tokenized by each model, repeated when it is shorter than a test needs.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from importlib import metadata

from ... import models
from ...errors import BenchError, LlmbenchError
from ...jobs import Finished, Progress, Recorded
from ...models.info import ModelInfo
from ...runtime.events import Done, Loaded
from ...runtime.fits import check_fits
from ...runtime.params import GenParams
from ...runtime.record import save_report
from ...runtime.requests import Request, Tokenize
from ...runtime.scoring import TextTokens
from ...runtime.speed import CHARS_PER_TOKEN, BenchRequest, BenchSample, SpeedTest, remote_sample
from ...runtime.threads import ThreadPolicy
from ...runtime.worker import ModelSide, ModelWorker
from ...util.cpus import HostLoad, worst
from ...util.fmt import MIB
from ...util.host import cpu_name, host_info
from ...util.stats import mean, mean_std
from ..fidelity.run import Text

DEFAULT_PROMPT = (512,)
DEFAULT_GEN = (128,)
DEFAULT_REPS = 5
DEFAULT_WARMUP = 1
REPLY_TIMEOUT_S = 1800.0
MEMORY_FIELDS = ("rss", "file", "anon", "estimate", "estimate_error")  # flat columns (MiB; the error a fraction)


def plan(n_prompt: Sequence[int], n_gen: Sequence[int], pg: Sequence[tuple[int, int]],
         depths: Sequence[int]) -> list[SpeedTest]:  # fmt: skip
    """llama-bench's order: at each depth, the pp tests, the tg tests, then the pg pairs."""
    if any(n < 0 for n in (*n_prompt, *n_gen, *depths, *(x for p in pg for x in p))):
        raise BenchError("-p, -n, -pg and -d take counts of tokens: none may be negative")
    tests = []
    for d in depths or (0,):
        tests += [SpeedTest(p, 0, d) for p in n_prompt if p > 0]
        tests += [SpeedTest(0, g, d) for g in n_gen if g > 0]
        tests += [SpeedTest(p, g, d) for p, g in pg if p + g > 0]
    if not tests:
        raise BenchError("no test to run: give -p, -n or -pg a count above 0")
    return list(dict.fromkeys(tests))


@dataclass(kw_only=True)
class BenchResult(Recorded):
    """A bench: one row per model and test, in llama-bench's JSON fields (``rows``), and
    how it ran. ``partial`` when it stopped before its last run."""

    tests: list[str]
    reps: int
    warmup: int
    text: str  # what filled the cache
    n_ctx: int
    rows: list[dict]
    runs: int
    runs_total: int
    elapsed_s: float
    build: dict  # versions that made the figures
    host: dict

    @property
    def failed(self) -> bool:
        return any(r["error"] for r in self.rows)


@dataclass
class Contestant(ModelSide):
    threads: int | None = None
    text_ids: list = field(default_factory=list)
    samples: dict = field(default_factory=dict)  # SpeedTest -> [BenchSample]
    test_time: dict = field(default_factory=dict)  # SpeedTest -> when its first kept run began (UTC, ISO 8601)
    memory: dict | None = None  # the worker's RSS split after the runs (memory_split)


class Bench:
    """``run()`` yields ``Progress`` after each timed run, then ``Finished``; ``cancel()``
    stops after the run in hand, and the result keeps the finished samples."""

    def __init__(self, specs: Sequence[str], tests: Sequence[SpeedTest], text: Text, *, reps: int = DEFAULT_REPS,
                 warmup: int = DEFAULT_WARMUP, threads: int | None = None, record: bool = True,
                 force: bool = False, reserve_cores: int = 0):  # fmt: skip
        if not specs:
            raise BenchError("give at least one model to bench")
        if reps < 1:
            raise BenchError(f"-r {reps}: at least 1 repetition")
        if warmup < 0:
            raise BenchError(f"--warmup {warmup}: 0 or more")
        self.tests, self.text, self.reps, self.warmup = list(tests), text, reps, warmup
        need = max(t.context for t in self.tests)
        self.params = GenParams(n_ctx=max(512, need + 1), threads=threads, temperature=0, force=force)
        self.sides = [Contestant(spec) for spec in specs]
        self.policy = ThreadPolicy(threads, 1, reserve_cores)  # auto follows the host's load, run by run
        self.record = record
        self.session_path = None
        self.record_error: str | None = None
        self.done = self.total = 0
        self.elapsed_s = 0.0
        self._cancel = threading.Event()

    def _ask(self, side: Contestant, msg: Request | None, kind: type) -> object | None:
        if msg is not None:
            side.worker.request(msg)
        event, why = side.worker.reply(kind, REPLY_TIMEOUT_S)
        if why is not None:
            side.error = side.error or why
        return event

    def _start(self) -> None:
        for side in self.sides:
            try:
                side.model = models.resolve(side.spec)
            except LlmbenchError as exc:
                side.error = str(exc)
                continue
            if not self.params.force:
                try:
                    check_fits(side.model, self.params)
                except LlmbenchError as exc:  # its numbers, before anything loads
                    side.error = str(exc)
                    continue
            side.worker = ModelWorker(f"bench-{side.spec}", side.model, self.params, side.sink, self.policy)
            side.worker.start()
        need = max(t.context for t in self.tests)
        for side in self._live():
            loaded = self._ask(side, None, Loaded)
            if loaded is None:
                continue
            side.load_s, side.threads = loaded.load_s, loaded.threads
            if side.model.backend == "openai":
                side.threads = None  # the server's own
                continue  # no tokenizer here: each run sends text sized by characters (remote_sample)
            tokens = self._ask(side, Tokenize(self.text.content), TextTokens)
            if tokens is None:
                continue
            if tokens.n_ctx_train and need > tokens.n_ctx_train:
                side.error = (f"{side.spec}: a test needs {need:,} tokens of context (depth + prompt + generation), "
                              f"over the {tokens.n_ctx_train:,} it was trained for")  # fmt: skip
                continue
            body = tokens.ids[1:] if tokens.bos is not None else tokens.ids
            if not body:
                side.error = f"{self.text.label}: no tokens to fill the cache with"
                continue
            repeat = (body * (need // len(body) + 1))[:need]
            side.text_ids = ([tokens.bos] if tokens.bos is not None else []) + repeat

    def _sample(self, side: Contestant, test: SpeedTest) -> BenchSample | None:
        if side.model.backend != "openai":
            return self._ask(side, BenchRequest(test, side.text_ids), BenchSample)
        # a server: a raw completion of about n_prompt tokens of the text, n_gen tokens asked
        # for (end of sequence ruled out), the depth put before it as the Duel does
        n_chars = max(test.n_prompt, 4) * CHARS_PER_TOKEN
        prompt = [{"role": "user", "content": self.text.content[:n_chars]}]
        params = self.params.replace(max_tokens=max(test.n_gen, 1), ignore_eos=True, raw=True, depth=test.depth)
        side.worker.generate(prompt, params)
        done = self._ask(side, None, Done)
        return None if done is None else remote_sample(test, done.stats)

    def _live(self) -> list[Contestant]:
        return [s for s in self.sides if s.error is None and s.worker is not None]

    def run(self) -> Iterator[object]:
        t0 = time.perf_counter()
        try:
            self._start()
            self.total = (self.warmup + self.reps) * len(self.tests) * len(self._live())
            for rep in range(self.warmup + self.reps):
                for test in self.tests:
                    for side in self._live():
                        if self._cancel.is_set():
                            break
                        began = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
                        sample = self._sample(side, test)
                        if sample is not None and rep >= self.warmup:
                            side.samples.setdefault(test, []).append(sample)
                            side.test_time.setdefault(test, began)
                        self.done += 1
                        self.elapsed_s = time.perf_counter() - t0
                        label = f"{'warmup' if rep < self.warmup else f'rep {rep - self.warmup + 1}'} {test.name}"
                        yield Progress("bench", self.done, self.total, label, None, "runs")
            self.elapsed_s = time.perf_counter() - t0
            for side in self._live():
                side.memory = side.worker.memory()
            yield Finished(self.finish())
        finally:
            self.close()

    # ------------------------------------------------------------ the result

    def rows(self) -> list[dict]:
        out = []
        for side in self.sides:
            for test in self.tests:
                samples = side.samples.get(test, [])
                out.append(self._row(side, test, samples))
        return out

    def _row(self, side: Contestant, test: SpeedTest, samples: list[BenchSample]) -> dict:
        ns = [s.ns for s in samples]
        ts = [(s.tokens or test.tokens) * 1e9 / s.ns for s in samples]
        avg_ts, std_ts = mean_std(ts)
        avg_ns, std_ns = mean_std(ns)
        ttft, ttft_std = mean_std([s.first_ns / 1e6 for s in samples]) if test.n_prompt else (None, None)
        m = side.model
        host = worst(HostLoad.from_dict(s.host) for s in samples)
        loaded = side.worker.loaded if side.worker else None
        return {
            "spec": side.spec,
            "model": m.title if m else side.spec,
            "model_filename": m.path if m else None,
            "model_size": m.size_bytes if m else None,
            "model_n_params": _params(m),
            "backend": _backend(m),
            "n_threads": _threads(samples) or side.threads,
            **((loaded.setup or {}) if loaded else {}),  # llama-bench's fields of the engine's set-up
            "cpu_info": cpu_name(),
            "test_time": side.test_time.get(test),
            "test": test.name,
            "n_prompt": test.n_prompt,
            "n_gen": test.n_gen,
            "n_depth": test.depth,
            "avg_ns": avg_ns,
            "stddev_ns": std_ns,
            "avg_ts": avg_ts,
            "stddev_ts": std_ts,
            "samples_ns": ns,
            "samples_ts": ts,
            "ttft_ms": ttft,
            "ttft_ms_std": ttft_std,
            "ttfr_ms": mean([s.first_response_ns / 1e6 for s in samples if s.first_response_ns is not None]),
            "engine": samples[-1].engine if samples else None,
            "kv_tokens": samples[-1].kv_tokens if samples else None,
            "load_s": side.load_s,
            "peak_rss_mib": side.worker.peak_rss / MIB if side.worker and side.worker.peak_rss else None,
            **dict(zip(("peak_vram_mib", "vram_source"), side.worker.vram() if side.worker else (None, None))),
            "placement": side.worker.loaded.placement if side.worker and side.worker.loaded else None,
            "memory": side.memory,
            **{f"mem_{k}": (side.memory or {}).get(k) for k in MEMORY_FIELDS},
            "host": host.to_dict() if host else None,  # the busiest run's
            "host_busy": host.busy if host else None,
            "host_others_cpus": host.others_cpus if host else None,
            "error": side.error,
        }

    def result(self) -> BenchResult:
        return BenchResult(
            tests=[t.name for t in self.tests],
            reps=self.reps,
            warmup=self.warmup,
            text=self.text.label,
            n_ctx=self.params.n_ctx,
            rows=self.rows(),
            runs=self.done,
            runs_total=self.total,
            partial=self.done < self.total,
            elapsed_s=self.elapsed_s,
            build=build_info(),
            host=host_info(),
        )

    def finish(self) -> BenchResult:
        """The result, recorded as a ``bench`` session (unless asked not to)."""
        from .report import markdown_report, summary_line

        result = self.result()
        if self.record and self.session_path is None and self.done:
            title, data = ", ".join(s.spec for s in self.sides), result.to_json()
            self.session_path, self.record_error = save_report("bench", title, data, self.sides[0].spec,
                self.params.to_dict(), markdown_report(data), summary_line(data))  # fmt: skip
        return replace(result, session=self.session_path and str(self.session_path), record_error=self.record_error)

    def cancel(self) -> None:
        self._cancel.set()

    def close(self) -> None:
        for side in self.sides:
            if side.worker is not None:
                side.worker.close()


def _threads(samples: list[BenchSample]) -> int | str | None:
    """The threads the runs used: one count, or ``1-2`` when auto changed it between them."""
    counts = set()
    for s in samples:
        for part in (s.threads or "").split("-"):
            if part.isdigit():
                counts.add(int(part))
    if not counts:
        return None
    return min(counts) if len(counts) == 1 else f"{min(counts)}-{max(counts)}"


def _backend(m: ModelInfo | None) -> str | None:
    return None if m is None else {"hf": "transformers"}.get(m.backend, m.backend)


def _params(m: ModelInfo | None) -> int | None:
    """Parameters of a GGUF, counted from its header (no load)."""
    if m is None or m.backend != "llama.cpp":
        return None
    from ...models.gguf_file import read_header

    try:
        return sum(t.n_elements for t in read_header(m.path).tensors)
    except LlmbenchError:
        return None


def build_info() -> dict:
    """The versions that made these figures (llama-bench records its build commit)."""
    out = {}
    for name in ("llmbench", "llama-cpp-python", "torch", "transformers"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out
