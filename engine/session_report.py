"""What a session holds, in one shape: the list line, ``show``, and the exports
(a Markdown report, a CSV of the stats, JSON). Pure functions over a ``SessionLog``."""

from __future__ import annotations

import csv
import io
import json
import statistics
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .errors import SessionError
from .sessions import SUFFIX, SessionLog, is_sample, read_meta, read_session, session_files

STAT_KEYS = ("load_s", "prompt_tokens", "ttft_ms", "prompt_tok_s", "gen_tokens", "gen_tok_s", "total_s",
             "peak_rss_mib", "peak_gpu_mib")
CSV_COLUMNS = ("session", "kind", "run", "side", "model", "quant", "prompt", *STAT_KEYS, "finish_reason",
               "cosine", "error", "answer")


@dataclass
class Answer:
    side: str
    model: str
    text: str = ""
    stats: dict[str, Any] = field(default_factory=dict)
    finish_reason: str | None = None
    error: str | None = None
    cosine: float | None = None  # evaluations: to the reference answer


@dataclass
class Turn:
    run: int
    prompt: str
    question: str | None = None
    retrieval: dict | None = None
    answers: dict[str, Answer] = field(default_factory=dict)
    verdict: str = ""
    reference: str | None = None  # evaluations


@dataclass
class Digest:
    path: str
    id: str
    kind: str
    title: str
    created: str
    tags: list[str]
    models: dict[str, str]  # side -> "name quant"
    specs: dict[str, str]
    params: dict[str, dict]
    turns: list[Turn]
    sample: bool = False
    host: dict = field(default_factory=dict)
    collection: str | None = None
    rerun_of: str | None = None
    eval_summary: dict | None = None
    comparison: list[dict] | None = None
    inspect: dict | None = None
    matrix: dict | None = None  # a quant-matrix result
    warnings: list[str] = field(default_factory=list)

    @property
    def short_id(self) -> str:
        """The random suffix of the file name: enough to name the session in a command."""
        tail = self.id.rsplit("-", 1)[-1]
        return tail if len(tail) == 6 and all(c in "0123456789abcdef" for c in tail) else self.id

    @property
    def first_prompt(self) -> str:
        if self.turns:
            return self.turns[0].prompt
        return self.title

    def side_stats(self, side: str) -> dict[str, float | None]:
        """Means over the session's answers of one side."""
        answers = [t.answers[side] for t in self.turns if side in t.answers]

        def mean(key):
            vals = [a.stats.get(key) for a in answers if isinstance(a.stats.get(key), (int, float))]
            return statistics.fmean(vals) if vals else None

        peaks = [a.stats.get("peak_rss_mib") for a in answers if a.stats.get("peak_rss_mib")]
        return {"answers": len(answers), "ttft_ms": mean("ttft_ms"), "gen_tok_s": mean("gen_tok_s"),
                "total_s": mean("total_s"), "peak_rss_mib": max(peaks) if peaks else None,
                "load_s": next((a.stats.get("load_s") for a in answers if a.stats.get("load_s")), None),
                "cosine": mean_of([a.cosine for a in answers])}

    def key_stats(self) -> str:
        """One line for the list: tok/s per side, or the evaluation's mean cosine."""
        parts = []
        for side in self.models:
            s = self.side_stats(side)
            bits = []
            if s["gen_tok_s"]:
                bits.append(f"{s['gen_tok_s']:.0f} tok/s")
            if s["cosine"] is not None:
                bits.append(f"cos {s['cosine']:.2f}")
            if bits:
                parts.append(f"{side.upper()} " + " ".join(bits))
        if self.matrix:
            rows = [r for r in self.matrix.get("rows") or [] if r.get("cos_ref") is not None]
            parts.append(f"{len(self.matrix.get('rows') or [])} variants")
            if rows:
                best = max(rows, key=lambda r: r["cos_ref"])
                parts.append(f"best cos {best['cos_ref']:.2f} ({best['variant']})")
        if self.kind == "inspect" and self.inspect:
            a = self.inspect.get("a") or {}
            params = a.get("params_total") or a.get("parameters")
            if params:
                parts.append(f"{params / 1e6:,.0f}M params")
        return " · ".join(parts)

    def to_dict(self) -> dict:
        data = asdict(self)
        data["first_prompt"] = self.first_prompt
        data["stats"] = {side: self.side_stats(side) for side in self.models}
        return data


def mean_of(values) -> float | None:
    vals = [v for v in values if isinstance(v, (int, float))]
    return statistics.fmean(vals) if vals else None


def _label(model: dict) -> str:
    return " ".join(filter(None, [model.get("name"), model.get("quant")])) or model.get("spec") or "?"


def digest(log: SessionLog) -> Digest:
    header = log.header
    meta = read_meta(log.path)
    contestants = header.get("contestants") or {}
    specs = {side: str(c.get("spec", "")) for side, c in contestants.items() if isinstance(c, dict)}
    params = {side: c.get("params") or {} for side, c in contestants.items() if isinstance(c, dict)}
    models = dict(specs)
    turns: dict[int, Turn] = {}
    d = Digest(
        path=str(log.path), id=log.path.name.removesuffix(SUFFIX), kind=log.kind,
        title=meta.get("title") or header.get("title") or "", created=header.get("created", ""),
        tags=list(meta.get("tags") or []), models=models, specs=specs, params=params, turns=[],
        sample=is_sample(log.path), host=header.get("host") or {}, collection=header.get("collection"),
        rerun_of=header.get("rerun_of"), warnings=list(log.warnings),
    )
    for e in log.events:
        kind, run, side = e.get("type"), e.get("run") or 0, e.get("side")
        if kind == "model" and side and isinstance(e.get("model"), dict):
            models[side] = _label(e["model"])
        elif kind == "prompt":
            messages = e.get("messages") or []
            users = [m.get("content", "") for m in messages if isinstance(m, dict) and m.get("role") == "user"]
            turns[run] = Turn(run, e.get("question") or (users[-1] if users else ""), e.get("question"),
                              e.get("retrieval"))
        elif kind in ("done", "error") and side in ("a", "b"):
            turn = turns.setdefault(run, Turn(run, ""))
            a = turn.answers.setdefault(side, Answer(side, models.get(side, side)))
            if kind == "done":
                a.text, a.finish_reason = str(e.get("text", "")), e.get("finish_reason")
                a.stats = {k: v for k, v in (e.get("stats") or {}).items() if k in STAT_KEYS or k == "mean_cpu_percent"}
            else:
                a.error = e.get("message")
        elif kind == "token" and side in ("a", "b"):
            turn = turns.setdefault(run, Turn(run, ""))
            a = turn.answers.setdefault(side, Answer(side, models.get(side, side)))
            if a.finish_reason is None and a.error is None:
                a.text += str(e.get("text", ""))  # a crash before done: keep what streamed
        elif kind == "verdict" and run in turns:
            turns[run].verdict = e.get("text", "")
        elif kind == "eval_row":
            for row in e.get("rows") or []:
                turn = turns.get(run)
                side = row.get("side")
                if turn is None or side not in turn.answers:
                    continue
                turn.answers[side].cosine = row.get("cosine")
                turn.reference = row.get("reference")
        elif kind == "eval_summary":
            d.eval_summary = e.get("summary")
        elif kind == "comparison":
            d.comparison = e.get("rows")
        elif kind == "inspect":
            d.inspect = {k: v for k, v in e.items() if k not in ("type",)}
        elif kind == "quant-matrix":
            d.matrix = {k: v for k, v in e.items() if k not in ("type", "run")}
    for turn in turns.values():  # labels known only after the answers began
        for side, a in turn.answers.items():
            a.model = models.get(side, a.model)
    d.turns = [turns[r] for r in sorted(turns)]
    if d.kind in ("inspect", "quant-matrix") and (d.inspect or d.matrix):
        d.models = {}
    return d


def load_all() -> tuple[list[Digest], list[str]]:
    """Every session that can be read, newest first, and a line for each that cannot."""
    found, problems = [], []
    for path in session_files():
        try:
            found.append(digest(read_session(path)))
        except SessionError as exc:
            problems.append(str(exc))
    return found, problems


FILTER_FIELDS = ("kind", "model", "tag")


def parse_query(text: str) -> dict[str, str]:
    """``"kind:duel model:smol capital"`` → {"kind": "duel", "model": "smol", "words": "capital"}."""
    out: dict[str, str] = {}
    words = []
    for part in text.split():
        key, sep, value = part.partition(":")
        if sep and key.lower() in FILTER_FIELDS and value:
            out[key.lower()] = value
        else:
            words.append(part)
    out["words"] = " ".join(words)
    return out


def matches(d: Digest, kind: str | None = None, model: str | None = None, tag: str | None = None,
            words: str | None = None, samples: bool = True) -> bool:
    if kind and d.kind != kind:
        return False
    if tag and tag not in d.tags:
        return False
    if model and not any(model.lower() in m.lower() for m in [*d.models.values(), *d.specs.values()]):
        return False
    if words:
        hay = " ".join([d.title, d.first_prompt, d.id, d.kind, *d.tags, *d.models.values()]).lower()
        if not all(w in hay for w in words.lower().split()):
            return False
    return samples or not d.sample


# ---------------------------------------------------------------- exports


def _fmt(v, digits: int = 1) -> str:
    if v is None or v == "":
        return "—"
    if isinstance(v, float):
        return f"{v:,.{digits}f}"
    return str(v)


def _quote(text: str) -> str:
    return "\n".join("> " + line if line else ">" for line in text.strip().splitlines()) or "> *(empty)*"


def markdown(d: Digest) -> str:
    lines = [f"# {d.title or d.id}", ""]
    facts = [("kind", d.kind), ("recorded", d.created), ("session", d.id)]
    if d.collection:
        facts.append(("collection", d.collection))
    if d.rerun_of:
        facts.append(("re-run of", d.rerun_of))
    host = d.host
    if host:
        ram = f", {host['ram_bytes'] / 2**30:.0f} GiB RAM" if host.get("ram_bytes") else ""
        facts.append(("host", f"{host.get('processor') or host.get('machine') or '?'}, "
                              f"{host.get('cpu_count', '?')} CPUs{ram}"))
    for side, label in d.models.items():
        p = d.params.get(side) or {}
        knobs = ", ".join(f"{k} {p[k]}" for k in ("temperature", "max_tokens", "n_ctx", "seed") if k in p)
        facts.append((f"model {side.upper()}", f"{label} (`{d.specs.get(side, '')}`){' · ' + knobs if knobs else ''}"))
    if d.tags:
        facts.append(("tags", ", ".join(d.tags)))
    lines += ["| | |", "|---|---|", *[f"| {k} | {v} |" for k, v in facts], ""]
    if d.warnings:
        lines += ["**Warnings**", "", *[f"- {w}" for w in d.warnings], ""]
    if d.inspect:
        lines += ["## Inspect snapshot", "", *inspect_markdown(d.inspect), ""]
    if d.matrix and d.matrix.get("rows") is not None:
        from .quant_matrix import markdown_report

        lines += markdown_report(d.matrix).splitlines()[2:] + [""]
    if d.models and d.turns:
        lines += ["## Stats", "", "| model | answers | load | TTFT | tok/s | mean time | peak RAM |"
                  + (" mean cosine |" if d.kind == "eval" else ""),
                  "|---|---:|---:|---:|---:|---:|---:|" + ("---:|" if d.kind == "eval" else "")]
        for side, label in d.models.items():
            s = d.side_stats(side)
            row = (f"| {side.upper()} {label} | {s['answers']} | {_fmt(s['load_s'], 2)} s | {_fmt(s['ttft_ms'], 0)} ms "
                   f"| {_fmt(s['gen_tok_s'])} | {_fmt(s['total_s'], 2)} s | {_fmt(s['peak_rss_mib'], 0)} MiB |")
            if d.kind == "eval":
                row += f" {_fmt(s['cosine'], 3)} |"
            lines.append(row)
        lines.append("")
    if d.comparison:
        lines += ["## Against the original", "", *comparison_markdown(d.comparison), ""]
    for t in d.turns:
        lines += [f"## {t.run}. {t.prompt.splitlines()[0][:100] if t.prompt else '(no prompt)'}", ""]
        if t.prompt and "\n" in t.prompt.strip():
            lines += [_quote(t.prompt), ""]
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
            bits = [f"TTFT {_fmt(s.get('ttft_ms'), 0)} ms", f"{_fmt(s.get('gen_tok_s'))} tok/s",
                    f"{s.get('gen_tokens', '—')} tokens", f"{_fmt(s.get('total_s'), 2)} s"]
            if a.cosine is not None:
                bits.append(f"cosine {a.cosine:.3f}")
            lines += [f"### {side.upper()} · {a.model}", "", _quote(a.text) if a.text else "> *(no answer)*", ""]
            if a.error:
                lines += [f"*Error: {a.error}*", ""]
            lines += ["*" + " · ".join(bits) + "*", ""]
        if t.verdict:
            lines += [f"**{t.verdict}**", ""]
    return "\n".join(lines).rstrip() + "\n"


def inspect_markdown(snapshot: dict) -> list[str]:
    models = [snapshot[k] for k in ("a", "b") if isinstance(snapshot.get(k), dict)]
    if not models:
        return ["```json", json.dumps(snapshot, indent=1, default=str)[:20000], "```"]
    from .inspect.report import FIELDS, fmt_value

    out = ["| | " + " | ".join("AB"[i] for i in range(len(models))) + " |", "|---|" + "---|" * len(models)]
    for key, label in FIELDS:
        if any(m.get(key) is not None for m in models):
            out.append(f"| {label} | " + " | ".join(fmt_value(key, m.get(key)) for m in models) + " |")
    if snapshot.get("differences"):
        out += ["", "Differences: " + ", ".join(snapshot["differences"])]
    return out


def comparison_markdown(rows: list[dict]) -> list[str]:
    out = ["| run | side | original | re-run | tok/s (orig → new) | speed ratio | TTFT ms (orig → new) "
           "| peak RAM MiB (orig → new) | cosine |",
           "|---:|---|---|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        ratio = f"{r['speed_ratio']:.2f}x" if r.get("speed_ratio") else "—"
        out.append(
            f"| {r['run']} | {r['side'].upper()} | {r['old_model']} | {r['new_model']} "
            f"| {_fmt(r.get('old_tok_s'))} → {_fmt(r.get('new_tok_s'))} | {ratio} "
            f"| {_fmt(r.get('old_ttft_ms'), 0)} → {_fmt(r.get('new_ttft_ms'), 0)} "
            f"| {_fmt(r.get('old_peak_rss_mib'), 0)} → {_fmt(r.get('new_peak_rss_mib'), 0)} "
            f"| {_fmt(r.get('cosine'), 3)} |")
    return out


def csv_text(d: Digest) -> str:
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for t in d.turns:
        for side, a in t.answers.items():
            quant = a.model.split(" ")[-1] if " " in a.model else ""
            w.writerow([d.id, d.kind, t.run, side, a.model, quant, t.prompt,
                        *[a.stats.get(k, "") if a.stats.get(k) is not None else "" for k in STAT_KEYS],
                        a.finish_reason or "", "" if a.cosine is None else f"{a.cosine:.4f}", a.error or "", a.text])
    return out.getvalue()


def json_text(d: Digest) -> str:
    return json.dumps(d.to_dict(), indent=2, ensure_ascii=False, default=str)


EXPORTERS = {"md": markdown, "csv": csv_text, "json": json_text}
