"""Two contestants, one prompt: sequential (A, then B) or concurrent, each in a worker.

``Duel.run`` is a synchronous iterator of ``(channel, event)``: a ``Prompt`` on
``Channel.RUN`` first, then the events of sides A and B, and the closing
``Verdict`` on ``Channel.DUEL``. ``Duel.job`` is one such run in the shape of every
long job (``engine/jobs.py``): the same pairs, then ``Finished`` with the result.
Workers stay loaded between runs, so a second prompt costs no load. Every event yielded is also recorded to the session file,
through the one event codec. With no model B, the same machinery runs one model
(a chat, an evaluation of one model).
"""

from __future__ import annotations

import dataclasses
import os
import queue
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from .. import models
from ..errors import LlmbenchError, SessionError
from ..jobs import Finished, JobResult
from ..models.info import ModelInfo
from .events import MAX_SIDES, SIDES, Channel, Done, Error, Loaded, Prompt, Resolved, Started, Stats, Token, Verdict
from .fits import check_fits
from .metrics import SideRuns, summarize_runs, verdict_of
from .params import GenParams
from .record import SessionWriter
from .threads import ThreadPolicy
from .worker import ModelWorker

MODES = ("sequential", "concurrent")


def default_mode(cores: int | None = None) -> str:
    """Concurrent on machines with at least 4 cores; sequential (fairest timings) below."""
    cores = cores if cores is not None else (os.cpu_count() or 1)
    return "concurrent" if cores >= 4 else "sequential"


def thread_policy(mode: str, params: GenParams, reserve_cores: int = 0, sides: int = 2) -> ThreadPolicy:
    """How a contestant's threads are chosen: the user's count, or auto over the CPUs this
    process may use, split between the sides that run at once (concurrent), less
    ``reserve_cores`` kept for a UI; auto follows the host's load, request by request."""
    share = sides if mode == "concurrent" else 1
    return ThreadPolicy(params.threads, share, reserve_cores)


def threads_for(mode: str, params: GenParams, reserve_cores: int = 0) -> int:
    """The threads a contestant would start with now (what ``auto`` means, for a help line)."""
    return thread_policy(mode, params, reserve_cores).first()


@dataclass
class Contestant:
    side: Channel
    spec: str
    params: GenParams
    model: ModelInfo | None = None
    worker: ModelWorker | None = None
    # per run
    finished: bool = False
    launched: bool = False
    requested: bool = False
    text: list[str] = field(default_factory=list)
    stats: Stats | None = None
    error: str | None = None
    note: str | None = None
    finish_reason: str | None = None
    context_used: int | None = None
    messages: list = field(default_factory=list)
    runs: list[Stats] = field(default_factory=list)  # this prompt's finished repeats
    problem: str | None = None  # why the verdict leaves this side out: cancelled, failed

    @property
    def label(self) -> str:
        return self.model.name if self.model else self.spec

    def reset_run(self) -> None:
        self.finished = self.launched = self.requested = False
        self.text, self.stats, self.error, self.finish_reason, self.context_used = [], None, None, None, None

    def result(self) -> dict:
        """The JSON shape of one contestant's answer (see the README)."""
        stats = self.stats.to_dict() if self.stats else {}
        return {
            "side": self.side,
            "spec": self.spec,
            "model": self.label,
            "quant": self.model.quant if self.model else None,
            "path": self.model.path if self.model else None,
            "text": "".join(self.text),
            **{f.name: stats.get(f.name) for f in dataclasses.fields(Stats)},
            "finish_reason": self.finish_reason,
            "note": self.note,
            "context_used": self.context_used,
            "error": self.error,
            "repeats": summarize_runs(self.runs),
        }

    def end_round(self, cancelled: bool) -> None:
        """After one repeat: keep its stats, or say why this side gets no verdict."""
        if self.error:
            self.problem = "was cancelled" if cancelled else "failed"
        elif self.finish_reason == "cancelled":
            self.problem = "was cancelled"
        elif self.stats is not None:
            self.runs.append(self.stats)


@dataclass(kw_only=True)
class DuelResult(JobResult):
    """A duel's answers, one per contestant in side order (the JSON shape the README
    shows), the verdict line, and its session."""

    mode: str
    contestants: list[dict]
    verdict: str
    session: str | None
    session_error: str | None

    @property
    def failed(self) -> bool:
        return any(c["error"] for c in self.contestants)


class Duel:
    def __init__(
        self,
        spec_a: str,
        spec_b: str | None,
        params: GenParams | None = None,
        params_b: GenParams | None = None,
        mode: str | None = None,
        record: bool = True,
        reserve_cores: int = 0,
        kind: str = "duel",
        meta: dict | None = None,
        more: Sequence[str] = (),
    ):
        self.mode = mode or default_mode()
        if self.mode not in MODES:
            raise LlmbenchError(f"mode must be one of {', '.join(MODES)}, got {self.mode!r}")
        params = (params or GenParams()).validate()
        params_b = (params_b or params).validate()
        if spec_b is None:
            self.mode = "sequential"  # one model has every core
            if more:
                raise LlmbenchError("a third contestant needs a second one")
        if len(more) > MAX_SIDES - 2:
            raise LlmbenchError(f"a duel takes 2 to {MAX_SIDES} models, not {2 + len(more)}")
        self.sides = {Channel.A: Contestant(Channel.A, spec_a, params)}
        if spec_b is not None:
            self.sides[Channel.B] = Contestant(Channel.B, spec_b, params_b)
        for side, spec in zip(SIDES[2:], more):  # C and D answer with B's parameters
            self.sides[side] = Contestant(side, spec, params_b)
        self.reserve_cores = reserve_cores
        self.kind, self.meta = kind, meta or {}
        self.sink: queue.Queue = queue.Queue()
        self.record = record
        self.recorder: SessionWriter | None = None
        self._model_found = False  # a side's model was found: the session is worth keeping
        self.record_error: str | None = None
        self._cancel = threading.Event()
        self._launching = threading.Lock()  # cancel() and _launch() agree on who ends a side that never began
        self._hasher = ThreadPoolExecutor(1, thread_name_prefix="sha256")
        self._hashes: dict[str, Future] = {}
        self.runs = 0

    # ------------------------------------------------------------ public

    def run(
        self,
        prompt: str | Sequence[dict],
        prompt_b: str | Sequence[dict] | None = None,
        extra: dict | None = None,
        repeat: int = 1,
    ) -> Iterator[tuple[Channel, object]]:
        """One request to every side (``prompt_b``: B's own messages, e.g. its own chat
        history), ``repeat`` times (after one warmup round when more than once), the order
        of the sides alternating so drift in machine load hits both alike; ``extra`` goes
        into each run's ``Prompt`` (a chat's question and passages). One verdict closes
        it, over every repeat."""
        if repeat < 1:
            raise LlmbenchError(f"repeat must be at least 1, got {repeat}")
        messages = _messages(prompt)
        per_side = {side: messages for side in self.sides}
        if prompt_b is not None:
            per_side[Channel.B] = _messages(prompt_b)
        self._cancel.clear()
        for c in self.sides.values():
            c.runs, c.problem = [], None
        warmup = int(repeat > 1)  # as llama-bench: a first answer (cold caches, page faults) is not counted
        for round_ in range(repeat + warmup):
            yield from self._round(messages, per_side, prompt_b is not None, extra, turn=round_)
            if round_ < warmup:
                for c in self.sides.values():
                    c.runs.clear()
            if self._cancel.is_set() or any(c.problem for c in self.sides.values()):
                break
        line = ""
        if len(self.sides) > 1:
            line = verdict_of([SideRuns(c.label, c.runs, c.problem) for c in self.sides.values()])
        self._flush_hashes(wait=True)
        yield self._emit(Channel.DUEL, Verdict(line))
        if self.recorder:
            self.recorder.sync()

    def job(
        self,
        prompt: str | Sequence[dict],
        prompt_b: str | Sequence[dict] | None = None,
        extra: dict | None = None,
        repeat: int = 1,
        closes: bool = True,
    ) -> DuelRun:
        """``run`` with these arguments as a job: its events, then ``Finished``. ``closes``:
        the job's ``close`` closes the duel (its workers and its session); without it the
        duel stays open for what follows (a battle's vote, the next prompt)."""
        return DuelRun(self, prompt, prompt_b, extra, repeat, closes)

    def _round(self, messages, per_side, own_b: bool, extra, turn: int) -> Iterator[tuple[Channel, object]]:
        self.runs += 1
        for c in self.sides.values():
            c.reset_run()
            c.messages = per_side[c.side]
        self._open_recorder(messages)
        yield self._emit(
            Channel.RUN,
            Prompt(
                self.runs,
                messages,
                self.mode,
                messages_b=per_side.get(Channel.B) if own_b else None,
                **(extra or {}),
            ),
        )
        for c in self.sides.values():
            yield from self._resolve(c)
        yield from self._answers(turn)
        for c in self.sides.values():
            c.end_round(self._cancel.is_set())

    def _answers(self, turn: int = 0) -> Iterator[tuple[Channel, object]]:
        """Launch the sides (one after the other, or all at once) and pass on their events.
        Each turn of a repeat starts one side later (A B, B A; with more: A B C, B C A, C A B),
        so drift in the machine's load falls on every side alike."""
        sides = list(self.sides.values())
        shift = turn % len(sides) if len(sides) > 2 else 0
        order = sides[shift:] + sides[:shift] if len(sides) > 2 else sides[:: -1 if turn % 2 else 1]
        for c in order:
            if c.worker is not None and c.worker.dead:
                c.worker = None  # died or was killed by cancel: start afresh
        if self.mode == "concurrent":
            for c in order:
                self._launch(c)
        while not all(c.finished for c in order):
            if self.mode == "sequential":
                current = next(c for c in order if not c.finished)
                if not current.launched:
                    self._launch(current)
            try:
                side, event = self.sink.get(timeout=0.1)
            except queue.Empty:
                self._flush_hashes()
                continue
            c = self.sides[side]
            if isinstance(event, Loaded) and not c.requested and not c.finished and not self._cancel.is_set():
                self._request(c)
            self._track(c, event)
            yield self._emit(c.side, event)
        for c in order:
            if c.worker:
                c.worker.pause_sampling()
        self._drain_resources()

    def _emit(self, channel: Channel, event: object) -> tuple[Channel, object]:
        """Record an event as it is passed on: what a session holds is what the run yielded."""
        if self.recorder:
            self.recorder.event(channel, event)
            if isinstance(event, (Done, Error)):
                self.recorder.sync()
            if self.recorder.error and not self.record_error:  # a full disk: the duel goes on, and says so
                self.record_error = self.recorder.error
        return channel, event

    def cancel(self) -> None:
        """Stop every side: one answering stops at its next token (its worker is kept, however
        slow), one not yet asked ends now. A worker still loading goes on loading, for the
        next prompt."""
        self._cancel.set()
        with self._launching:
            for c in self.sides.values():
                if c.finished:
                    continue
                if c.worker is not None and c.requested and not c.worker.dead:
                    c.worker.cancel()
                elif not c.requested and (c.launched or c.worker is None):
                    c.launched = True  # it never starts: this one Error ends its answer
                    self.sink.put((c.side, Error("cancelled before it started", "cancelled")))

    def close(self) -> None:
        for c in self.sides.values():
            if c.worker is not None:
                c.worker.close()
                c.worker = None
        self._hasher.shutdown(wait=False, cancel_futures=True)
        if self.recorder:
            if self._model_found:
                self.recorder.close()
            else:  # every attempt failed before a model was found (a bad name): not a session
                self.recorder.discard()

    def __enter__(self) -> Duel:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def result(self, verdict_line: str = "", partial: bool = False) -> DuelResult:
        return DuelResult(
            mode=self.mode,
            contestants=[c.result() for c in self.sides.values()],
            verdict=verdict_line,
            session=str(self.session_path) if self.session_path else None,
            session_error=self.record_error,
            partial=partial,
        )

    @property
    def session_path(self):
        """The session file, once a model of it was found (until then it may yet be discarded)."""
        return self.recorder.path if self.recorder and self._model_found else None

    # ------------------------------------------------------------ steps

    def _resolve(self, c: Contestant) -> Iterator[tuple[str, object]]:
        if c.model is not None:
            return
        try:
            c.model = models.resolve(c.spec)
        except LlmbenchError as exc:
            c.finished = True
            c.error = str(exc)
            yield self._emit(c.side, Error(str(exc), exc.code))
            return
        self._model_found = True
        if c.model.sha256:
            self._record_model(c, c.model)
        else:
            self._hashes[c.side] = self._hasher.submit(models.with_sha256, c.model)
        yield c.side, Resolved(c.model)  # recorded once its sha256 is known (_record_model)

    def _launch(self, c: Contestant) -> None:
        """Start a side's answer (loading its worker first if need be). A side ended early
        gets one Error in the queue, which the run loop reads, passes on and records."""
        with self._launching:
            if c.launched:
                return  # cancel() got there first
            c.launched = True
            if c.finished or c.model is None:
                return
            if self._cancel.is_set():
                self.sink.put((c.side, Error("cancelled before it started", "cancelled")))
                return
        if c.worker is None:
            if not c.params.force:
                try:
                    check_fits(c.model, c.params)
                except LlmbenchError as exc:  # the run loop reads it and finishes this side
                    self.sink.put((c.side, Error(str(exc), exc.code)))
                    return
            policy = thread_policy(self.mode, c.params, self.reserve_cores, len(self.sides))
            c.worker = ModelWorker(c.side, c.model, c.params, self.sink, policy)
            c.worker.start()
        else:
            self._request(c)

    def _request(self, c: Contestant) -> None:
        c.requested = True
        c.worker.generate(c.messages, c.params)

    def _track(self, c: Contestant, event: object) -> None:
        if isinstance(event, Token):
            c.text.append(event.text)
        elif isinstance(event, Loaded):
            c.note = event.note
        elif isinstance(event, Started):
            c.context_used = event.context_used
        elif isinstance(event, Done):
            c.stats, c.finished, c.finish_reason = event.stats, True, event.finish_reason
            c.text = [event.text]  # the final text, stop strings removed
        elif isinstance(event, Error):
            c.error, c.finished = event.message, True
            if c.worker is not None and c.worker.loaded is None and event.code != "cancelled":
                c.worker.close()  # a failed load: the next run starts a new worker
                c.worker = None

    def _drain_resources(self) -> None:
        """The last resource samples (only samples come after a side's Done), recorded."""
        while True:
            try:
                side, event = self.sink.get_nowait()
            except queue.Empty:
                return
            self._emit(self.sides[side].side, event)

    # ------------------------------------------------------------ recording

    def _open_recorder(self, messages) -> None:
        if not self.record or self.recorder or self.record_error:
            return
        first = next((m["content"] for m in messages if m["role"] == "user"), "")
        meta = {
            **self.meta,
            "mode": self.mode,
            "contestants": {s: {"spec": c.spec, "params": c.params.to_dict()} for s, c in self.sides.items()},
        }
        try:
            self.recorder = SessionWriter(self.kind, first, meta)
        except SessionError as exc:
            self.record_error = str(exc)  # the duel still runs; the caller shows this

    def _record_model(self, c: Contestant, model: ModelInfo) -> None:
        if self.recorder:
            self.recorder.event(c.side, Resolved(model))

    def _flush_hashes(self, wait: bool = False) -> None:
        for side, fut in list(self._hashes.items()):
            if wait or fut.done():
                try:
                    model = fut.result()
                except (OSError, LlmbenchError):
                    model = self.sides[side].model
                del self._hashes[side]
                self._record_model(self.sides[side], model)


class DuelRun:
    """One ``Duel.run`` as a job (``engine/jobs.py``): its ``(channel, event)`` pairs,
    then ``(Channel.DUEL, Finished(result))``. ``cancel`` stops every side at its next
    token; ``finish`` is the result so far (the answers as far as they came, marked
    partial when cancelled); ``close`` ends the duel's workers and its session, unless
    the duel goes on (``closes`` false: whoever made it closes it)."""

    def __init__(self, duel: Duel, prompt, prompt_b, extra, repeat: int, closes: bool = True):
        self.duel, self._args, self._closes = duel, (prompt, prompt_b, extra, repeat), closes
        self._verdict, self._cancelled = "", False

    def run(self) -> Iterator[tuple[Channel, object]]:
        for channel, event in self.duel.run(*self._args):
            if isinstance(event, Verdict):
                self._verdict = event.text
            yield channel, event
        yield Channel.DUEL, Finished(self.finish())

    def cancel(self) -> None:
        self._cancelled = True
        self.duel.cancel()

    def close(self) -> None:
        if self._closes:
            self.duel.close()

    def finish(self) -> DuelResult:
        return self.duel.result(self._verdict, self._cancelled)


def _messages(prompt: str | Sequence[dict]) -> list[dict]:
    return [{"role": "user", "content": prompt}] if isinstance(prompt, str) else list(prompt)
