"""Means and percentiles over lists that may hold gaps (None) from failed runs."""

from __future__ import annotations

import statistics
from collections.abc import Iterable


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
