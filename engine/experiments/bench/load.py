"""A server under load: ``llmbench bench openai:URL --concurrency 1,2,4,8``.

At each level of concurrency, ``requests`` streamed raw completions, at most that many in
flight at once: each a prompt of about ``n_prompt`` tokens of real text and ``n_gen``
tokens asked for with end of sequence ruled out. Per level: the output tokens of all
requests over the level's wall time (total tok/s), and per request its generation speed
(from its first token to its last), its TTFT and the gaps between its tokens (ITL), each
as a median and a p99 (nearest rank: of 8 requests, the slowest). A request that fails
is counted and named, and the others go on.

Every request's prompt is its own part of the text, so no prompt shares a prefix with
another and a server's prompt cache cannot serve one from another; ``shared_prefix``
sends them all the same prompt, so that the cache shows (its TTFT drops after the
first). The client is threads in this process: what a server is asked is I/O, and one
model's worker process would only add a hop; the server's own process is what is loaded.
"""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace

from ... import models
from ...errors import BenchError, LlmbenchError, first_line
from ...jobs import Finished, Progress, Recorded
from ...runtime.events import Done, Error, Token
from ...runtime.params import GenParams
from ...runtime.speed import CHARS_PER_TOKEN
from ...util.cpus import HostSampler
from ...util.host import host_info
from ...util.stats import median, percentile
from ..fidelity.run import Text

MAX_CONCURRENCY = 256
MAX_REQUESTS = 10_000


def check_levels(levels: Sequence[int]) -> list[int]:
    """``--concurrency``: whole numbers from 1 to 256, each once, in the order given."""
    if not levels:
        raise BenchError("--concurrency: give at least one level, as 1,2,4,8")
    for c in levels:
        if not 1 <= c <= MAX_CONCURRENCY:
            raise BenchError(f"--concurrency {c}: from 1 to {MAX_CONCURRENCY} requests at once")
    return list(dict.fromkeys(levels))


@dataclass
class Request:
    """One request's clock: sent, each token's arrival (ns), and how it ended."""

    sent_ns: int
    tokens: list[int] = field(default_factory=list)
    prompt_tokens: int | None = None
    error: str | None = None

    @property
    def ttft_ms(self) -> float | None:
        return (self.tokens[0] - self.sent_ns) / 1e6 if self.tokens else None

    @property
    def itl_ms(self) -> list[float]:
        return [(b - a) / 1e6 for a, b in zip(self.tokens, self.tokens[1:])]

    @property
    def tok_s(self) -> float | None:
        """Its generation speed: from its first token to its last."""
        if len(self.tokens) < 2 or self.tokens[-1] <= self.tokens[0]:
            return None
        return (len(self.tokens) - 1) * 1e9 / (self.tokens[-1] - self.tokens[0])


def spread(values: Sequence[float | None]) -> dict:
    """``{"median", "p99", "n"}`` of the numbers among ``values``."""
    vals = [v for v in values if v is not None]
    return {"median": median(vals), "p99": percentile(vals, 0.99), "n": len(vals)}


@dataclass(frozen=True)
class Level:
    concurrency: int
    requests: int
    ok: int
    failed: int
    errors: list[str]  # the distinct reasons, at most 3
    wall_s: float
    output_tokens: int
    short: int  # answers that ended before n_gen tokens (a server that does not honour ignore_eos)
    prompt_tokens: float | None  # the server's count (usage), the median over requests
    total_tok_s: float | None  # every request's output over the level's wall time
    per_request_tok_s: dict
    ttft_ms: dict
    itl_ms: dict
    host_busy: bool | None
    host_others_cpus: float | None


@dataclass(kw_only=True)
class LoadResult(Recorded):
    spec: str
    model: str
    n_prompt: int
    n_gen: int
    requests: int  # per level
    shared_prefix: bool
    levels: list[Level]
    elapsed_s: float
    host: dict

    @property
    def failed(self) -> bool:
        return any(lv.failed for lv in self.levels) or not self.levels


class LoadBench:
    """The load test as a job: ``Progress`` after each request, then ``Finished``; a cancel
    stops sending, lets what is in flight end, and keeps the finished levels."""

    def __init__(self, spec: str, levels: Sequence[int], text: Text, *, n_prompt: int = 512, n_gen: int = 128,
                 requests: int | None = None, shared_prefix: bool = False, record: bool = True,
                 threads: int | None = None):  # fmt: skip
        self.spec, self.levels, self.text = spec, check_levels(levels), text
        if n_prompt < 1 or n_gen < 1:
            raise BenchError("a load test sends a prompt (-p) and asks for tokens (-n): both at least 1")
        if requests is not None and not 1 <= requests <= MAX_REQUESTS:
            raise BenchError(f"--requests {requests}: from 1 to {MAX_REQUESTS:,} per level")
        self.n_prompt, self.n_gen, self.requests_per_level = n_prompt, n_gen, requests
        self.shared_prefix, self.record, self.threads = shared_prefix, record, threads
        self._server: LocalServer | None = None
        self.params = GenParams(max_tokens=n_gen, temperature=0, ignore_eos=True, raw=True, n_ctx=n_prompt + n_gen + 64)
        self.done: list[Level] = []
        self.model = None
        self.session_path = None
        self.record_error: str | None = None
        self.elapsed_s = 0.0
        self._cancel = threading.Event()

    def _requests(self, c: int) -> int:
        return self.requests_per_level or 4 * c

    def _prompt(self, i: int) -> str:
        n = self.n_prompt * CHARS_PER_TOKEN
        content = self.text.content
        if len(content) < n:
            content = (content + "\n") * (n // max(len(content), 1) + 1)
        start = 0 if self.shared_prefix else (i * n) % max(len(content) - n, 1)
        return content[start : start + n]

    def run(self) -> Iterator[object]:
        from ...runtime.backends.remote import OpenAIBackend

        t0 = time.perf_counter()
        self.model = models.resolve(self.spec)
        if self.model.backend not in ("llama.cpp", "openai"):
            raise BenchError(f"{self.spec}: --concurrency loads a server: give openai:URL#MODEL, or a GGUF, which "
                             "llmbench serves with llama-cpp-python's server")  # fmt: skip
        try:
            target = self.model
            if self.model.backend == "llama.cpp":  # a GGUF: behind llama-cpp-python's own server, for this run
                self._server = LocalServer(self.model.path, self.threads, self.params.n_ctx)
                target = models.resolve(f"openai:{self._server.start()}")
            backend = OpenAIBackend(target, self.params)
            backend.load()
            yield from self._levels(backend)
        finally:
            self.close()
        self.elapsed_s = time.perf_counter() - t0
        yield Finished(self.finish())

    def _levels(self, backend) -> Iterator[object]:
        total = sum(self._requests(c) for c in self.levels)
        sent = 0
        for c in self.levels:
            if self._cancel.is_set():
                break
            level = None
            for item in self._level(backend, c, sent, total):
                if isinstance(item, Level):
                    level = item
                else:
                    sent = item.done
                    yield item
            if level is not None:
                self.done.append(level)

    def _level(self, backend, c: int, sent: int, total: int) -> Iterator[object]:
        n = self._requests(c)
        host = HostSampler()
        results: list[Request] = []
        t0 = time.perf_counter()
        with ThreadPoolExecutor(max_workers=c, thread_name_prefix=f"load-c{c}") as pool:
            pending, queued = set(), 0
            while queued < n or pending:
                while queued < n and len(pending) < c and not self._cancel.is_set():
                    pending.add(pool.submit(self._one, backend, sent + queued))
                    queued += 1
                if not pending:
                    break
                finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                for fut in finished:
                    results.append(fut.result())
                    yield Progress("load", sent + len(results), total, f"concurrency {c}", None, "requests")
        wall = time.perf_counter() - t0
        if self._cancel.is_set() and len(results) < n:
            return  # a level cut short is not a level: the finished ones are kept
        load = host.load(apart=True)
        ok = [r for r in results if r.error is None]
        out = sum(len(r.tokens) for r in ok)
        yield Level(
            concurrency=c, requests=len(results), ok=len(ok), failed=len(results) - len(ok),
            errors=list(dict.fromkeys(r.error for r in results if r.error))[:3], wall_s=wall, output_tokens=out,
            short=sum(1 for r in ok if len(r.tokens) < self.n_gen),
            prompt_tokens=median([r.prompt_tokens for r in ok]), total_tok_s=out / wall if ok and wall > 0 else None,
            per_request_tok_s=spread([r.tok_s for r in ok]), ttft_ms=spread([r.ttft_ms for r in ok]),
            itl_ms=spread([x for r in ok for x in r.itl_ms]), host_busy=load.busy if load else None,
            host_others_cpus=load.others_cpus if load else None,
        )  # fmt: skip

    def _one(self, backend, i: int) -> Request:
        req = Request(sent_ns=time.monotonic_ns())
        try:
            for event in backend.generate([{"role": "user", "content": self._prompt(i)}], self.params, self._cancel):
                if isinstance(event, Token):
                    req.tokens.append(event.t_ns)
                elif isinstance(event, Done):
                    req.prompt_tokens = event.stats.prompt_tokens
                    if event.finish_reason == "cancelled":
                        req.error = "cancelled"
                elif isinstance(event, Error):
                    req.error = event.message
        except LlmbenchError as exc:
            req.error = first_line(exc)
        except Exception as exc:  # a request's failure is counted, never the whole level's
            req.error = f"{type(exc).__name__}: {first_line(exc)}"
        if req.error is None and not req.tokens:
            req.error = "no token came back"
        return req

    def finish(self) -> LoadResult:
        from .load_report import markdown_report, summary_line

        result = LoadResult(
            spec=self.spec, model=self.model.title if self.model else self.spec, n_prompt=self.n_prompt,
            n_gen=self.n_gen, requests=self.requests_per_level or 0, shared_prefix=self.shared_prefix,
            levels=list(self.done), elapsed_s=self.elapsed_s, host=host_info(),
            partial=len(self.done) < len(self.levels),
        )  # fmt: skip
        if self.record and self.session_path is None and self.done:
            from ...runtime.record import save_report

            data = result.to_json()
            self.session_path, self.record_error = save_report(
                "bench", f"load {result.model}", data | {"rows": []}, self.spec, self.params.to_dict(),
                markdown_report(data), summary_line(data))  # fmt: skip
        return replace(result, session=self.session_path and str(self.session_path), record_error=self.record_error)

    def cancel(self) -> None:
        self._cancel.set()

    def close(self) -> None:
        self._cancel.set()
        if self._server is not None:
            self._server.stop()


class LocalServer:
    """A GGUF behind llama-cpp-python's own OpenAI-compatible server on a free port of
    127.0.0.1, for one load test: it ends with the test, and with llmbench however
    llmbench ends. Its output goes to a log file, whose last line says why it failed."""

    START_S = 120.0

    def __init__(self, path: str, threads: int | None, n_ctx: int):
        self.path, self.threads, self.n_ctx = path, threads, n_ctx
        self.proc: subprocess.Popen | None = None

    def start(self) -> str:
        """Start it and wait until it answers: its base URL (``http://127.0.0.1:PORT/v1``)."""
        import importlib.util
        import socket
        import sys
        import urllib.request

        from ...util.childproc import die_with_parent, last_log_line, log_path
        from ...util.cpus import usable_cpus

        missing = [m for m in ("uvicorn", "fastapi", "sse_starlette", "starlette_context", "pydantic_settings")
                   if importlib.util.find_spec(m) is None]  # fmt: skip
        if missing:
            raise BenchError(f"{self.path}: serving it needs llama-cpp-python's server ({', '.join(missing)} missing):"
                             " pip install 'llama-cpp-python[server]', or serve it yourself and give openai:URL")  # fmt: skip
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        threads = self.threads or usable_cpus()
        self.log = log_path(f"serve-{port}")
        self.log.parent.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "llama_cpp.server", "--model", self.path, "--host", "127.0.0.1", "--port",
               str(port), "--n_ctx", str(self.n_ctx), "--n_threads", str(threads), "--n_threads_batch", str(threads)]  # fmt: skip
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         preexec_fn=die_with_parent)  # fmt: skip
        url = f"http://127.0.0.1:{port}/v1"
        deadline = time.monotonic() + self.START_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                why = last_log_line(self.log) or f"exit code {self.proc.returncode}"
                raise BenchError(f"{self.path}: llama-cpp-python's server did not start ({why})")
            try:
                urllib.request.urlopen(url + "/models", timeout=2).close()
                return url
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise BenchError(f"{self.path}: llama-cpp-python's server did not answer within {self.START_S:.0f} s")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
