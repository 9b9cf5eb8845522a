"""Means and percentiles over lists that may hold gaps (None) from failed runs, and the
ratio of two speeds with its confidence interval."""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable
from dataclasses import dataclass


def numbers(values: Iterable) -> list[float]:
    """The values that are numbers (bools and None left out)."""
    return [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]


def mean(values: Iterable) -> float | None:
    vals = numbers(values)
    return statistics.fmean(vals) if vals else None


def mean_std(values: Iterable) -> tuple[float | None, float | None]:
    """Mean and sample standard deviation (n - 1, 0 for one value), as llama-bench computes them."""
    vals = numbers(values)
    if not vals:
        return None, None
    return statistics.fmean(vals), statistics.stdev(vals) if len(vals) > 1 else 0.0


def percentile(values: Iterable, q: float) -> float | None:
    """The nearest-rank ``q`` quantile (0..1) of the numbers in ``values``."""
    vals = sorted(numbers(values))
    if not vals:
        return None
    return vals[min(len(vals) - 1, int(round(q * (len(vals) - 1))))]


def median(values: Iterable) -> float | None:
    return percentile(values, 0.5)


@dataclass(frozen=True)
class RatioCI:
    """The ratio of two means (A over B) with its confidence interval, from Welch's t on
    the logarithms (speeds are multiplicative: a ratio's interval is symmetric in log)."""

    ratio: float
    low: float
    high: float
    n_a: int
    n_b: int
    level: float = 0.95

    @property
    def excludes_one(self) -> bool:
        return self.low > 1 or self.high < 1

    def inverse(self) -> RatioCI:
        """B over A."""
        return RatioCI(1 / self.ratio, 1 / self.high, 1 / self.low, self.n_b, self.n_a, self.level)

    def runs_text(self) -> str:
        """``3 runs each`` or ``3 and 5 runs``."""
        if self.n_a == self.n_b:
            return f"{self.n_a} runs each"
        return f"{self.n_a} and {self.n_b} runs"

    def interval_text(self) -> str:
        return f"{self.level:.0%} CI {self.low:.2f}-{self.high:.2f}x"


def _welch(la: float, va: float, na: int, lb: float, vb: float, nb: int, level: float) -> RatioCI:
    """Welch's interval for the difference of two log-means, as a ratio."""
    diff = la - lb
    terms = va / na, vb / nb
    se = math.sqrt(sum(terms))
    if se == 0:  # identical runs on both sides: the ratio is exact
        return RatioCI(math.exp(diff), math.exp(diff), math.exp(diff), na, nb, level)
    from scipy import stats  # imported here: scipy is slow to import and only a verdict needs it

    df = se**4 / sum(t * t / (n - 1) for t, n in zip(terms, (na, nb)) if t > 0)
    half = float(stats.t.ppf(0.5 + level / 2, df)) * se
    return RatioCI(math.exp(diff), math.exp(diff - half), math.exp(diff + half), na, nb, level)


def ratio_ci(a: Iterable, b: Iterable, level: float = 0.95) -> RatioCI | None:
    """mean(A) / mean(B) with its interval from two sets of positive samples (speeds); None
    with fewer than two samples on a side (one run has no spread to judge by)."""
    xa, xb = [v for v in numbers(a) if v > 0], [v for v in numbers(b) if v > 0]
    if len(xa) < 2 or len(xb) < 2:
        return None
    la, lb = [math.log(v) for v in xa], [math.log(v) for v in xb]
    return _welch(statistics.fmean(la), statistics.variance(la), len(la),
                  statistics.fmean(lb), statistics.variance(lb), len(lb), level)  # fmt: skip


def ratio_ci_from_stats(
    mean_a: float, std_a: float, n_a: int, mean_b: float, std_b: float, n_b: int, level: float = 0.95
) -> RatioCI | None:
    """The same from means, sample stddevs and counts alone (a recorded summary): the log's
    variance by the delta method, (std / mean)². None with fewer than two on a side."""
    if n_a < 2 or n_b < 2 or not mean_a or not mean_b or mean_a < 0 or mean_b < 0:
        return None
    return _welch(math.log(mean_a), (std_a / mean_a) ** 2, n_a, math.log(mean_b), (std_b / mean_b) ** 2, n_b, level)
