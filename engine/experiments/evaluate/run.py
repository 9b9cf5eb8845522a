"""Batch evaluation over a question set with reference answers.

For every question: retrieve once, ask one or two models with the same passages,
and record the answer, its cosine similarity to the reference (the collection's
sentence-transformers embedder), response time, TTFT, tokens/s, and whether the
reference source/page was among the retrieved chunks. ``--retrieval-only`` skips
generation and measures the retrieval alone.
"""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ...errors import QuestionsError
from ...jobs import Finished, JobResult, Progress
from ...rag.chat import RagChat, Searcher
from ...rag.retrieve import TOP_K, WEIGHTS, Hit, Retrieval
from ...runtime.events import Channel, Done, Error, EvalRecord, EvalSummary
from ...runtime.params import GenParams
from ...util.markdown import table
from ...util.stats import mean, median, percentile
from .. import reports
from .questions import Question

CSV_COLUMNS = (
    "model",
    "question",
    "cosine",
    "resp_time",
    "ttft_ms",
    "tok_s",
    "gen_tokens",
    "retrieval_hit",
    "retrieval_ms",
    "id",
    "answer",
    "reference",
    "error",
)


def _same_source(found: str, wanted: str) -> bool:
    found, wanted = found.lower(), wanted.lower()
    return found == wanted or Path(found).name == Path(wanted).name or found.endswith("/" + wanted)


def retrieval_hit(question: Question, hits: Sequence[Hit]) -> bool | None:
    """Whether the reference source (and page, when given) is among the hits; None if no reference."""
    if question.source is None and question.page is None:
        return None
    for h in hits:
        if question.source is not None and not _same_source(h.source, question.source):
            continue
        if question.page is not None and h.page != question.page:
            continue
        return True
    return False


@dataclass
class EvalRow:
    model: str
    side: str
    id: str
    question: str
    reference: str
    answer: str = ""
    cosine: float | None = None
    resp_time: float | None = None  # seconds, request to last token
    ttft_ms: float | None = None
    tok_s: float | None = None
    gen_tokens: int | None = None
    retrieval_hit: bool | None = None
    retrieval_ms: float | None = None
    retrieved: list[str] = field(default_factory=list)
    error: str | None = None


@dataclass(kw_only=True)
class EvaluationResult(JobResult):
    """A question set asked of a collection: one row per question and model, the
    per-model summary (cosine, time, hit rate; the speed ratio), and its session."""

    collection: str
    k: int
    weights: list[float]
    started: str
    retrieval_only: bool
    models: list[str]
    questions: int  # how many were asked for (rows hold those answered)
    summary: dict
    rows: list[EvalRow]
    session: str | None


@dataclass(frozen=True)
class QuestionStarted:
    index: int  # 1-based
    total: int
    question: Question


@dataclass(frozen=True)
class QuestionDone:
    index: int
    rows: list[EvalRow]


class Evaluation:
    """Runs a question set; ``run`` yields ("eval", ...), ("rag", Retrieval) and the duel's events."""

    def __init__(
        self,
        collection: str,
        questions: list[Question],
        spec_a: str | None = None,
        spec_b: str | None = None,
        params: GenParams | None = None,
        *,
        retriever: Searcher | None = None,
        k: int = TOP_K,
        weights: Sequence[float] = WEIGHTS,
        use_mmr: bool = False,
        retrieval_only: bool = False,
        record: bool = True,
        reserve_cores: int = 0,
        mode: str | None = None,
    ):
        if not retrieval_only and not spec_a:
            raise QuestionsError("an evaluation needs a model (--a SPEC), or --retrieval-only")
        if retriever is None:
            from ...rag.retrieve import Retriever

            retriever = Retriever.open(collection)
        self.collection, self.questions, self.k = collection, questions, k
        self.weights, self.use_mmr = tuple(weights), use_mmr
        self.retriever = retriever
        self.retrieval_only = retrieval_only
        self.chat: RagChat | None = None
        if not retrieval_only:
            self.chat = RagChat(
                collection,
                spec_a,
                spec_b,
                params,
                retriever=retriever,
                k=k,
                weights=weights,
                use_mmr=use_mmr,
                mode=mode,
                record=record,
                reserve_cores=reserve_cores,
                kind="eval",
                meta={"questions": len(questions)},
            )
        self.rows: list[EvalRow] = []
        self.started = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        self._cancelled = False

    def run(self) -> Iterator[tuple[str, object]]:
        total = len(self.questions)
        for i, q in enumerate(self.questions, 1):
            if self._cancelled:
                break
            yield Channel.EVAL, QuestionStarted(i, total, q)
            retrieval = self.retriever.search(q.question, k=self.k, weights=self.weights, use_mmr=self.use_mmr)
            hit = retrieval_hit(q, retrieval.hits)
            where = [h.where for h in retrieval.hits]
            common = dict(
                id=q.id,
                question=q.question,
                reference=q.answer,
                retrieval_hit=hit,
                retrieval_ms=retrieval.timings_ms.get("total"),
                retrieved=where,
            )
            if self.chat is None:
                rows = [EvalRow(model="(retrieval)", side="", **common)]
                yield Channel.RAG, retrieval
            else:
                rows = list((yield from self._answer(q, retrieval, common)))
            self.rows += rows
            self._record(EvalRecord(i, [asdict(r) for r in rows]))
            yield Channel.EVAL, QuestionDone(i, rows)
            yield Channel.EVAL, Progress("answer", i, total, q.question[:60], unit="questions")
        result = self.result()
        self._record(EvalSummary(result.summary, len(self.questions)))
        yield Channel.EVAL, Finished(result)

    def _record(self, event: EvalRecord | EvalSummary) -> None:
        recorder = self.chat.duel.recorder if self.chat else None
        if recorder:
            recorder.event(Channel.EVAL, event)
            recorder.sync()

    def _answer(self, q: Question, retrieval: Retrieval, common: dict):
        finals: dict[str, object] = {}
        for side, event in self.chat.ask(q.question, remember=False, retrieval=retrieval):
            if isinstance(event, (Done, Error)) and side in self.chat.sides:
                finals[side] = event
            yield side, event
        rows = []
        for side, c in self.chat.sides.items():
            event = finals.get(side)
            row = EvalRow(model=c.label, side=side, **common)
            if isinstance(event, Done):
                s = event.stats
                row.answer, row.resp_time, row.ttft_ms = event.text.strip(), s.total_s, s.ttft_ms
                row.tok_s, row.gen_tokens = s.gen_tok_s, s.gen_tokens
                if event.finish_reason == "cancelled":
                    row.error = "cancelled"
            else:
                row.error = event.message if isinstance(event, Error) else "no answer"
            rows.append(row)
        answered = [r for r in rows if r.answer]
        for row, cos in zip(answered, self.retriever.similarity([(r.answer, r.reference) for r in answered])):
            row.cosine = cos
        return rows

    def cancel(self) -> None:
        self._cancelled = True
        if self.chat is not None:
            self.chat.cancel()

    def close(self) -> None:
        if self.chat is not None:
            self.chat.close()

    def __enter__(self) -> Evaluation:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def session_path(self):
        return self.chat.duel.session_path if self.chat else None

    def result(self) -> EvaluationResult:
        return EvaluationResult(
            collection=self.collection,
            k=self.k,
            weights=list(self.weights),
            started=self.started,
            retrieval_only=self.retrieval_only,
            models=[c.label for c in self.chat.sides.values()] if self.chat else [],
            questions=len(self.questions),
            summary=summarize(self.rows),
            rows=list(self.rows),
            session=str(self.session_path) if self.session_path else None,
            partial=self._cancelled,  # cancelled: the questions answered so far
        )

    def finish(self) -> EvaluationResult:
        """The questions answered so far, for a driver that stops reading ``run``."""
        return self.result()


def summarize(rows: Sequence[EvalRow]) -> dict:
    """Per model: mean cosine, mean and median response time, tok/s, hit rate; and the speed ratio."""
    by_model: dict[str, list[EvalRow]] = {}
    for r in rows:
        by_model.setdefault(r.model, []).append(r)
    models = {}
    for name, rs in by_model.items():
        hits = [r.retrieval_hit for r in rs if r.retrieval_hit is not None]
        models[name] = {
            "questions": len(rs),
            "answered": sum(1 for r in rs if r.answer),
            "errors": sum(1 for r in rs if r.error),
            "mean_cosine": mean(r.cosine for r in rs),
            "mean_resp_time": mean(r.resp_time for r in rs),
            "median_resp_time": median(r.resp_time for r in rs),
            "mean_ttft_ms": mean(r.ttft_ms for r in rs),
            "mean_tok_s": mean(r.tok_s for r in rs),
            "hit_rate": sum(hits) / len(hits) if hits else None,
            "retrieval_p50_ms": percentile([r.retrieval_ms for r in rs], 0.5),
            "retrieval_p95_ms": percentile([r.retrieval_ms for r in rs], 0.95),
        }
    out: dict = {"models": models}
    names = [n for n in models if n != "(retrieval)"]
    if len(names) == 2:
        a, b = (models[n] for n in names)
        if a["mean_resp_time"] and b["mean_resp_time"]:
            slow, fast = (names[0], names[1]) if a["mean_resp_time"] >= b["mean_resp_time"] else (names[1], names[0])
            ratio = models[slow]["mean_resp_time"] / models[fast]["mean_resp_time"]
            out["speed"] = {
                "faster": fast,
                "slower": slow,
                "ratio": ratio,
                "text": f"{fast} answers {ratio:.1f}x faster than {slow} (mean response time)",
            }
    return out


# ---------------------------------------------------------------- reports


def _fmt(v, digits: int = 3) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    return str(v)


_TEXT_COLUMNS = {"model", "question", "id", "answer", "reference", "error"}


def csv_text(result: dict) -> str:
    out = io.StringIO()
    w = csv.writer(out, delimiter=";", lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for r in result["rows"]:
        w.writerow([(r.get(c) or "") if c in _TEXT_COLUMNS else _fmt(r.get(c)) for c in CSV_COLUMNS])
    return out.getvalue()


def markdown_report(result: dict) -> str:
    models = result["summary"]["models"]
    lines = [f"# Evaluation on `{result['collection']}` (k={result['k']}, {result['questions']} questions)", ""]
    header = ["model", "mean cosine", "mean time", "median time", "TTFT", "tok/s", "retrieval hit rate", "errors"]
    rows = [
        [
            name,
            _fmt(s["mean_cosine"]),
            f"{_fmt(s['mean_resp_time'], 2)} s",
            f"{_fmt(s['median_resp_time'], 2)} s",
            f"{_fmt(s['mean_ttft_ms'], 0)} ms",
            _fmt(s["mean_tok_s"], 1),
            "—" if s["hit_rate"] is None else f"{s['hit_rate']:.0%}",
            s["errors"],
        ]
        for name, s in models.items()
    ]
    lines += table(header, rows, "lrrrrrrr")
    if "speed" in result["summary"]:
        lines += ["", f"**{result['summary']['speed']['text']}**"]
    lines += ["", "## Answers", ""]
    for r in result["rows"]:
        lines += [
            f"### {r['id']} · {r['model']}",
            "",
            f"**Q:** {r['question']}",
            "",
            f"**Reference:** {r['reference']}",
            "",
        ]
        if r["model"] != "(retrieval)":
            lines += [f"**Answer:** {r['answer'] or '*' + (r['error'] or 'no answer') + '*'}", ""]
        facts = [
            f"cosine {_fmt(r['cosine'])}" if r["cosine"] is not None else None,
            f"{_fmt(r['resp_time'], 2)} s" if r["resp_time"] is not None else None,
            f"retrieval {'hit' if r['retrieval_hit'] else 'miss'}" if r["retrieval_hit"] is not None else None,
            f"retrieved: {', '.join(r['retrieved'])}",
        ]
        lines += ["· ".join(f for f in facts if f), ""]
    return "\n".join(lines)


def write_reports(result: dict, out_dir: str | Path | None = None) -> dict[str, Path]:
    """CSV (;-separated, first columns model;question;cosine;resp_time), JSON and Markdown."""
    texts = {
        "csv": ("eval.csv", csv_text(result)),
        "json": ("eval.json", json.dumps(result, indent=2, ensure_ascii=False, default=str)),
        "md": ("eval.md", markdown_report(result)),
    }
    return reports.write_reports("evals", result["collection"], texts, out_dir)
