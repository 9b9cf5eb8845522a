"""A fidelity result as people read it: llama-perplexity's names, one column per candidate."""

from __future__ import annotations

from ...util.cpus import HostLoad
from ...util.fmt import MIB, size_text
from ...util.markdown import table


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


def _mc(c: dict, key: str) -> str:
    mc = c.get("mc")
    if not mc:
        return "—"
    if key == "acc":
        return f"{100 * mc['acc']:.1f} ± {100 * mc['acc_err']:.1f} %"
    if "flips" not in mc:
        return "—"
    return f"{mc['flips']} ({mc['flips_lost']} lost, {mc['flips_gained']} gained)"


MC_ROWS = (
    ("MC accuracy", lambda c: _mc(c, "acc")),
    ("MC flips", lambda c: _mc(c, "flips")),
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
    for name, show in ROWS + (MC_ROWS if result.get("mc") else ()):
        cells = []
        for c in result["candidates"]:
            value = "—" if c.get("error") else show(c)
            cells.append(f"≈ {value}" if c.get("kld_approx") and "KLD" in name and value != "—" else value)
        rows.append([name, *cells])
    return rows


def summary_lines(result: dict) -> list[str]:
    ref = result["reference"]
    chunks = f"{result['chunks']} of {result['chunks_total']} chunks"
    if result["partial"]:
        chunks += " (PARTIAL: stopped early)"
    rate = f", {result['tok_s']:,.0f} tokens scored/s" if result.get("tok_s") else ""
    host = HostLoad.from_dict(result.get("tok_s_host"))
    rate += f" ({host.text()})" if rate and host is not None and host.busy else ""
    lines = [
        f"reference: {ref['spec']} ({ref.get('model') or '?'}{', ' + ref['quant'] if ref.get('quant') else ''}; "
        f"{ref['source']})",
        f"text: {result['text']['label']}; ctx {result['ctx']}, {chunks}; the second half of each chunk scored",
        f"KLD over the {result['kld_method']}; ± is one standard error; {result['elapsed_s']:.1f} s{rate}",
    ]
    if result.get("kld_approx_method"):
        lines.append(f"≈ KLD: {result['kld_approx_method']}")
    if result.get("mc"):
        ref_mc = ref.get("mc")
        acc = f"; the reference answers {100 * ref_mc['acc']:.1f} % right" if ref_mc else ""
        lines.append(f"multiple choice: {result['mc']['label']}, each choice scored by its log-likelihood{acc}")
    lines += [f"note: {c['spec']}: {c['note']}" for c in result["candidates"] if c.get("note")]
    lines += [f"error: {c['spec']}: {c['error']}" for c in result["candidates"] if c.get("error")]
    if result.get("saved_ref"):
        lines.append(f"reference saved to {result['saved_ref']}")
    return lines


def summary_line(result: dict) -> str:
    """``Q4_1: KLD 0.0026, same top 96.7%``: a fidelity run in the sessions list."""
    parts = []
    for c in result["candidates"]:
        if c.get("kld_mean") is not None:
            parts.append(f"{label(c['spec'])}: KLD {c['kld_mean']:.4f}, same top {100 * c['same_top_p']:.1f}%")
        else:
            parts.append(f"{label(c['spec'])}: {c.get('error') or 'no figures'}")
    return "; ".join(parts) + (" (partial)" if result.get("partial") else "")


def markdown_report(result: dict) -> str:
    out = ["# Fidelity", "", *[f"- {line}" for line in summary_lines(result)], ""]
    out += table(headers(result), table_rows(result), "l" + "r" * len(result["candidates"]))
    return "\n".join(out) + "\n"
