"""The arena's leaderboard: every recorded battle of a pool, its ratings (``ratings.fit``),
and beside each model its Mean KLD and Same top p against the pool's reference (from
the newest ``llmbench fidelity`` session that scored it), its gen tok/s and peak RAM
in the battles; and which models no other beats on all four at once (``pareto``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

from ...sessions.digest import Digest, load_all
from ...util.stats import median
from .ratings import OUTCOMES, RESAMPLES, Match, Rating, fit

BATTLE = "battle"  # the session kind of a blind battle


@dataclass
class Battles:
    """What the sessions hold for a pool: the counted battles, per model its speeds and
    peaks, and a line for every battle or session that does not count, and why."""

    matches: list[Match] = field(default_factory=list)
    tok_s: dict[str, list[float]] = field(default_factory=dict)
    rss_mib: dict[str, list[float]] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)  # spec -> "name quant"
    not_counted: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def read_battles(pool: str | None = None, digests: Sequence[Digest] | None = None) -> Battles:
    """Every voted battle (of ``pool``, or of all pools), newest session first."""
    if digests is None:
        digests, problems = load_all(kinds=(BATTLE,))
    else:
        problems = []
    out = Battles(problems=list(problems))
    for d in digests:
        if d.kind != BATTLE or (pool is not None and d.pool != pool):
            continue
        for turn in d.turns:
            if turn.vote is None:
                continue
            where = f"{d.path}: battle {turn.run}"
            if turn.vote not in OUTCOMES:
                out.problems.append(f"{where}: the vote {turn.vote!r} is not one of {', '.join(OUTCOMES)}; skipped")
                continue
            if why := _not_countable(d, turn):
                out.not_counted.append(f"{where}: {why}")
                continue
            out.matches.append(Match(d.specs["a"], d.specs["b"], turn.vote))
            for side in ("a", "b"):
                spec, stats = d.specs[side], turn.answers[side].stats
                out.labels.setdefault(spec, d.models.get(side, spec))
                if stats.get("gen_tok_s"):
                    out.tok_s.setdefault(spec, []).append(stats["gen_tok_s"])
                if stats.get("peak_rss_mib"):
                    out.rss_mib.setdefault(spec, []).append(stats["peak_rss_mib"])
    return out


def _not_countable(d: Digest, turn) -> str | None:
    """Why a voted battle is not counted (a side failed or was cancelled), or None."""
    if set(d.specs) != {"a", "b"}:
        return "not two contestants"
    for side in ("a", "b"):
        answer = turn.answers.get(side)
        if answer is None:
            return f"side {side.upper()} never answered"
        if answer.error:
            return f"side {side.upper()} failed ({answer.error})"
        if answer.finish_reason == "cancelled":
            return f"side {side.upper()} was cancelled"
    return None


@dataclass
class Row:
    rating: Rating
    label: str
    kld_mean: float | None = None
    same_top_p: float | None = None
    fidelity_session: str | None = None
    gen_tok_s: float | None = None  # the median over its battles
    peak_rss_mib: float | None = None  # the largest over its battles
    dominated_by: list[str] = field(default_factory=list)  # one line each: who, and on what
    pareto: bool = True

    def to_dict(self) -> dict:
        data = asdict(self.rating)
        data.update({k: v for k, v in asdict(self).items() if k != "rating"})
        return data


def leaderboard(pool: str | None = None, reference: str | None = None, resamples: int = RESAMPLES,
                digests: Sequence[Digest] | None = None) -> tuple[list[Row], Battles]:  # fmt: skip
    """The rows, best first, and the battles they came from."""
    if digests is None:
        digests, problems = load_all(kinds=(BATTLE, "fidelity"))
    else:
        problems = []
    battles = read_battles(pool, digests)
    battles.problems[:0] = problems
    rows = [Row(r, battles.labels.get(r.model, r.model)) for r in fit(battles.matches, resamples)]
    fidelity = _fidelity_figures(digests, reference)
    for row in rows:
        spec = row.rating.model
        if spec in fidelity:
            row.kld_mean, row.same_top_p, row.fidelity_session = fidelity[spec]
        row.gen_tok_s = median(battles.tok_s.get(spec, []))
        peaks = battles.rss_mib.get(spec, [])
        row.peak_rss_mib = max(peaks) if peaks else None
    _mark_pareto(rows)
    return rows, battles


def _fidelity_figures(digests: Sequence[Digest], reference: str | None) -> dict[str, tuple]:
    """spec -> (Mean KLD, Same top p, session) from the newest fidelity session against
    ``reference`` that scored it (every reference when the pool names none)."""
    out: dict[str, tuple] = {}
    for d in digests:  # newest first: the first figure found for a spec is kept
        result = d.matrix if d.kind == "fidelity" else None
        if not isinstance(result, dict) or result.get("partial"):
            continue
        ref = result.get("reference") or {}
        if reference is not None and ref.get("spec") != reference:
            continue
        for c in result.get("candidates") or []:
            if isinstance(c, dict) and c.get("spec") and not c.get("error") and c.get("kld_mean") is not None:
                out.setdefault(c["spec"], (c["kld_mean"], c.get("same_top_p"), d.path))
    return out


# what each column of the Pareto test means: (attribute, higher is better, words for "better")
OBJECTIVES = (
    ("rating", True, "preferred"),
    ("kld_mean", False, "lower KLD"),
    ("gen_tok_s", True, "faster"),
    ("peak_rss_mib", False, "less RAM"),
)


def _value(row: Row, name: str) -> float | None:
    return row.rating.rating if name == "rating" else getattr(row, name)


def _mark_pareto(rows: list[Row]) -> None:
    """A model is dominated when another is at least as good on every figure both have
    (preference, KLD, speed, memory) and better on one; the line says by whom and how."""
    for row in rows:
        for other in rows:
            if other is row:
                continue
            better, worse = [], False
            for name, higher, words in OBJECTIVES:
                mine, theirs = _value(row, name), _value(other, name)
                if mine is None or theirs is None:
                    continue
                if (theirs > mine) if higher else (theirs < mine):
                    better.append(f"{words} ({_fmt(name, theirs)} vs {_fmt(name, mine)})")
                elif theirs != mine:
                    worse = True
                    break
            if better and not worse:
                row.pareto = False
                row.dominated_by.append(f"{other.label}: {', '.join(better)}")


def _fmt(name: str, v: float) -> str:
    return {"rating": f"{v:.0f}", "kld_mean": f"{v:.4f}", "gen_tok_s": f"{v:.1f} tok/s"}.get(name, f"{v:.0f} MiB")
