"""A quantization matrix as people read it: the table, the summary line, the Markdown
report with its size-vs-KLD front, and the report files."""

from __future__ import annotations

import json
import math
from pathlib import Path

from ...util.cpus import HostLoad
from ...util.host import host_text
from ...util.markdown import table
from ...util.stats import mean_std
from .. import reports
from .fidelity import pareto


def _fmt(value, spec: str, unit: str = "") -> str:
    return "—" if value is None else f"{value:{spec}}{unit}"


# The units are in the headers, so the cells are numbers (and the table reads at 80 columns).
COLUMNS = ("variant", "runtime", "size MiB", "peak RAM MiB", "tok/s", "Mean KLD", "Same top p %", "PPL ratio",
           "MC flips", "cos ref", "note")  # fmt: skip
ALIGN = "ll" + "r" * 8 + "l"


def _fidelity_cells(f: dict | None) -> list[str]:
    """Mean KLD, Same top p, PPL(Q)/PPL(base) and MC flips, each with its error."""
    if not f or f.get("kld_mean") is None:
        return ["—"] * 4
    ratio = math.exp(f["ln_ppl_ratio"])
    mc = f.get("mc") or {}
    flips = f"{mc['flips']} ({mc['flips_lost']}−/{mc['flips_gained']}+)" if "flips" in mc else "—"
    return [
        f"{f['kld_mean']:.3g} ± {f['kld_err']:.2g}",  # significant digits: a near-lossless one keeps its own
        f"{100 * f['same_top_p']:.1f} ± {100 * f['same_top_p_err']:.1f}",
        f"{ratio:.3f} ± {ratio * (f.get('ln_ppl_ratio_err') or 0):.3f}",
        flips,
    ]


def table_rows(result: dict) -> list[list[str]]:
    """One row per variant, formatted, for the CLI table, the TUI and Markdown."""
    out = []
    for r in result["rows"]:
        ram = r["peak_rss_mib"]
        if r.get("peak_gpu_mib"):
            ram_text = f"{_fmt(ram, '.0f')} + {r['peak_gpu_mib']:.0f} GPU"
        else:
            ram_text = _fmt(ram, ".0f")
        note = r["skipped"] and f"skipped: {r['skipped']}" or r["error"] or ""
        errors = sum(1 for a in r["answers"] if a.get("error"))
        if errors and not r["error"]:
            note = f"{errors} answer(s) failed"
        f = r.get("fidelity") or {}
        if f.get("error") and not note:
            note = f"fidelity: {f['error']}"
        rates = [a["tok_s"] for a in r["answers"] if a.get("answer") and a.get("tok_s")]
        avg, std = mean_std(rates)
        tok_s = "—" if avg is None else f"{avg:.1f} (1 sample)" if len(rates) == 1 else f"{avg:.1f} ± {std:.1f}"
        hosts = [HostLoad.from_dict(a.get("host")) for a in r["answers"] if a.get("answer")]
        if any(h is not None and h.busy for h in hosts):
            tok_s += " (host busy)"
        out.append([r["variant"], r["runtime"], _fmt(r.get("size_mib"), ".0f"), ram_text, tok_s,
                    *_fidelity_cells(r.get("fidelity")), _fmt(r["cos_ref"], ".3f"), note])  # fmt: skip
    return out


def summary_line(result: dict) -> str:
    """``7 variants · lowest KLD 0.0031 (gguf Q8_0)``: the matrix in the sessions list."""
    rows = [r for r in result["rows"] if (r.get("fidelity") or {}).get("kld_mean") is not None]
    line = f"{len(result['rows'])} variants"
    if rows:
        best = min(rows, key=lambda r: r["fidelity"]["kld_mean"])
        line += f" · lowest KLD {best['fidelity']['kld_mean']:.4f} ({best['variant']})"
    cos = [r for r in result["rows"] if r.get("cos_ref") is not None]
    if cos:
        best = max(cos, key=lambda r: r["cos_ref"])
        line += f" · best cos {best['cos_ref']:.2f} ({best['variant']})"
    return line


def markdown_report(result: dict) -> str:
    return "\n".join([f"# Quantization matrix: {result['base']}", "", markdown_body(result)])


def fidelity_lines(result: dict) -> list[str]:
    """How the quality columns were measured, and the size-vs-KLD front."""
    f = result.get("fidelity")
    if not f:
        return ["The fidelity pass was not run (--no-fidelity)."]
    if f.get("error") and not f.get("reference"):
        return [f"The fidelity pass could not run: {f['error']}."]
    lines = [
        f"Mean KLD, Same top p and PPL ratio (PPL(Q)/PPL(base)): each variant against {f['reference']}, "
        f"on {f['text']}, {f['chunks']} chunks of {f['ctx']} tokens, the second half of each scored "
        "(llama-perplexity's method, against a saved reference); ± is one standard error."
    ]
    if f.get("mc"):
        ref = f.get("reference_mc") or {}
        acc = f" (the reference answers {100 * ref['acc']:.1f} % right)" if ref.get("acc") is not None else ""
        lines.append(f"MC flips: questions of {f['mc']} answered right by one and wrong by the other{acc}.")
    front = [p["variant"] for p in pareto(result["rows"]) if p["front"]]
    if front:
        lines.append("Size-vs-KLD front (no other variant has both less peak RAM and a lower KLD): "
                     + ", ".join(front) + ".")  # fmt: skip
    if f.get("error"):
        lines.append(f"Fidelity pass: {f['error']}.")
    return lines


def markdown_body(result: dict) -> str:
    """The report under its title: how it was run, the table, every answer."""
    p = result.get("params") or {}
    n = len(result["questions"])
    partial = ["**PARTIAL: cancelled. The variant in hand was cut short; its figures are not a result.**", ""]
    lines = [
        *(partial if result.get("cancelled") else []),
        f"{n} question{'' if n == 1 else 's'}, greedy (temperature {p.get('temperature')}), "
        f"at most {p.get('max_tokens')} tokens; {host_text(result.get('host') or {})}.",
        "",
        *[line for text in fidelity_lines(result) for line in (text, "")],
        "tok/s: mean ± stddev over the answers, one sample each; peak RAM: the variant's worker process. "
        "cos ref: mean cosine similarity (all-MiniLM-L6-v2) of the answers to the reference answers, a secondary "
        "figure: one early token that flips changes a whole answer.",
        "",
        *table(COLUMNS, table_rows(result), ALIGN),
    ]
    lines += ["", "## Answers", ""]
    for q in result["questions"]:
        lines += [f"### {q['question']}", "", f"*Reference:* {q['answer']}", ""]
        for r in result["rows"]:
            a = next((a for a in r["answers"] if a["id"] == q["id"]), None)
            if a is None:
                continue
            text = a["answer"].strip().replace("\n", " ") or f"*error: {a['error']}*"
            cos = f" (cos ref {a['cos_ref']:.2f})" if a.get("cos_ref") is not None else ""
            lines.append(f"- **{r['variant']}**{cos}: {text}")
        lines.append("")
    return "\n".join(lines)


def write_reports(result: dict, out_dir: str | Path | None = None) -> dict[str, Path]:
    texts = {
        "json": ("quant-matrix.json", json.dumps(result, indent=2, ensure_ascii=False, default=str)),
        "md": ("quant-matrix.md", markdown_report(result)),
    }
    return reports.write_reports("quant-matrix", result["base"], texts, out_dir)
