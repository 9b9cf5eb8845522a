"""A fidelity result as people read it: llama-perplexity's names, one column per candidate."""

from __future__ import annotations

from ..util.fmt import MIB, size_text
from ..util.markdown import table


def _pm(value, err, digits: int, scale: float = 1.0, unit: str = "") -> str:
    if value is None:
        return "—"
    err_text = f" ± {err * scale:.{digits}f}" if err is not None else ""
    return f"{value * scale:.{digits}f}{err_text}{unit}"


def _num(value, digits: int) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


ROWS = (
    ("Mean PPL(Q)", lambda c: _pm(c.get("ppl"), c.get("ppl_err"), 4)),
    ("Mean PPL(base)", lambda c: _pm(c.get("ppl_base"), c.get("ppl_base_err"), 4)),
    ("Mean ln(PPL(Q)/PPL(base))", lambda c: _pm(c.get("ln_ppl_ratio"), c.get("ln_ppl_ratio_err"), 5)),
    ("Mean KLD", lambda c: _pm(c.get("kld_mean"), c.get("kld_err"), 6)),
    ("Median KLD", lambda c: _num(c.get("kld_median"), 6)),
    ("90.0% KLD", lambda c: _num(c.get("kld_p90"), 6)),
    ("95.0% KLD", lambda c: _num(c.get("kld_p95"), 6)),
    ("99.0% KLD", lambda c: _num(c.get("kld_p99"), 6)),
    ("99.9% KLD", lambda c: _num(c.get("kld_p999"), 6)),
    ("Maximum KLD", lambda c: _num(c.get("kld_max"), 6)),
    ("RMS Δp", lambda c: _pm(c.get("rms_dp"), c.get("rms_dp_err"), 3, 100, " %")),
    ("Same top p", lambda c: _pm(c.get("same_top_p"), c.get("same_top_p_err"), 3, 100, " %")),
    ("tokens scored", lambda c: f"{c.get('tokens', 0):,}"),
    ("load", lambda c: "—" if c.get("load_s") is None else f"{c['load_s']:.2f} s (1 sample)"),
    ("peak RAM", lambda c: size_text(c["peak_rss_mib"] * MIB) if c.get("peak_rss_mib") else "—"),
)


def label(spec: str) -> str:
    """A column title: the spec, or for a long path its file name."""
    if len(spec) <= 28 or "/" not in spec:
        return spec
    return spec.removeprefix("gguf:").rstrip("/").rsplit("/", 1)[-1]


def headers(result: dict) -> list[str]:
    return ["", *[label(c["spec"]) for c in result["candidates"]]]


def table_rows(result: dict) -> list[list[str]]:
    """One row per figure, one column per candidate; a failed candidate shows its error."""
    rows = []
    for name, show in ROWS:
        rows.append([name, *[("—" if c.get("error") else show(c)) for c in result["candidates"]]])
    return rows


def summary_lines(result: dict) -> list[str]:
    ref = result["reference"]
    chunks = f"{result['chunks']} of {result['chunks_total']} chunks"
    if result["partial"]:
        chunks += " (PARTIAL: stopped early)"
    rate = f", {result['tok_s']:,.0f} tokens scored/s" if result.get("tok_s") else ""
    lines = [
        f"reference: {ref['spec']} ({ref.get('model') or '?'}{', ' + ref['quant'] if ref.get('quant') else ''}; "
        f"{ref['source']})",
        f"text: {result['text']['label']}; ctx {result['ctx']}, {chunks}; the second half of each chunk scored",
        f"KLD over the {result['kld_method']}; ± is one standard error; {result['elapsed_s']:.1f} s{rate}",
    ]
    lines += [f"note: {c['spec']}: {c['note']}" for c in result["candidates"] if c.get("note")]
    lines += [f"error: {c['spec']}: {c['error']}" for c in result["candidates"] if c.get("error")]
    if result.get("saved_ref"):
        lines.append(f"reference saved to {result['saved_ref']}")
    return lines


def markdown_report(result: dict) -> str:
    out = ["# Fidelity", "", *[f"- {line}" for line in summary_lines(result)], ""]
    out += table(headers(result), table_rows(result), "l" + "r" * len(result["candidates"]))
    return "\n".join(out) + "\n"
