"""llama-perplexity's statistics of one candidate: running sums, then the figures."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ...runtime.scoring import Rows


@dataclass
class Tally:
    """llama-perplexity's running sums for one candidate, and the per-position KLD and
    Δp values its percentiles need (a few floats per scored token)."""

    sums: dict[str, float] = field(default_factory=lambda: dict.fromkeys(
        ("nll", "nll2", "base", "base2", "nll_base", "kld", "kld2", "dp", "dp2", "dp4"), 0.0))  # fmt: skip
    same_top: int = 0
    count: int = 0
    kld: list = field(default_factory=list)
    p_diff: list = field(default_factory=list)

    def add(self, rows: Rows) -> None:
        s = self.sums
        s["nll"] += rows.nll.sum()
        s["nll2"] += (rows.nll**2).sum()
        s["base"] += rows.nll_base.sum()
        s["base2"] += (rows.nll_base**2).sum()
        s["nll_base"] += (rows.nll * rows.nll_base).sum()
        s["kld"] += rows.kld.sum()
        s["kld2"] += (rows.kld**2).sum()
        s["dp"] += rows.p_diff.sum()
        s["dp2"] += (rows.p_diff**2).sum()
        s["dp4"] += (rows.p_diff**4).sum()
        self.same_top += int(rows.same_top.sum())
        self.count += len(rows.nll)
        self.kld.append(rows.kld.astype(np.float32))
        self.p_diff.append(rows.p_diff.astype(np.float32))

    def _mean(self, total: str, squares: str) -> tuple[float, float]:
        """Mean and its standard error, as llama-perplexity's mean_and_uncertainty."""
        n = self.count
        f = self.sums[total] / n
        var = self.sums[squares] / n - f * f
        return f, math.sqrt(var / (n - 1)) if var > 0 and n > 10 else 0.0

    def figures(self) -> dict:
        """The JSON fields of one candidate (fractions, not percents)."""
        if self.count < 2:
            return {"tokens": self.count}
        n, s = self.count, self.sums
        log_ppl, log_ppl_err = self._mean("nll", "nll2")
        log_base, log_base_err = self._mean("base", "base2")
        cov = (s["nll_base"] / n - (s["nll"] / n) * (s["base"] / n)) / (n - 1) if n >= 10 else 0.0
        kld_mean, kld_err = self._mean("kld", "kld2")
        mse, mse_err = self._mean("dp2", "dp4")
        rms = math.sqrt(mse)
        same = self.same_top / n
        kld = np.concatenate(self.kld)
        q = np.percentile(kld, [50, 90, 95, 99, 99.9])
        return {
            "tokens": n,
            "ppl": math.exp(log_ppl),
            "ppl_err": math.exp(log_ppl) * log_ppl_err,
            "ppl_base": math.exp(log_base),
            "ppl_base_err": math.exp(log_base) * log_base_err,
            "ln_ppl_ratio": log_ppl - log_base,
            "ln_ppl_ratio_err": math.sqrt(max(0.0, log_ppl_err**2 + log_base_err**2 - 2 * cov)),
            "kld_mean": kld_mean,
            "kld_err": kld_err,
            "kld_median": float(q[0]),
            "kld_p90": float(q[1]),
            "kld_p95": float(q[2]),
            "kld_p99": float(q[3]),
            "kld_p999": float(q[4]),
            "kld_max": float(kld.max()),
            "rms_dp": rms,
            "rms_dp_err": 0.5 / rms * mse_err if rms > 0 else 0.0,
            "same_top_p": same,
            "same_top_p_err": math.sqrt(same * (1 - same) / (n - 1)),
        }
