"""One backend in its own process. Events cross a pipe; RAM is sampled from outside.

The parent's ``ModelWorker`` owns the child process, a reader thread that turns pipe
messages into events, and a sampler thread that reads the child's RSS and CPU% (and
GPU memory per PID through NVML when there is one) several times a second. A child
that dies, from SIGKILL or the OOM killer or a crash in native code, becomes an
``Error`` event; the other contestant's worker is unaffected.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import queue
import signal
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from ..errors import LlmbenchError, WorkerDied
from ..models.info import ModelInfo
from ..util.childproc import StopWatch, child_setup, ensure_resource_tracker, last_log_line, log_path
from ..util.fmt import MIB
from ..util.gpu import Nvml
from . import requests, scoring
from .events import Done, Error, Event, Loaded, Resources, Stats, Token, now_ns
from .fits import estimate
from .memory_split import gpu_buffers_mib, measured, proc_split
from .params import GenParams
from .requests import Cancel, Close, Detokenize, Generate, PiecesOf, ServerLogprobs, Tokenize
from .speed import BenchRequest
from .threads import RETUNE_S, Conditions, ThreadPolicy

SAMPLE_INTERVAL_S = 0.2  # while the model loads or answers
IDLE_SAMPLE_S = 2.0  # loaded and waiting (a duel's side that is done): its RAM still shown, at a tenth the cost
TOKEN_BATCH_S = 0.05  # the child sends its tokens up at most this often
STALLED_S = 180.0  # no event and no CPU time this long while answering: stuck (a local model)
CANCELLED_STALL_S = 20.0  # the same after a cancel: a healthy worker, however slow, uses CPU until it stops


# ---------------------------------------------------------------- child side


def _child_main(conn, model: ModelInfo, params: GenParams, log_file: str, policy: ThreadPolicy) -> None:
    """Entry point of the worker process."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C belongs to the parent
    child_setup(log_file)
    from .backends import create

    remote = model.backend == "openai"  # its threads and load are the server's
    conditions = None if remote else Conditions(policy)
    try:
        backend = create(model, params if remote else params.replace(threads=policy.first()))
        conn.send(backend.load())
    except LlmbenchError as exc:
        conn.send(Error(str(exc), exc.code))
        return
    except Exception as exc:  # an unexpected failure still reaches the user as one line
        conn.send(Error(f"{model.path}: {type(exc).__name__}: {exc}", "load"))
        return

    commands: queue.Queue = queue.Queue()
    cancel = threading.Event()

    def read_commands() -> None:
        while True:
            try:
                msg = conn.recv()
            except (EOFError, OSError):
                msg = Close()
            if isinstance(msg, Cancel):
                cancel.set()
            else:
                if isinstance(msg, Generate):
                    cancel.clear()  # here, in pipe order: a cancel sent after it still lands
                commands.put(msg)
            if isinstance(msg, Close):
                return

    threading.Thread(target=read_commands, daemon=True).start()
    while not isinstance(msg := commands.get(), Close):
        try:
            _send_batched(conn, _measured(backend, conditions, requests.serve(backend, msg, cancel)))
        except LlmbenchError as exc:
            conn.send(Error(str(exc), exc.code))
        except Exception as exc:
            conn.send(Error(f"{type(exc).__name__}: {exc}", requests.code(msg)))
    backend.close()


def _send_batched(conn, events) -> None:
    """Send events up the pipe, tokens in batches of up to TOKEN_BATCH_S: each token keeps
    its own timestamp, and the parent wakes 20 times a second, not once a token (a wakeup
    on a machine whose cores all run the model's threads stalls them all)."""
    held: list[Token] = []
    sent_at = time.monotonic()
    for event in events:
        if isinstance(event, Token):
            held.append(event)
            if time.monotonic() - sent_at < TOKEN_BATCH_S:
                continue
        if held:
            conn.send(held if len(held) > 1 else held[0])
            held = []
            sent_at = time.monotonic()
        if not isinstance(event, Token):
            conn.send(event)
    if held:
        conn.send(held if len(held) > 1 else held[0])


def _measured(backend, conditions: Conditions | None, events):
    """A request's events, run with the threads the policy chooses (again every RETUNE_S
    while tokens flow, where the backend can change them mid-answer), its last event
    marked with those threads and with the host's load over the request."""
    if conditions is None:
        yield from events
        return
    threads = conditions.begin()
    backend.set_threads(threads)
    used = {threads}
    retuned = time.monotonic()
    for event in events:
        if isinstance(event, Token) and backend.RETUNES and time.monotonic() - retuned >= RETUNE_S:
            retuned = time.monotonic()
            if (n := conditions.retune()) != threads:
                threads = n
                backend.set_threads(n)
                used.add(n)
        if isinstance(event, Done) or hasattr(event, "host"):
            event = _marked(event, conditions.end(), used)
        yield event


def _marked(event, load, used: set[int]):
    host = load.to_dict() if load else None
    threads = f"{min(used)}-{max(used)}" if len(used) > 1 else str(min(used))
    if isinstance(event, Done):
        return replace(event, stats=event.stats.replace(host=host, threads=threads))
    return replace(event, host=host, threads=threads)


# ---------------------------------------------------------------- parent side


class ModelWorker:
    """A backend in a child process. Events go to ``sink`` as ``(label, event)``."""

    def __init__(
        self, label: str, model: ModelInfo, params: GenParams, sink: queue.Queue, policy: ThreadPolicy | None = None
    ):
        self.label, self.model, self.params, self.sink = label, model, params, sink
        self.policy = policy or ThreadPolicy(params.threads)
        self.process: mp.process.BaseProcess | None = None
        self.conn = None
        self.loaded: Loaded | None = None
        self.busy = False  # a request is in flight
        self.dead = False
        self.sampling = threading.Event()
        self._wake = threading.Event()  # a request: sample at once, then at the busy rate
        self.peak_rss = 0
        self.peak_gpu: int | None = None
        self._cpu: list[float] = []
        self._killed_on_purpose = False
        self._load_failed = False
        self._send_lock = threading.Lock()
        self._cancelled_at: float | None = None  # a cancel is pending (the watchdog is stricter)
        self._estimate: int | None = None  # bytes Inspect expects; 0 when it cannot tell
        self._stall: str | None = None  # why the watchdog gave up on it
        self._stop_watch = StopWatch(None)
        self._last_event = self._cpu_moved = time.monotonic()
        self._cpu_time = 0.0

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def start(self) -> None:
        ensure_resource_tracker()
        ctx = mp.get_context("spawn")  # never fork a process that runs threads
        parent, child = ctx.Pipe(duplex=True)
        self.conn = parent
        self.log_file = log_path(f"{self.label}-{os.getpid()}")
        self.process = ctx.Process(
            target=_child_main,
            args=(child, self.model, self.params, str(self.log_file), self.policy),
            name=f"llmbench-{self.label}",
            daemon=True,
        )
        self.sampling.set()
        self.process.start()
        child.close()
        threading.Thread(target=self._read, name=f"reader-{self.label}", daemon=True).start()
        threading.Thread(target=self._sample, name=f"sampler-{self.label}", daemon=True).start()

    # -------------------------------------------------------- requests

    def generate(self, messages: Sequence[dict], params: GenParams) -> None:
        """An answer: Started, Token*, one Done."""
        self.request(Generate(list(messages), params))

    def tokenize(self, text: str) -> None:
        """How the model reads ``text``: one TextTokens."""
        self.request(Tokenize(text))

    def pieces(self, ids: Sequence[int]) -> None:
        """The text of each token id: one Pieces."""
        self.request(PiecesOf(list(ids)))

    def detokenize(self, ids: Sequence[int]) -> None:
        """The text of the ids read together: one Pieces."""
        self.request(Detokenize(list(ids)))

    def score(self, request: scoring.ScoreRequest) -> None:
        """One chunk scored from the logits: one Scored."""
        self.request(request)

    def choices(self, request: scoring.ChoicesRequest) -> None:
        """Answer choices' log-likelihoods: one Likelihoods."""
        self.request(request)

    def bench(self, request: BenchRequest) -> None:
        """One llama-bench test: one BenchSample."""
        self.request(request)

    def server_logprobs(self, text: str, tokens: Sequence[int], top_n: int) -> None:
        """A server's log-probabilities of a prompt: one PromptLogprobs."""
        self.request(ServerLogprobs(text, list(tokens), top_n))

    def request(self, msg: requests.Request) -> None:
        """Send a typed request (``requests``); its events come to the sink."""
        self._cpu.clear()
        self._last_event = time.monotonic()
        self._cancelled_at = None
        self.busy = True
        self.sampling.set()
        self._wake.set()
        self._send(msg)

    def reply(self, kind: type, timeout_s: float) -> tuple[object | None, str | None]:
        """The next event of type ``kind`` from the sink, for a caller that asks one
        request at a time: ``(event, None)``, or ``(None, why)`` on an Error, a dead
        worker or no answer within ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                _, event = self.sink.get(timeout=0.5)
            except queue.Empty:
                if self.dead:
                    return None, f"{self.model.spec}: its worker process ended"
                continue
            if isinstance(event, kind):
                return event, None
            if isinstance(event, Error):
                return None, event.message
        return None, f"{self.model.spec}: no answer from its worker in {timeout_s:.0f} s"

    def cancel(self) -> None:
        """Ask the child to stop its request. It stops at its next token (a prompt pass in
        progress runs to its end first); it is never killed for being slow: only the
        watchdog ends one that has stopped or no longer uses any CPU (CANCELLED_STALL_S).
        A worker still loading finishes its load and waits for the next request."""
        if self.dead or not self.busy:
            return
        self._cancelled_at = time.monotonic()
        self._send(Cancel())

    def kill(self) -> None:
        if self.process and self.process.is_alive():
            self.process.kill()

    def close(self, timeout: float = 2.0) -> None:
        if self.process is None:
            return
        crashed = not self.process.is_alive() and not self._killed_on_purpose and self.process.exitcode not in (0, None)
        if self.process.is_alive():
            self._killed_on_purpose = True
            self._send(Close())
            self.process.join(timeout)
            if self.process.is_alive():
                self.process.kill()
                self.process.join(1)
        self.dead = True
        if not crashed:  # a crash's log stays for diagnosis; a clean one is removed
            self.log_file.unlink(missing_ok=True)

    def _send(self, msg: Any) -> None:
        with self._send_lock:
            try:
                self.conn.send(msg)
            except (OSError, ValueError, BrokenPipeError):
                pass  # the reader reports the death

    # -------------------------------------------------------- threads

    def _emit(self, event: Event) -> None:
        self.sink.put((self.label, event))

    def _read(self) -> None:
        while True:
            try:
                event = self.conn.recv()
            except (EOFError, OSError):
                break
            except Exception as exc:  # unpicklable junk from a dying child
                self._emit(Error(f"worker sent a broken message: {exc}", "worker"))
                break
            self._last_event = time.monotonic()
            if isinstance(event, list):  # a batch of tokens
                for token in event:
                    self._emit(token)
                continue
            if isinstance(event, Loaded):
                self.loaded = event
                self._sample_once()
            elif isinstance(event, (Done, Error, scoring.Reply)):
                self.busy = False
                self._cancelled_at = None
                self._sample_once()
                if isinstance(event, Done):
                    event = replace(event, stats=self._complete(event.stats))
            self._emit(event)
            if isinstance(event, Error) and self.loaded is None:
                self._load_failed = True
                break  # a failed load ends the child; it said why
        self._on_exit()

    def _on_exit(self) -> None:
        was_busy = (self.busy or self.loaded is None) and not self._load_failed
        self.sampling.clear()
        if self.process:
            self.process.join(2)
        self.dead = True
        self.busy = False
        self._wake.set()  # the sampler ends now, not at its next idle sample
        if not was_busy:
            return
        code = self.process.exitcode if self.process else None
        if self._stall:
            self._emit(
                Error(f"{self.model.name}: its worker stopped answering ({self._stall}); it was killed", "worker")
            )
            return
        if self._killed_on_purpose:
            self._emit(Error("cancelled: the worker was stopped", "cancelled"))
            return
        if code is not None and code < 0:
            try:
                name = signal.Signals(-code).name
            except ValueError:
                name = f"signal {-code}"
            why = " (out of memory?)" if name == "SIGKILL" else ""
            message = f"{self.model.name}: worker process was killed by {name}{why}"
        else:
            message = f"{self.model.name}: worker process exited unexpectedly (exit code {code})"
        last = last_log_line(self.log_file)
        if last and code != -signal.SIGKILL:
            message += f"; its log ends with: {last}"
        self._emit(Error(str(WorkerDied(message)), WorkerDied.code))

    def _sample(self) -> None:
        import psutil

        try:
            proc = psutil.Process(self.process.pid)
            proc.cpu_percent(None)
        except psutil.Error:
            return
        self._gpu = Nvml()
        self._proc = proc
        self._stop_watch = StopWatch(proc.pid)
        while not self.dead:
            if self.sampling.wait(0.5) and not self.dead:
                if not self._sample_once():
                    return
                active = self.busy or self.loaded is None
                self._wake.wait(SAMPLE_INTERVAL_S if active else IDLE_SAMPLE_S)
                self._wake.clear()

    def _sample_once(self) -> bool:
        proc = getattr(self, "_proc", None)
        if proc is None:
            return True
        try:
            rss = proc.memory_info().rss
            # psutil divides CPU time by a wall interval measured apart from it: on a busy
            # machine a short interval reads above every core (656 % on 2 cores was seen)
            cpu = min(proc.cpu_percent(None), 100.0 * (os.cpu_count() or 1))
        except Exception:
            return False
        gpu = self._gpu.used_bytes(proc.pid)
        self.peak_rss = max(self.peak_rss, rss)
        if gpu is not None:
            self.peak_gpu = max(self.peak_gpu or 0, gpu)
        if self.busy:
            self._cpu.append(cpu)
            self._watch(proc)
        self._emit(Resources(rss_bytes=rss, cpu_percent=cpu, gpu_bytes=gpu, t_ns=now_ns()))
        return True

    def _watch(self, proc) -> None:
        """The watchdog, at each sample while a request is in flight: a worker stopped for
        STOPPED_S, or without an event or a tick of CPU for STALLED_S (a local model: a server
        has its own deadlines), is killed, and its side fails with the reason."""
        import psutil

        now = time.monotonic()
        try:
            cpu_time = sum(proc.cpu_times()[:2])
        except psutil.Error:
            return
        if cpu_time != self._cpu_time:
            self._cpu_time, self._cpu_moved = cpu_time, now
        limit = STALLED_S if self._cancelled_at is None else CANCELLED_STALL_S
        if stopped := self._stop_watch.why():
            self._give_up(stopped)
        elif self.model.backend != "openai" and now - max(self._cpu_moved, self._last_event) > limit:
            self._give_up(f"no event and no CPU time for {limit:.0f} s: stuck in a native call?")

    def _give_up(self, why: str) -> None:
        self._stall = why
        self.kill()  # (SIGKILL ends a stopped process too; the reader then reports it)

    def _complete(self, stats: Stats) -> Stats:
        remote = self.model.backend == "openai"  # the worker is only the client: the model's RAM is the server's
        vram, source = self.vram(stats.cuda_max_alloc_mib)
        return stats.replace(
            memory=None if remote else self.memory(),
            load_s=self.loaded.load_s if self.loaded else None,
            peak_rss_mib=self.peak_rss / MIB if self.peak_rss and not remote else None,
            peak_gpu_mib=vram if source else stats.peak_gpu_mib,
            vram_source=source,
            placement=self.loaded.placement if self.loaded else None,
            mean_cpu_percent=sum(self._cpu) / len(self._cpu) if self._cpu else None,
        )

    def vram(self, torch_alloc_mib: float | None = None) -> tuple[float | None, str | None]:
        """Peak VRAM (MiB) and whose figure it is: NVML by the worker's PID where it lists it,
        else the engine's own (llama.cpp's GPU buffers, torch's max allocated), else none."""
        if self.peak_gpu:
            return self.peak_gpu / MIB, "NVML"
        buffers = gpu_buffers_mib(self.loaded.buffers if self.loaded else None)
        if buffers:
            return buffers, "llama.cpp buffers"
        if torch_alloc_mib:
            return torch_alloc_mib, "torch max allocated"
        return None, None

    def memory(self) -> dict | None:
        """The worker's RSS now, split (file-backed, anonymous), its engine's buffers and
        Inspect's estimate (see memory_split)."""
        if self._estimate is None:
            try:
                found = estimate(self.model, self.params)
            except (LlmbenchError, OSError, ValueError):
                found = None
            self._estimate = found.total if found else 0
        buffers = self.loaded.buffers if self.loaded else None
        return measured(proc_split(self.pid) if self.pid else None, buffers, self._estimate or None)

    def pause_sampling(self) -> None:
        """Stop sampling while no one listens (between duels)."""
        self.sampling.clear()


@dataclass
class ModelSide:
    """A model that a batch job (fidelity, bench) asks one request at a time, in its worker."""

    spec: str
    model: ModelInfo | None = None
    worker: ModelWorker | None = None
    sink: queue.Queue = field(default_factory=queue.Queue)
    error: str | None = None
    load_s: float | None = None
