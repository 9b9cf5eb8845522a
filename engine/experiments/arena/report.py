"""The leaderboard as a table (rows of text for the terminal, the TUI and Markdown),
CSV and JSON; and the lines that say where the figures come from."""

from __future__ import annotations

import csv
import io
import json
from collections import Counter

from ...util.markdown import table
from .leaderboard import Battles, Row
from .ratings import CONFIDENCE, MIN_BATTLES

COLUMNS = ("#", "model", "rating (95% CI)", "n", "W/T", "KLD", "top p", "tok/s", "RAM")
FORMATS = ("table", "json", "md", "csv")


def rating_text(row: Row) -> str:
    r = row.rating
    if r.low is None:
        return f"{r.rating:.0f} (n<{MIN_BATTLES})"
    mark = " ≈ leader" if r.tied_with_leader and r.rank != 1 else ""
    return f"{r.rating:.0f} ({r.low:.0f}–{r.high:.0f}){mark}"


def table_rows(rows: list[Row], battles: Battles) -> list[list[str]]:
    out = []
    labels = Counter(row.label for row in rows)
    for row in rows:
        r = row.rating
        out.append([
            "—" if r.rank is None else str(r.rank),
            row.label if labels[row.label] == 1 else f"{row.label} ({r.model})",  # the spec tells twins apart
            rating_text(row),
            str(r.battles),
            f"{r.wins}/{r.ties}",
            "—" if row.kld_mean is None else f"{row.kld_mean:.4f}",
            "—" if row.same_top_p is None else f"{row.same_top_p * 100:.1f} %",
            "—" if row.gen_tok_s is None else f"{row.gen_tok_s:.1f}",
            "—" if row.peak_rss_mib is None else f"{row.peak_rss_mib:.0f} MiB",
        ])  # fmt: skip
    return out


def notes(rows: list[Row], battles: Battles, resamples: int) -> list[str]:
    """What the figures are and what was left out, a line each."""
    lines = [
        "#: rank (1 + the models rated surely above); n: battles; W/T: won/tied; KLD and top p: Mean KLD and Same top p.",
        f"{len(battles.matches)} battle{'s' if len(battles.matches) != 1 else ''} counted; ratings by a Bradley-Terry fit (evalica), "
        f"{CONFIDENCE:.0%} bootstrap intervals from {resamples:,} resamples; a tie or 'both bad' counts half a win "
        "to each. ≈ leader: its interval overlaps the leader's, so the battles do not tell them apart. "
        f"n<{MIN_BATTLES}: too few battles for an interval (or a rank) yet.",
    ]
    if rows:
        lines.append("Mean KLD and Same top p: the newest `llmbench fidelity` run against the pool's reference; "
                     "tok/s: the median of the model's generation speeds over its battles (one sample each); "
                     "peak RAM: the largest in them.")  # fmt: skip
    if battles.not_counted:
        lines.append(f"{len(battles.not_counted)} voted battle(s) not counted (a side failed or was cancelled).")
    return lines


def pareto_lines(rows: list[Row]) -> list[str]:
    """The models no other beats on preference, KLD, speed and memory at once; then why
    each other one is dominated."""
    front = [r.label for r in rows if r.pareto]
    lines = [f"Pareto front (no other model is at least as good on rating, KLD, speed and RAM): {', '.join(front)}"]
    for r in rows:
        if not r.pareto:
            lines.append(f"{r.label} is dominated by " + "; by ".join(r.dominated_by))
    return lines


def render(rows: list[Row], battles: Battles, fmt: str, resamples: int, pareto: bool = False) -> str:
    if fmt == "json":
        return json.dumps({"rows": [r.to_dict() for r in rows], "battles": len(battles.matches),
                           "not_counted": battles.not_counted, "problems": battles.problems,
                           "resamples": resamples, "confidence": CONFIDENCE}, indent=2) + "\n"  # fmt: skip
    if fmt == "csv":
        buf = io.StringIO()
        fields = list(rows[0].to_dict()) if rows else ["model"]
        writer = csv.DictWriter(buf, fields, extrasaction="ignore")
        writer.writeheader()
        for r in rows:
            writer.writerow({k: ("; ".join(v) if isinstance(v, list) else v) for k, v in r.to_dict().items()})
        return buf.getvalue()
    lines = ["# Arena leaderboard", "", *table(COLUMNS, table_rows(rows, battles), "rlrrrrrrr"), ""]
    lines += [f"- {line}" for line in notes(rows, battles, resamples)]
    if pareto:
        lines += ["", *[f"- {line}" for line in pareto_lines(rows)]]
    return "\n".join(lines) + "\n"
