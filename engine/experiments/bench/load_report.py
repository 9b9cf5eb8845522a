"""A load test's table and report (``load.py``): one row per level of concurrency."""

from __future__ import annotations

from ...util.markdown import table

COLUMNS = ("concurrency", "requests", "failed", "total tok/s", "per request tok/s", "TTFT ms", "ITL ms")


def _spread(s: dict, digits: int = 1) -> str:
    if not s or s.get("median") is None:
        return "—"
    if s.get("n", 0) <= 1:
        return f"{s['median']:.{digits}f} (1 sample)"
    return f"{s['median']:.{digits}f} · p99 {s['p99']:.{digits}f}"


def table_rows(result: dict) -> list[list[str]]:
    return [
        [
            str(lv["concurrency"]),
            str(lv["requests"]),
            str(lv["failed"]),
            "—"
            if lv["total_tok_s"] is None
            else f"{lv['total_tok_s']:.1f}" + (" (host busy)" if lv["host_busy"] else ""),
            _spread(lv["per_request_tok_s"]),
            _spread(lv["ttft_ms"], 0),
            _spread(lv["itl_ms"]),
        ]
        for lv in result["levels"]
    ]


def heading(result: dict) -> str:
    per = f"{result['requests']} requests" if result["requests"] else "4 requests per slot"
    cache = "every request the same prompt (the server's prompt cache may serve it)" if result["shared_prefix"] else (
        "every request its own part of the text (no shared prefix)")  # fmt: skip
    partial = " PARTIAL: stopped early;" if result["partial"] else ""
    return (f"{result['model']}: prompts of about {result['n_prompt']} tokens, {result['n_gen']} tokens asked for "
            f"(end of sequence ruled out), {per} at each level;{partial} {cache}. Total tok/s: every request's "
            "output over the level's wall time (one sample a level); per request, TTFT and ITL: median · p99 "
            "(nearest rank) over the requests; host busy: this machine, the client's")  # fmt: skip


def error_lines(result: dict) -> list[str]:
    """Failed requests, per level."""
    return [f"concurrency {lv['concurrency']}: {lv['failed']} failed: {'; '.join(lv['errors'])}"
            for lv in result["levels"] if lv["failed"]]  # fmt: skip


def note_lines(result: dict) -> list[str]:
    """Answers the server ended early."""
    short = sum(lv.get("short") or 0 for lv in result["levels"])
    if not short:
        return []
    return [f"{short} answers ended before {result['n_gen']} tokens (the server may not honour ignore_eos): per "
            "request tok/s and ITL come from the answers of 2 tokens or more"]  # fmt: skip


def markdown_report(result: dict) -> str:
    lines = ["# Load", "", heading(result) + ".", "", *table(COLUMNS, table_rows(result), "r" * len(COLUMNS))]
    more = [*error_lines(result), *note_lines(result)]
    lines += ["", *[f"- {line}" for line in more]] if more else []
    return "\n".join(lines) + "\n"


def summary_line(result: dict) -> str:
    """``c1 61.2 · c4 180.5 total tok/s``: the load test in the sessions list."""
    parts = [f"c{lv['concurrency']} {lv['total_tok_s']:.1f}" for lv in result["levels"] if lv["total_tok_s"]]
    return " · ".join(parts) + " total tok/s" if parts else "no level finished"
