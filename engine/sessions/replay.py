"""Replay a recorded session at the pace it happened: no model, no GPU.

``Timeline.from_log`` decodes a session's records back into the typed events the
live run yielded (``runtime.events``: the same codec wrote them), each placed at
the second it happened relative to the start of its run, plus the retrieval of a
chat question on the ``rag`` channel. Runs follow each other with a short gap, so
the idle time between two questions is not replayed. ``Player`` walks a timeline
at 1x, 2x, 4x or instantly, with pause, resume and seek; ``play`` does it headless.
"""

from __future__ import annotations

import bisect
import dataclasses
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from ..errors import SessionError
from ..runtime.events import Channel, Comparison, EvalSummary, Prompt, Resolved, Resources, Snapshot
from .log import SessionLog

RUN_GAP_S = 0.6  # between two runs of a session, whatever the recorded idle time
SPEEDS = (1.0, 2.0, 4.0, 0.0)  # 0: instant


@dataclass(frozen=True)
class Cue:
    at: float  # seconds from the start of the replay
    channel: Channel
    event: object
    run: int


def retrieval_of(data: Any):
    """A recorded retrieval back as a ``Retrieval`` (None when there is none)."""
    from ..rag.retrieve import Hit, Retrieval

    if not isinstance(data, dict):
        return None
    hits = []
    for h in data.get("hits") or []:
        try:
            hits.append(Hit(**{k: h.get(k) for k in Hit.__dataclass_fields__}))
        except (TypeError, AttributeError):
            continue
    return Retrieval(str(data.get("question", "")), hits, data.get("timings_ms") or {})


@dataclass
class Timeline:
    cues: list[Cue] = field(default_factory=list)
    runs: list[Prompt] = field(default_factory=list)

    @property
    def duration(self) -> float:
        return self.cues[-1].at if self.cues else 0.0

    def index_at(self, position: float) -> int:
        """How many cues are due at ``position`` seconds."""
        return bisect.bisect_right([c.at for c in self.cues], position)

    def run_starts(self) -> list[float]:
        return [c.at for c in self.cues if c.channel == Channel.RUN]

    @classmethod
    def from_log(cls, log: SessionLog) -> Timeline:
        """Recorded times are kept within a run; each run starts ``RUN_GAP_S`` after the
        previous one ended. Events without a time sit at the time of the one before."""
        tl = cls()
        cpus = (log.header.get("host") or {}).get("cpu_count")
        top = 100.0 * cpus if isinstance(cpus, int) and cpus > 0 else None  # CPU% above every core: a bad reading
        offset = 0.0  # where the current run starts on the timeline
        base: int | None = None  # the current run's first recorded t_ns
        last = 0.0
        early: list[Cue] = []  # models resolved before the first prompt: replayed with it
        for channel, run, event in log.decoded():
            if isinstance(event, Prompt):
                offset = last + (RUN_GAP_S if tl.cues else 0.0)
                base, last = None, offset
                tl.runs.append(event)
                tl.cues.append(Cue(offset, Channel.RUN, event, event.run))
                retrieval = retrieval_of(event.retrieval)
                if retrieval is not None:
                    tl.cues.append(Cue(offset, Channel.RAG, retrieval, event.run))
                tl.cues += [Cue(offset, c.channel, c.event, event.run) for c in early]
                early = []
                continue
            if top is not None and isinstance(event, Resources) and event.cpu_percent > top:
                event = dataclasses.replace(event, cpu_percent=top)  # recorded before samples were clamped
            t = getattr(event, "t_ns", 0)
            if t:
                if base is None:
                    base = t
                at = max(last, offset + (t - base) / 1e9)  # never backwards, whatever the clocks did
            else:
                at = last
            last = at
            cue = Cue(at, channel, event, run)
            if isinstance(event, Resolved) and not tl.runs:
                early.append(cue)
            elif not isinstance(event, (EvalSummary, Comparison, Snapshot)):  # summaries are not replayed
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
        cues = self.timeline.cues[self.emitted : end]
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


MIN_SPEED = 0.05  # slower than 20x the recorded pace is a typo, not a wish: a minute would take 20


def check_speed(speed: float) -> float:
    """A replay speed: 0 (all at once) or a finite pace of at least MIN_SPEED; else a
    ``SessionError`` with one line."""
    if not math.isfinite(speed) or speed < 0 or 0 < speed < MIN_SPEED:
        wait = f": a 1-minute session would take {1 / speed / 60:,.0f} hours" if 0 < speed < MIN_SPEED else ""
        raise SessionError(f"--speed {speed:g}{wait}; give 0 (instant) or a pace of {MIN_SPEED:g} or more")
    return speed


def play(
    timeline: Timeline,
    speed: float = 1.0,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> Iterator[tuple[str, object]]:
    """The timeline's ``(channel, event)`` pairs at the recorded pace divided by ``speed``
    (0: all at once), for the headless printer."""
    started = clock()
    for cue in timeline.cues:
        if speed > 0:
            wait = cue.at / speed - (clock() - started)
            if wait > 0:
                sleep(wait)
        yield cue.channel, cue.event
