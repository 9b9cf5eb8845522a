"""A session's exports: a Markdown report, a CSV of the stats (one row per run and
side), and JSON. Pure functions over a ``Digest``."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from ..util.host import host_text
from ..util.markdown import quote, table
from .digest import STAT_KEYS, Digest

CSV_COLUMNS = (
    "session",
    "kind",
    "run",
    "side",
    "model",
    "quant",
    "prompt",
    *STAT_KEYS,
    "finish_reason",
    "cosine",
    "error",
    "answer",
)


def _fmt(v, digits: int = 1) -> str:
    if v is None or v == "":
        return "—"
    if isinstance(v, float):
        return f"{v:,.{digits}f}"
    return str(v)


def markdown(d: Digest, compact: bool = False) -> str:
    """A report: facts, warnings, any snapshot, the stats per side, then every turn.
    ``compact``: the facts and the stats as lines, not tables, for a narrow preview."""
    facts = [f"- **{k}** {v}" for k, v in _facts(d)] if compact else table(["", ""], _facts(d))
    lines = [f"# {d.title or d.id}", "", *facts, ""]
    if d.warnings:
        lines += ["**Warnings**", "", *[f"- {w}" for w in d.warnings], ""]
    if d.inspect:
        lines += ["## Inspect snapshot", "", *inspect_markdown(d.inspect), ""]
    if d.matrix:
        lines += [*matrix_markdown(d.matrix), ""]
    if d.models and d.turns:
        lines += ["## Stats", "", *_stats_table(d, compact), ""]
    if d.comparison:
        lines += ["## Against the original", "", *comparison_markdown(d.comparison), ""]
    for t in d.turns:
        lines += _turn(t)
    return "\n".join(lines).rstrip() + "\n"


def _facts(d: Digest) -> list[tuple[str, str]]:
    facts = [("kind", d.kind), ("recorded", d.created), ("session", d.id)]
    if d.collection:
        facts.append(("collection", d.collection))
    if d.rerun_of:
        facts.append(("re-run of", d.rerun_of))
    if d.host:
        facts.append(("host", host_text(d.host)))
    for side, label in d.models.items():
        p = d.params.get(side) or {}
        knobs = ", ".join(f"{k} {p[k]}" for k in ("temperature", "max_tokens", "n_ctx", "seed") if k in p)
        facts.append((f"model {side.upper()}", f"{label} (`{d.specs.get(side, '')}`){' · ' + knobs if knobs else ''}"))
    if d.tags:
        facts.append(("tags", ", ".join(d.tags)))
    return facts


def _stats_table(d: Digest, compact: bool = False) -> list[str]:
    evaluation = d.kind == "eval"
    header = ["model", "answers", "load", "TTFT", "tok/s", "mean time", "peak RAM"] + (["mean cosine"] * evaluation)
    rows: list[list] = []
    for side, label in d.models.items():
        s = d.side_stats(side)
        row = [
            f"{side.upper()} {label}",
            s["answers"],
            f"{_fmt(s['load_s'], 2)} s",
            f"{_fmt(s['ttft_ms'], 0)} ms",
            _fmt(s["gen_tok_s"]),
            f"{_fmt(s['total_s'], 2)} s",
            f"{_fmt(s['peak_rss_mib'], 0)} MiB",
        ]
        rows.append(row + ([_fmt(s["cosine"], 3)] if evaluation else []))
    if compact:
        return [f"- **{row[0]}** " + " · ".join(f"{k} {v}" for k, v in zip(header[1:], row[1:])) for row in rows]
    return table(header, rows, "l" + "r" * (len(header) - 1))


def _turn(t) -> list[str]:
    lines = [f"## {t.run}. {t.prompt.splitlines()[0][:100] if t.prompt else '(no prompt)'}", ""]
    if t.prompt and "\n" in t.prompt.strip():
        lines += [quote(t.prompt), ""]
    if t.retrieval and t.retrieval.get("hits"):
        lines += ["**Passages**", ""]
        for i, h in enumerate(t.retrieval["hits"], 1):
            where = Path(h.get("source", "")).name + (f" p.{h['page']}" if h.get("page") is not None else "")
            lines.append(f"{i}. {where} (fused {h.get('score', 0):.4f})")
        lines.append("")
    if t.reference:
        lines += [f"**Reference:** {t.reference}", ""]
    for side, a in t.answers.items():
        s = a.stats
        bits = [
            f"TTFT {_fmt(s.get('ttft_ms'), 0)} ms",
            f"{_fmt(s.get('gen_tok_s'))} tok/s",
            f"{s.get('gen_tokens', '—')} tokens",
            f"{_fmt(s.get('total_s'), 2)} s",
        ]
        if a.cosine is not None:
            bits.append(f"cosine {a.cosine:.3f}")
        lines += [f"### {side.upper()} · {a.model}", "", quote(a.text) if a.text else "> *(no answer)*", ""]
        if a.error:
            lines += [f"*Error: {a.error}*", ""]
        lines += ["*" + " · ".join(bits) + "*", ""]
    if t.verdict:
        lines += [f"**{t.verdict}**", ""]
    return lines


def inspect_markdown(snapshot: dict) -> list[str]:
    models = [snapshot[k] for k in ("a", "b") if isinstance(snapshot.get(k), dict)]
    if not models:
        return ["```json", json.dumps(snapshot, indent=1, default=str)[:20000], "```"]
    from ..inspect.report import FIELDS, fmt_value

    rows = [
        [label, *(fmt_value(key, m.get(key)) for m in models)]
        for key, label in FIELDS
        if any(m.get(key) is not None for m in models)
    ]
    out = table(["", *"AB"[: len(models)]], rows)
    if snapshot.get("differences"):
        out += ["", "Differences: " + ", ".join(snapshot["differences"])]
    return out


def matrix_markdown(result: dict) -> list[str]:
    """A quantization-matrix snapshot: the report it was saved with, or its rows."""
    if isinstance(result.get("report_md"), str):
        return result["report_md"].splitlines()
    rows = [r for r in result.get("rows") or [] if isinstance(r, dict)]
    keys = ("variant", "runtime", "load_s", "peak_rss_mib", "tok_s", "ttft_ms", "cos_ref", "cos_fp32")
    return ["## Quantization matrix", "", *table(keys, [[_fmt(r.get(k), 3) for k in keys] for r in rows])]


def comparison_markdown(rows: list[dict]) -> list[str]:
    header = [
        "run",
        "side",
        "original",
        "re-run",
        "tok/s (orig → new)",
        "speed ratio",
        "TTFT ms (orig → new)",
        "peak RAM MiB (orig → new)",
        "cosine",
    ]
    body = []
    for r in rows:
        ratio = f"{r['speed_ratio']:.2f}x" if r.get("speed_ratio") else "—"
        body.append(
            [
                r["run"],
                str(r["side"]).upper(),
                r["old_model"],
                r["new_model"],
                f"{_fmt(r.get('old_tok_s'))} → {_fmt(r.get('new_tok_s'))}",
                ratio,
                f"{_fmt(r.get('old_ttft_ms'), 0)} → {_fmt(r.get('new_ttft_ms'), 0)}",
                f"{_fmt(r.get('old_peak_rss_mib'), 0)} → {_fmt(r.get('new_peak_rss_mib'), 0)}",
                _fmt(r.get("cosine"), 3),
            ]
        )
    return table(header, body, "rlllrrrrr")


def csv_text(d: Digest) -> str:
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for t in d.turns:
        for side, a in t.answers.items():
            quant = a.model.split(" ")[-1] if " " in a.model else ""
            w.writerow(
                [
                    d.id,
                    d.kind,
                    t.run,
                    side,
                    a.model,
                    quant,
                    t.prompt,
                    *[a.stats.get(k, "") if a.stats.get(k) is not None else "" for k in STAT_KEYS],
                    a.finish_reason or "",
                    "" if a.cosine is None else f"{a.cosine:.4f}",
                    a.error or "",
                    a.text,
                ]
            )
    return out.getvalue()


def json_text(d: Digest) -> str:
    return json.dumps(d.to_dict(), indent=2, ensure_ascii=False, default=str)


EXPORTERS = {"md": markdown, "csv": csv_text, "json": json_text}


def write_export(d: Digest, fmt: str, target: Path, text: str | None = None) -> None:
    """One export written whole (``util.files.atomic_write_text``): ``text``, or the
    exporter's; a SessionError names the output (its folder when the disk is full)."""
    from ..errors import SessionError
    from ..util.files import atomic_write_text, output_error

    try:
        atomic_write_text(target, EXPORTERS[fmt](d) if text is None else text)
    except OSError as exc:
        raise SessionError(output_error(target, exc)) from None
