"""The event protocol: every event a run produces, typed once, and the one codec that
writes an event to a session record and reads it back.

A backend yields, per request, ``Started``, ``Token``\\* and exactly one ``Done`` or
``Error`` (after one ``Loaded``); the worker's parent adds ``Resources`` samples; a
duel adds ``Prompt`` (a new run), ``Resolved`` (which model a side is) and
``Verdict``; evaluations and re-runs add their own records. Each event travels on a
``Channel``: side A or B, or the run, retrieval, verdict, evaluation, matrix or
re-run channel.

``encode(channel, event)`` gives the JSON record a session stores, and
``decode(record)`` gives ``(channel, run, event)`` back, or None for a record it
cannot read (a damaged line, a field of the wrong type). A new field is a new
dataclass field here, nothing else.
"""

from __future__ import annotations

import dataclasses
import functools
import time
import types
import typing
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any, ClassVar, Union

from ..models.info import ModelInfo


def now_ns() -> int:
    """Monotonic clock shared by every process on the machine (CLOCK_MONOTONIC)."""
    return time.monotonic_ns()


class Channel(StrEnum):
    """Where an event belongs. Its value is what a session record stores as ``side``."""

    A = "a"
    B = "b"
    C = "c"  # a third and a fourth contestant (a duel takes 2 to 4)
    D = "d"
    RUN = "run"  # a new prompt: a duel turn, a chat question, an evaluation question
    RAG = "rag"  # the passages a question retrieved
    DUEL = "duel"  # the verdict that closes a run
    EVAL = "eval"  # evaluation progress and scored rows
    MATRIX = "matrix"  # quantization-matrix progress
    RERUN = "rerun"  # a re-run's comparison with the original


SIDES = (Channel.A, Channel.B, Channel.C, Channel.D)
MAX_SIDES = len(SIDES)


@dataclass(frozen=True)
class Stats:
    """What one answer cost. Definitions live in the README ("Stats")."""

    load_s: float | None = None
    prompt_tokens: int | None = None
    ttft_ms: float | None = None
    ttfr_ms: float | None = None  # a remote server's first chunk of any kind (TTFT: its first content)
    prompt_tok_s: float | None = None
    gen_tokens: int = 0
    gen_tok_s: float | None = None
    total_s: float | None = None
    peak_rss_mib: float | None = None
    peak_gpu_mib: float | None = None
    mean_cpu_percent: float | None = None
    cuda_max_alloc_mib: float | None = None  # torch.cuda.max_memory_allocated (HF on CUDA)
    server: dict | None = None  # what a remote server reported itself (usage, timings)
    engine: dict | None = None  # the engine's own timings: prompt_ms, prompt_n, gen_ms, gen_n, source
    memory: dict | None = None  # the worker's RSS split, the engine's buffers, the estimate (memory_split)
    placement: str | None = None  # where the layers went, by the engine's report ("GPU 31/31 layers", "CPU")
    vram_source: str | None = None  # whose figure peak VRAM is: NVML, llama.cpp buffers or torch
    threads: str | None = None  # the threads it ran with: "2", or "1-2" when auto changed them mid-answer
    host: dict | None = None  # how busy others kept the CPUs meanwhile (util.cpus.HostLoad.to_dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def replace(self, **changes: Any) -> Stats:
        return dataclasses.replace(self, **changes)


# ---------------------------------------------------------------- the events


@dataclass(frozen=True)
class Prompt:
    """A new run: the messages every side is asked (``messages_b``: B's own, e.g. its
    own chat history), and for a chat the question and what it retrieved."""

    KIND: ClassVar[str] = "prompt"
    CHANNEL: ClassVar[Channel | None] = Channel.RUN
    run: int
    messages: list
    mode: str | None = None
    question: str | None = None
    retrieval: dict | None = None
    messages_b: list | None = None

    @property
    def prompt(self) -> str:
        """The question, or the last user message."""
        if self.question:
            return self.question
        users = [m.get("content", "") for m in self.messages if isinstance(m, dict) and m.get("role") == "user"]
        return str(users[-1]) if users else ""


@dataclass(frozen=True)
class Resolved:
    """Which model a side is (recorded with its file's sha256)."""

    KIND: ClassVar[str] = "model"
    CHANNEL: ClassVar[Channel | None] = None
    model: ModelInfo


@dataclass(frozen=True)
class Loaded:
    KIND: ClassVar[str] = "loaded"
    CHANNEL: ClassVar[Channel | None] = None
    load_s: float
    n_ctx: int
    threads: int
    note: str | None = None  # e.g. "no chat template: using the gemma fallback"
    t_ns: int = field(default_factory=now_ns)
    buffers: dict | None = None  # MiB per buffer the engine says it allocated (llama.cpp's load log)
    placement: str | None = None  # where the engine put the layers, by its own report ("GPU 31/31 layers")
    setup: dict | None = None  # how the engine was set up, in llama-bench's fields (llama.cpp: n_batch, type_k, ...)


@dataclass(frozen=True)
class Started:
    """The request was accepted; the prompt is this many tokens long."""

    KIND: ClassVar[str] = "started"
    CHANNEL: ClassVar[Channel | None] = None
    prompt_tokens: int | None  # None: a remote server counts them (in its usage, if it reports one)
    max_tokens: int
    context_used: int | None = None  # passages that fit the context (RAG requests only)
    t_ns: int = field(default_factory=now_ns)


@dataclass(frozen=True)
class Token:
    KIND: ClassVar[str] = "token"
    CHANNEL: ClassVar[Channel | None] = None
    text: str  # may be "" while a multi-byte character is incomplete
    t_ns: int


@dataclass(frozen=True)
class Done:
    KIND: ClassVar[str] = "done"
    CHANNEL: ClassVar[Channel | None] = None
    text: str
    stats: Stats
    finish_reason: str  # "stop", "length" or "cancelled"
    t_ns: int = field(default_factory=now_ns)


@dataclass(frozen=True)
class Error:
    KIND: ClassVar[str] = "error"
    CHANNEL: ClassVar[Channel | None] = None
    message: str
    code: str = "error"
    t_ns: int = field(default_factory=now_ns)


@dataclass(frozen=True)
class Resources:
    """One sample of a worker process, taken by the parent."""

    KIND: ClassVar[str] = "resources"
    CHANNEL: ClassVar[Channel | None] = None
    rss_bytes: int
    cpu_percent: float
    gpu_bytes: int | None = None
    t_ns: int = field(default_factory=now_ns)


@dataclass(frozen=True)
class Verdict:
    """One line closing a run: which side was slower and by how much."""

    KIND: ClassVar[str] = "verdict"
    CHANNEL: ClassVar[Channel | None] = Channel.DUEL
    text: str


@dataclass(frozen=True)
class Vote:
    """The judge's verdict on a blind battle: ``winner`` is "a", "b", "tie" or "both_bad";
    ``sides`` names the spec on each side (what the vote reveals)."""

    KIND: ClassVar[str] = "vote"
    CHANNEL: ClassVar[Channel | None] = Channel.DUEL
    winner: str
    sides: dict


@dataclass(frozen=True)
class EvalRecord:
    """One evaluation question scored: a row per model (answer, cosine, times, hit)."""

    KIND: ClassVar[str] = "eval_row"
    CHANNEL: ClassVar[Channel | None] = Channel.EVAL
    index: int
    rows: list


@dataclass(frozen=True)
class EvalSummary:
    KIND: ClassVar[str] = "eval_summary"
    CHANNEL: ClassVar[Channel | None] = Channel.EVAL
    summary: dict
    questions: int = 0


@dataclass(frozen=True)
class Comparison:
    """A re-run against its original: a row per run and side, a summary per side."""

    KIND: ClassVar[str] = "comparison"
    CHANNEL: ClassVar[Channel | None] = Channel.RERUN
    rows: list
    summary: dict
    note: str | None = None  # why there is no cosine, when there is none


@dataclass(frozen=True)
class Snapshot:
    """A one-record session: an inspection or a quantization matrix as it was.
    Stored as ``{"type": kind, **data}``."""

    KIND: ClassVar[str] = "snapshot"
    CHANNEL: ClassVar[Channel | None] = None
    kind: str
    data: dict


Event = Union[
    Prompt,
    Resolved,
    Loaded,
    Started,
    Token,
    Done,
    Error,
    Resources,
    Verdict,
    Vote,
    EvalRecord,
    EvalSummary,
    Comparison,
    Snapshot,
]
TYPES: dict[str, type] = {cls.KIND: cls for cls in typing.get_args(Event) if cls is not Snapshot}
SNAPSHOT_KINDS = ("inspect", "quant-matrix", "fidelity", "bench")


# ---------------------------------------------------------------- the codec


def encode(channel: Channel | str | None, event: Any) -> dict[str, Any]:
    """The session record of an event: ``{"type": ..., "side": ..., **fields}``.
    ``side`` is written when the channel is not the event type's own."""
    if isinstance(event, Snapshot):
        return {"type": event.kind, **event.data}
    record: dict[str, Any] = {"type": event.KIND}
    if channel is not None and channel != event.CHANNEL:
        record["side"] = str(channel)
    for f in dataclasses.fields(event):
        record[f.name] = _plain(getattr(event, f.name))
    return record


def _plain(value: Any) -> Any:
    return asdict(value) if dataclasses.is_dataclass(value) else value


class Decoded(typing.NamedTuple):
    channel: Channel
    run: int
    event: Any


def decode(record: Any) -> Decoded | None:
    """The event a session record stands for, or None when it is not one (the header,
    an unknown type, a missing channel, a field of the wrong type)."""
    if not isinstance(record, dict):
        return None
    kind = record.get("type")
    run = record.get("run")
    run = run if isinstance(run, int) and not isinstance(run, bool) else 0
    if kind in SNAPSHOT_KINDS:
        data = {k: v for k, v in record.items() if k not in ("type", "run")}
        return Decoded(Channel.RUN, run, Snapshot(kind, data))
    cls = TYPES.get(kind) if isinstance(kind, str) else None
    if cls is None:
        return None
    try:
        channel = Channel(record.get("side") or cls.CHANNEL)
        event = _build(cls, record)
    except (TypeError, ValueError):
        return None
    return Decoded(channel, run, event)


_MISSING = object()


def _build(cls: type, data: dict) -> Any:
    values = {}
    for name, has_default, optional, base in _plan(cls):
        raw = data.get(name, _MISSING)
        if raw is _MISSING and name == "t_ns":
            values["t_ns"] = 0  # not recorded: 0 means "no time", never the time of reading
            continue
        if raw is _MISSING and has_default:
            continue
        values[name] = _coerce(None if raw is _MISSING else raw, optional, base)
    return cls(**values)


def _coerce(value: Any, optional: bool, base: Any) -> Any:
    """``value`` as type ``base``; None for an optional field; the type's zero for a
    required one that is missing (older files); TypeError when it cannot be."""
    if value is None:
        if optional:
            return None
        if dataclasses.is_dataclass(base):
            return _build(base, {})
        return base() if base in (int, float, str, list, dict, bool) else None
    if dataclasses.is_dataclass(base):
        if not isinstance(value, dict):
            raise TypeError(f"expected an object for {base.__name__}")
        return _build(base, value)
    if base is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if base is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if base in (str, bool, list, dict) and isinstance(value, base):
        return value
    if base is Any:
        return value
    raise TypeError(f"{value!r} is not {getattr(base, '__name__', base)}")


@functools.cache
def _plan(cls: type) -> tuple[tuple[str, bool, bool, Any], ...]:
    """Per field of an event class, worked out once (reading a session decodes thousands):
    its name, whether it has a default, whether it may be None, and its base type."""
    hints = typing.get_type_hints(cls)
    plan = []
    for f in dataclasses.fields(cls):
        hint = hints[f.name]
        args = typing.get_args(hint)
        optional = typing.get_origin(hint) in (Union, types.UnionType) and type(None) in args
        if optional:
            hint = next(a for a in args if a is not type(None))
        has_default = f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
        plan.append((f.name, has_default, optional, typing.get_origin(hint) or hint))
    return tuple(plan)
