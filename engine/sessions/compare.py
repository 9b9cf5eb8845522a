"""``sessions compare A B``: two bench runs (or two duels) side by side, with the change
in % and whether the runs show it: did the new build or quantization get faster?

A change counts only when the 95 % interval of B over A (Welch's t on the logarithms,
from each run's mean, stddev and count: the Duel's verdict's rule) excludes 1; with one
sample on a side there is no interval, and the line says so.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from ..errors import SessionError
from ..util.stats import RatioCI, mean_std, ratio_ci_from_stats
from .digest import Digest

KINDS = ("bench", "duel")
# (label, key in a duel answer's stats, whether higher is better)
DUEL_FIGURES = (
    ("gen tok/s", "gen_tok_s", True),
    ("TTFT ms", "ttft_ms", False),
    ("peak RAM MiB", "peak_rss_mib", False),
)


@dataclass(frozen=True)
class Change:
    what: str  # "SmolLM2 Q4_1 tg128", "A gen tok/s"
    a_mean: float | None
    a_std: float | None
    a_n: int
    b_mean: float | None
    b_std: float | None
    b_n: int
    higher_is_better: bool = True

    @property
    def change(self) -> float | None:
        """B against A: +0.12 is 12 % more."""
        if not self.a_mean or self.b_mean is None:
            return None
        return self.b_mean / self.a_mean - 1

    @property
    def interval(self) -> RatioCI | None:
        """B over A with its 95 % interval; None with one sample on a side."""
        if self.a_mean is None or self.b_mean is None:
            return None
        return ratio_ci_from_stats(self.b_mean, self.b_std or 0.0, self.b_n, self.a_mean, self.a_std or 0.0, self.a_n)

    @property
    def verdict(self) -> str:
        if self.change is None:
            return "not in both"
        ci = self.interval
        if ci is None and 0 in (self.a_n, self.b_n):
            return "the samples' count not recorded: no interval"
        if ci is None:
            return "one sample: no interval"
        if not ci.excludes_one:
            return f"no change shown ({ci.interval_text()})"
        better = (ci.ratio > 1) == self.higher_is_better
        return f"{'better' if better else 'worse'}: {ci.ratio:.2f}x ({ci.interval_text()})"

    def to_dict(self) -> dict:
        ci = self.interval
        bounds = [ci.low, ci.high] if ci else None
        return asdict(self) | {"change": self.change, "ratio_ci95": bounds, "verdict": self.verdict}


def compare(a: Digest, b: Digest) -> list[Change]:
    if a.kind not in KINDS or b.kind not in KINDS:
        raise SessionError(f"compare takes two bench runs or two duels; got a {a.kind} and a {b.kind}")
    if a.kind != b.kind:
        raise SessionError(f"{a.short_id} is a {a.kind} and {b.short_id} a {b.kind}: compare two of a kind")
    return _benches(a, b) if a.kind == "bench" else _duels(a, b)


def _bench_rows(d: Digest) -> dict[tuple[int, str], dict]:
    """(the model's place in the run, test) -> row: the i-th model of A meets the i-th of B."""
    rows = (d.matrix or {}).get("rows") or []
    order = list(dict.fromkeys(r["spec"] for r in rows))
    return {(order.index(r["spec"]), r["test"]): r for r in rows}


def _benches(a: Digest, b: Digest) -> list[Change]:
    ra, rb = _bench_rows(a), _bench_rows(b)
    out = []
    for key in list(ra) + [k for k in rb if k not in ra]:
        x, y = ra.get(key), rb.get(key)
        model = " → ".join(dict.fromkeys(r["model"] for r in (x, y) if r))
        out.append(Change(f"{model} {key[1]}", *_ts(x), *_ts(y)))
    return out


def _ts(row: dict | None) -> tuple[float | None, float | None, int]:
    if not row or row.get("avg_ts") is None:
        return None, None, 0
    return row["avg_ts"], row["stddev_ts"] or 0.0, len(row.get("samples_ts") or [])


def _duels(a: Digest, b: Digest) -> list[Change]:
    out = []
    for side in dict.fromkeys([*a.models, *b.models]):
        for label, key, higher in DUEL_FIGURES:
            x, y = _answers(a, side, key), _answers(b, side, key)
            if not x and not y:
                continue
            models = " → ".join(dict.fromkeys(m for m in (a.models.get(side), b.models.get(side)) if m))
            (ma, sa), (mb, sb) = mean_std(x), mean_std(y)
            out.append(Change(f"{side.upper()} {models} {label}", ma, sa, len(x), mb, sb, len(y), higher))
    return out


def _answers(d: Digest, side: str, key: str) -> list[float]:
    """A figure of every finished answer of one side (a cancelled or failed one is left out)."""
    values = []
    for t in d.turns:
        ans = t.answers.get(side)
        if ans and not ans.error and ans.finish_reason != "cancelled" and ans.stats.get(key) is not None:
            values.append(ans.stats[key])
    return values


def figure_text(mean: float | None, std: float | None, n: int) -> str:
    if mean is None:
        return "—"
    if n == 0:  # imported from llama-bench's SQL: its mean and stddev, not its samples
        return f"{mean:.1f} ± {std or 0:.1f} (n not recorded)"
    return f"{mean:.1f}" + (f" ± {std:.1f}" if n > 1 else " (1 sample)")


def change_rows(changes: list[Change]) -> list[list[str]]:
    return [
        [
            c.what,
            figure_text(c.a_mean, c.a_std, c.a_n),
            figure_text(c.b_mean, c.b_std, c.b_n),
            "—" if c.change is None else f"{c.change:+.1%}",
            c.verdict,
        ]
        for c in changes
    ]


COLUMNS = ("figure", "A", "B", "change", "verdict")
