"""What a session holds, in one shape (``Digest``): its turns, answers, stats and
records, read from the decoded events; plus the list of every session and its filters."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..errors import SessionError, first_line
from ..models.info import ModelInfo
from ..runtime.events import (
    SIDES,
    Comparison,
    Done,
    Error,
    EvalRecord,
    EvalSummary,
    Prompt,
    Resolved,
    Snapshot,
    Token,
    Verdict,
    Vote,
)
from ..runtime.record import SUFFIX
from ..util.files import loads_json
from ..util.stats import mean, numbers
from .log import SessionLog, read_session
from .store import is_sample, read_meta, samples_dir, session_files

STAT_KEYS = (
    "load_s",
    "prompt_tokens",
    "ttft_ms",
    "prompt_tok_s",
    "gen_tokens",
    "gen_tok_s",
    "total_s",
    "peak_rss_mib",
    "peak_gpu_mib",
)
_KEPT = (*STAT_KEYS, "mean_cpu_percent")  # the figures of an answer a digest keeps (all plain numbers)


@dataclass
class Answer:
    side: str
    model: str
    text: str = ""
    stats: dict[str, Any] = field(default_factory=dict)
    finish_reason: str | None = None
    error: str | None = None
    cosine: float | None = None  # evaluations: to the reference answer


@dataclass
class Turn:
    run: int
    prompt: str
    question: str | None = None
    retrieval: dict | None = None
    answers: dict[str, Answer] = field(default_factory=dict)
    verdict: str = ""
    reference: str | None = None  # evaluations
    vote: str | None = None  # a blind battle's: "a", "b", "tie" or "both_bad"


@dataclass
class Digest:
    path: str
    id: str
    kind: str
    title: str
    created: str
    tags: list[str]
    models: dict[str, str]  # side -> "name quant"
    specs: dict[str, str]
    params: dict[str, dict]
    turns: list[Turn]
    sample: bool = False
    host: dict = field(default_factory=dict)
    collection: str | None = None
    pool: str | None = None  # a battle's arena pool
    rerun_of: str | None = None
    eval_summary: dict | None = None
    comparison: list[dict] | None = None
    inspect: dict | None = None
    matrix: dict | None = None  # a quant-matrix or fidelity result
    warnings: list[str] = field(default_factory=list)

    @property
    def short_id(self) -> str:
        """The random suffix of the file name: enough to name the session in a command."""
        tail = self.id.rsplit("-", 1)[-1]
        return tail if len(tail) == 6 and all(c in "0123456789abcdef" for c in tail) else self.id

    @property
    def first_prompt(self) -> str:
        if self.turns:
            return self.turns[0].prompt
        return self.title

    def side_stats(self, side: str) -> dict[str, float | None]:
        """Means over the session's answers of one side."""
        answers = [t.answers[side] for t in self.turns if side in t.answers]
        peaks = numbers(a.stats.get("peak_rss_mib") for a in answers)
        return {
            "answers": len(answers),
            "ttft_ms": mean(a.stats.get("ttft_ms") for a in answers),
            "gen_tok_s": mean(a.stats.get("gen_tok_s") for a in answers),
            "total_s": mean(a.stats.get("total_s") for a in answers),
            "peak_rss_mib": max(peaks) if peaks else None,
            "load_s": next((a.stats.get("load_s") for a in answers if a.stats.get("load_s")), None),
            "cosine": mean(a.cosine for a in answers),
        }

    def key_stats(self) -> str:
        """One line for the list: tok/s per side, or the evaluation's mean cosine."""
        parts = []
        for side in self.models:
            s = self.side_stats(side)
            bits = []
            if s["gen_tok_s"]:
                bits.append(f"{s['gen_tok_s']:.0f} tok/s")
            if s["cosine"] is not None:
                bits.append(f"cos {s['cosine']:.2f}")
            if bits:
                parts.append(f"{side.upper()} " + " ".join(bits))
        if self.matrix and self.matrix.get("summary_line"):
            parts.append(str(self.matrix["summary_line"]))
        if self.kind == "inspect" and self.inspect:
            a = self.inspect.get("a") or {}
            params = a.get("params_total") or a.get("parameters")
            if params:
                parts.append(f"{params / 1e6:,.0f}M params")
        return " · ".join(parts)

    def to_dict(self) -> dict:
        data = asdict(self)
        data["first_prompt"] = self.first_prompt
        data["stats"] = {side: self.side_stats(side) for side in self.models}
        return data


def _label(model: ModelInfo) -> str:
    return " ".join(filter(None, [model.name, model.quant])) or model.spec or "?"


def digest(log: SessionLog, sample: bool | None = None) -> Digest:
    """What a session holds, for lists, exports and comparisons (``sample``: whether it is
    one shipped with llmbench, when the caller knows)."""
    header = log.header
    meta = read_meta(log.path)
    contestants = header.get("contestants") or {}
    contestants = contestants if isinstance(contestants, dict) else {}
    specs = {side: str(c.get("spec", "")) for side, c in contestants.items() if isinstance(c, dict)}
    params = {side: c.get("params") or {} for side, c in contestants.items() if isinstance(c, dict)}
    d = Digest(
        path=str(log.path),
        id=log.path.name.removesuffix(SUFFIX),
        kind=log.kind,
        title=meta.get("title") or header.get("title") or "",
        created=header.get("created", ""),
        tags=list(meta.get("tags") or []),
        models=dict(specs),
        specs=specs,
        params=params,
        turns=[],
        sample=is_sample(log.path) if sample is None else sample,
        host=header.get("host") or {},
        collection=header.get("collection"),
        pool=header.get("pool") if isinstance(header.get("pool"), str) else None,
        rerun_of=header.get("rerun_of"),
        warnings=list(log.warnings),
    )
    turns: dict[int, Turn] = {}
    for channel, run, event in log.decoded():
        _take(d, turns, channel, run, event)
    for turn in turns.values():  # labels known only after the answers began
        for side, a in turn.answers.items():
            a.model = d.models.get(side, a.model)
    d.turns = [turns[r] for r in sorted(turns)]
    if d.kind in ("inspect", "quant-matrix", "fidelity", "bench") and (d.inspect or d.matrix):
        d.models = {}
    return d


def _take(d: Digest, turns: dict[int, Turn], channel: str, run: int, event: Any) -> None:
    """One decoded event into the digest."""

    def answer() -> Answer:
        turn = turns.setdefault(run, Turn(run, ""))
        return turn.answers.setdefault(channel, Answer(channel, d.models.get(channel, channel)))

    side = channel in SIDES
    match event:
        case Resolved(model=model) if side:
            d.models[channel] = _label(model)
        case Prompt():
            turns[event.run] = Turn(event.run, event.prompt, event.question, event.retrieval)
        case Done() if side:
            a = answer()
            a.text, a.finish_reason = event.text, event.finish_reason
            a.stats = {k: getattr(event.stats, k) for k in _KEPT}  # (not asdict: a deep copy of every field)
        case Error() if side:
            answer().error = event.message
        case Token() if side:
            a = answer()
            if a.finish_reason is None and a.error is None:
                a.text += event.text  # a crash before done: keep what streamed
        case Verdict() if run in turns:
            turns[run].verdict = event.text
        case Vote() if run in turns:
            turns[run].vote = event.winner
        case EvalRecord():
            for row in event.rows:
                turn = turns.get(run)
                if turn is None or not isinstance(row, dict) or row.get("side") not in turn.answers:
                    continue
                turn.answers[row["side"]].cosine = row.get("cosine")
                turn.reference = row.get("reference")
        case EvalSummary():
            d.eval_summary = event.summary
        case Comparison():
            d.comparison = event.rows
        case Snapshot(kind="inspect"):
            d.inspect = event.data
        case Snapshot(kind="quant-matrix") | Snapshot(kind="fidelity") | Snapshot(kind="bench"):
            d.matrix = event.data


def load_all(kinds: Sequence[str] | None = None) -> tuple[list[Digest], list[str]]:
    """Every session that can be read, newest first, and a line for each that cannot.
    ``kinds``: only sessions of these kinds (the others are not read past their first line)."""
    found, problems = [], []
    samples = samples_dir()  # once, not per file
    for path in session_files():
        if kinds is not None and _kind_of(path) not in (*kinds, None):
            continue
        try:
            found.append(_listable(digest(read_session(path), sample=samples is not None and path.parent == samples)))
        except SessionError as exc:
            problems.append(str(exc))
        except (AttributeError, TypeError, KeyError, ValueError, IndexError) as exc:  # valid JSON, wrong shapes
            problems.append(f"{path}: not a session llmbench can list ({type(exc).__name__}: {first_line(exc)})")
    return found, problems


def _kind_of(path: Path) -> str | None:
    """The kind its header line names; None when that line cannot say (read it whole)."""
    try:
        with open(path, encoding="utf-8") as fh:
            header = loads_json(fh.readline(2**20))
    except (OSError, ValueError):
        return None
    kind = header.get("kind") if isinstance(header, dict) else None
    return kind if isinstance(kind, str) else None


def _listable(d: Digest) -> Digest:
    """``d``, once what a listing shows of it (CLI, JSON or the Sessions tab) has been worked
    out here, where a field of the wrong type (a hand-edited file) is caught."""
    " ".join([d.short_id, d.created[:16], d.kind, d.title or "", d.first_prompt, *d.tags, *d.models.values()])
    for side in d.models:
        d.side_stats(side)
    d.key_stats()
    return d


FILTER_FIELDS = ("kind", "model", "tag")


def parse_query(text: str) -> dict[str, str]:
    """``"kind:duel model:smol capital"`` → {"kind": "duel", "model": "smol", "words": "capital"}."""
    out: dict[str, str] = {}
    words = []
    for part in text.split():
        key, sep, value = part.partition(":")
        if sep and key.lower() in FILTER_FIELDS and value:
            out[key.lower()] = value
        else:
            words.append(part)
    out["words"] = " ".join(words)
    return out


def matches(
    d: Digest,
    kind: str | None = None,
    model: str | None = None,
    tag: str | None = None,
    words: str | None = None,
    samples: bool = True,
) -> bool:
    if kind and d.kind != kind:
        return False
    if tag and tag not in d.tags:
        return False
    if model and not any(model.lower() in m.lower() for m in [*d.models.values(), *d.specs.values()]):
        return False
    if words:
        hay = " ".join([d.title, d.first_prompt, d.id, d.kind, *d.tags, *d.models.values()]).lower()
        if not all(w in hay for w in words.lower().split()):
            return False
    return samples or not d.sample
