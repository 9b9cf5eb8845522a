"""Replay a recorded session at the pace it happened: no model, no GPU.

``Timeline.from_log`` turns a session's records back into the typed events the live
run produced (``Resolved``, ``Loaded``, ``Started``, ``Token``, ``Done``, ``Error``,
``Resources``, ``Verdict``, ``Retrieval``), each placed at the second it happened
relative to the start of its run. Runs follow each other with a short gap, so
the idle time between two questions is not replayed. ``Player`` walks a timeline
at 1x, 2x, 4x or instantly, with pause, resume and seek; ``play`` does it headless.
"""

from __future__ import annotations

import bisect
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from .duel import Resolved, Verdict
from .sessions import SessionLog
from .types import Done, Error, Loaded, ModelInfo, Resources, Started, Stats, Token

RUN_GAP_S = 0.6  # between two runs of a session, whatever the recorded idle time
SPEEDS = (1.0, 2.0, 4.0, 0.0)  # 0: instant


@dataclass(frozen=True)
class RunStart:
    """A new prompt (a duel turn, a chat question, an evaluation question)."""

    run: int
    messages: list[dict]
    question: str | None = None  # chats and evaluations
    messages_b: list[dict] | None = None

    @property
    def prompt(self) -> str:
        if self.question:
            return self.question
        users = [m.get("content", "") for m in self.messages if m.get("role") == "user"]
        return users[-1] if users else ""


@dataclass(frozen=True)
class EvalRecord:
    """One evaluation question scored: rows per model (answer, cosine, times, hit)."""

    index: int
    rows: list[dict]


@dataclass(frozen=True)
class Cue:
    at: float  # seconds from the start of the replay
    side: str  # "a", "b"; "run", "rag", "duel", "eval" for the rest
    event: object
    run: int


def _t(record: dict) -> int | None:
    t = record.get("t_ns")
    return t if isinstance(t, int) else None


def _model(record: dict) -> ModelInfo | None:
    data = record.get("model") or {}
    try:
        return ModelInfo(**{k: data.get(k) for k in ModelInfo.__dataclass_fields__})
    except TypeError:
        return None


def _stats(data: Any) -> Stats:
    if not isinstance(data, dict):
        return Stats()
    return Stats(**{k: data.get(k) for k in Stats.__dataclass_fields__ if k in data})


def retrieval_of(data: Any):
    """A recorded retrieval back as a ``Retrieval`` (None when there is none)."""
    from .rag.retrieve import Hit, Retrieval

    if not isinstance(data, dict):
        return None
    hits = []
    for h in data.get("hits") or []:
        try:
            hits.append(Hit(**{k: h.get(k) for k in Hit.__dataclass_fields__}))
        except TypeError:
            continue
    return Retrieval(data.get("question", ""), hits, data.get("timings_ms") or {})


def event_of(record: dict) -> object | None:
    """The typed event a session record stands for (None for records replay skips)."""
    kind = record.get("type")
    t = _t(record) or 0
    try:
        match kind:
            case "token":
                return Token(str(record.get("text", "")), t)
            case "loaded":
                return Loaded(record.get("load_s") or 0.0, record.get("n_ctx") or 0, record.get("threads") or 0,
                              record.get("note"), t)
            case "started":
                return Started(record.get("prompt_tokens") or 0, record.get("max_tokens") or 0,
                               record.get("context_used"), t)
            case "done":
                return Done(str(record.get("text", "")), _stats(record.get("stats")),
                            record.get("finish_reason") or "stop", t)
            case "error":
                return Error(str(record.get("message", "")), record.get("code") or "error", t)
            case "resources":
                return Resources(record.get("rss_bytes") or 0, record.get("cpu_percent") or 0.0,
                                 record.get("gpu_bytes"), t)
            case "model":
                model = _model(record)
                return Resolved(model) if model else None
            case "verdict":
                return Verdict(str(record.get("text", "")))
            case "eval_row":
                return EvalRecord(record.get("index") or 0, list(record.get("rows") or []))
    except (TypeError, ValueError):
        return None
    return None


@dataclass
class Timeline:
    cues: list[Cue] = field(default_factory=list)
    runs: list[RunStart] = field(default_factory=list)

    @property
    def duration(self) -> float:
        return self.cues[-1].at if self.cues else 0.0

    def index_at(self, position: float) -> int:
        """How many cues are due at ``position`` seconds."""
        return bisect.bisect_right([c.at for c in self.cues], position)

    def run_starts(self) -> list[float]:
        return [c.at for c in self.cues if c.side == "run"]

    @classmethod
    def from_log(cls, log: SessionLog) -> "Timeline":
        """Recorded times are kept within a run; each run starts ``RUN_GAP_S`` after the
        previous one ended. Records without a time sit at the time of the one before."""
        tl = cls()
        offset = 0.0  # where the current run starts on the timeline
        base: int | None = None  # the current run's first recorded t_ns
        last = 0.0
        models: list[Cue] = []  # model records before the first prompt: replayed with it
        for record in log.events:
            kind = record.get("type")
            run = record.get("run") or 0
            if kind == "prompt":
                start = RunStart(run, list(record.get("messages") or []), record.get("question"),
                                 record.get("messages_b"))
                offset = last + (RUN_GAP_S if tl.cues else 0.0)
                base, last = None, offset
                tl.runs.append(start)
                tl.cues.append(Cue(offset, "run", start, run))
                retrieval = retrieval_of(record.get("retrieval"))
                if retrieval is not None:
                    tl.cues.append(Cue(offset, "rag", retrieval, run))
                for m in models:
                    tl.cues.append(Cue(offset, m.side, m.event, run))
                models = []
                continue
            event = event_of(record)
            if event is None:
                continue
            side = record.get("side") or ("eval" if kind == "eval_row" else "duel")
            t = _t(record)
            if t is not None:
                if base is None:
                    base = t
                at = max(last, offset + (t - base) / 1e9)  # never backwards, whatever the clocks did
            else:
                at = last
            last = at
            cue = Cue(at, side, event, run)
            if kind == "model" and not tl.runs:
                models.append(cue)
            else:
                tl.cues.append(cue)
        return tl


class Player:
    """Where a replay is: ``position`` seconds into the timeline, moving at ``speed``
    while playing. ``due()`` hands out the cues that became due since the last call;
    ``seek`` going backwards asks the caller to clear and re-apply from the start."""

    def __init__(self, timeline: Timeline, speed: float = 1.0, clock: Callable[[], float] = time.monotonic):
        self.timeline, self.clock = timeline, clock
        self.speed = speed
        self._pos = 0.0
        self._since: float | None = None  # clock time when play was last resumed
        self.emitted = 0  # cues already handed out

    @property
    def playing(self) -> bool:
        return self._since is not None

    @property
    def position(self) -> float:
        if self.speed == 0 and self.playing:
            return self.timeline.duration
        pos = self._pos
        if self._since is not None:
            pos += (self.clock() - self._since) * self.speed
        return min(pos, self.timeline.duration)

    @property
    def finished(self) -> bool:
        return self.emitted >= len(self.timeline.cues)

    def play(self) -> None:
        if not self.playing:
            self._since = self.clock()

    def pause(self) -> None:
        if self.playing:
            self._pos = self.position
            self._since = None

    def toggle(self) -> None:
        self.pause() if self.playing else self.play()

    def set_speed(self, speed: float) -> None:
        playing = self.playing
        self.pause()
        self.speed = speed
        if playing:
            self.play()

    def due(self) -> list[Cue]:
        end = self.timeline.index_at(self.position)
        cues = self.timeline.cues[self.emitted:end]
        self.emitted = max(self.emitted, end)
        return cues

    def seek(self, position: float) -> tuple[bool, list[Cue]]:
        """Jump to ``position``: returns (start over?, the cues to apply now)."""
        position = max(0.0, min(position, self.timeline.duration))
        playing = self.playing
        self.pause()
        self._pos = position
        restart = self.timeline.index_at(position) < self.emitted
        if restart:
            self.emitted = 0
        if playing:
            self.play()
        return restart, self.due()


def play(timeline: Timeline, speed: float = 1.0, sleep: Callable[[float], None] = time.sleep,
         clock: Callable[[], float] = time.monotonic) -> Iterator[tuple[str, object]]:
    """The timeline's ``(side, event)`` pairs at the recorded pace divided by ``speed``
    (0: all at once), for the headless printer."""
    started = clock()
    for cue in timeline.cues:
        if speed > 0:
            wait = cue.at / speed - (clock() - started)
            if wait > 0:
                sleep(wait)
        yield cue.side, cue.event
