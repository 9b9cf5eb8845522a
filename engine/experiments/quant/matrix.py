"""The quantization matrix: one base model in every precision and method this machine runs.

``QuantMatrix(base, questions).run()`` loads each variant in its own worker (one
after the other, so each has the machine to itself and its RAM is its own), asks
every question greedily, then scores each answer by cosine similarity (MiniLM)
against the reference answer and against the full-precision (fp32) answer to the
same question. Variants:

* ``fp32``, ``bf16``: the base under transformers (a GGUF base is dequantized);
* ``bnb8``, ``bnb4``, ``quanto-int8``, ``torchao-int8``: quantized at load time;
* ``gguf <TYPE>``: the base itself when it is a GGUF, every ``--gguf`` file given
  (other quantizations of the same model), and the ladder that llama.cpp's quantizer
  makes from a GGUF base (``--gguf-types``, default F16 to Q2_K), under llama.cpp.

The fidelity pass (``quant/fidelity.py``): the full-precision reference scores one text
first; each variant that answered is then compared with it on the same worker, from
the logits: Mean KLD, Same top p
and the PPL ratio, the matrix's main quality columns. The answer cosines stay as a
secondary column.

A variant whose library is missing, or that needs a GPU this machine lacks, is kept
in the table as skipped, with the reason.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from ... import models
from ...errors import LlmbenchError, SessionError, SpecError
from ...jobs import Finished, Recorded
from ...models.quant_methods import MATRIX_DEFAULT, PRECISIONS, missing_library
from ...rag.embed import Similarity, default_similarity
from ...runtime.duel import Duel
from ...runtime.events import Channel, Done, Error, Loaded
from ...runtime.params import GenParams
from ...runtime.record import save_snapshot
from ...util.fmt import MIB
from ...util.host import host_info
from ...util.stats import mean
from ..evaluate.questions import Question, load_questions
from ..fidelity.multiple_choice import McQuestion
from ..fidelity.run import DEFAULT_CTX, Text
from .fidelity import DEFAULT_CHUNKS, DEFAULT_GGUF_TYPES, MatrixFidelity, ensure_ladder_file
from .report import markdown_body, summary_line

HF_VARIANTS = {name: PRECISIONS[name].option for name in MATRIX_DEFAULT}  # name -> hf: options
REFERENCE_VARIANT = "fp32"
DEFAULT_PARAMS = GenParams(temperature=0.0, max_tokens=48, n_ctx=1024)


def default_questions_path() -> Path:
    return Path(__file__).parent / "data" / "quant_questions.jsonl"


@dataclass(frozen=True)
class Variant:
    name: str  # fp32, bnb4, gguf Q4_1 ...
    spec: str
    runtime: str  # "HF" or "llama.cpp"
    skip: str | None = None  # why this machine cannot run it
    ladder: tuple[str, str] | None = None  # (base GGUF, type): a file the run writes first


@dataclass
class Row:
    variant: str
    runtime: str
    spec: str
    skipped: str | None = None
    error: str | None = None
    load_s: float | None = None
    peak_rss_mib: float | None = None
    peak_gpu_mib: float | None = None
    cuda_max_alloc_mib: float | None = None
    tok_s: float | None = None
    ttft_ms: float | None = None
    resp_time: float | None = None
    cos_ref: float | None = None
    cos_fp32: float | None = None
    size_mib: float | None = None  # the GGUF file
    fidelity: dict | None = None  # KLD, same top, PPL against the reference (quant_fidelity.FIGURES)
    answers: list[dict] = field(default_factory=list)  # {id, answer, error, tok_s, cos_ref, cos_fp32}

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(kw_only=True)
class MatrixResult(Recorded):
    """Every variant's row (answers, speed, RAM, and the fidelity pass's figures), and
    what they were measured with. ``cancelled`` (and ``partial``): the variant in hand
    was cut short."""

    base: str
    fidelity: dict | None  # the fidelity pass: its reference, text, ctx, chunks, error
    questions: list[dict]
    params: dict
    reference_variant: str
    rows: list[Row]
    elapsed_s: float | None
    cancelled: bool
    host: dict

    @property
    def answered(self) -> bool:
        """Whether any variant answered."""
        return any(r.answers and not r.error for r in self.rows)


@dataclass(frozen=True)
class VariantStarted:
    index: int  # 1-based
    total: int
    variant: Variant


@dataclass(frozen=True)
class QuestionAsked:
    variant: str
    index: int  # 1-based
    total: int
    question: str


@dataclass(frozen=True)
class Quantizing:
    """A ladder file is being written (llama.cpp's quantizer, a few seconds to minutes)."""

    variant: str
    path: str


@dataclass(frozen=True)
class VariantDone:
    row: Row


def _base_of(base: str) -> tuple[str, str | None]:
    """(what ``hf:`` loads, the GGUF path when the base is a GGUF)."""
    base = base.strip().removeprefix("hf:").split("?")[0]
    if not base:
        raise SpecError("quant-matrix needs a base model: a model folder, a .gguf file or a model name")
    kind, value = models.parse_spec(base)
    if kind == "openai":
        raise SpecError(f"{base}: a remote model cannot be quantized here; give a model folder or a GGUF")
    if kind == "name":
        return value, models.resolve(value).path
    path = Path(value).expanduser()
    if not path.exists():
        raise SpecError(f"{path}: no such model folder or file")
    return str(path), str(path) if path.is_file() else None


def variants(
    base: str, names: Sequence[str] | None = None, ggufs: Sequence[str] = (), gguf_types: Sequence[str] = ()
) -> list[Variant]:
    """The variants of ``base``: the HF ones in ``names`` (default all), the GGUFs, and the
    ladder of ``gguf_types`` made from a GGUF base."""

    where, gguf = _base_of(base)
    chosen = list(names) if names else [*HF_VARIANTS, "gguf"]
    unknown = [n for n in chosen if n not in HF_VARIANTS and n != "gguf"]
    if unknown:
        raise SpecError(f"unknown variant {unknown[0]!r}: choose from {', '.join([*HF_VARIANTS, 'gguf'])}")
    out = []
    for name in chosen:
        if name in HF_VARIANTS:
            option = HF_VARIANTS[name]
            lib = missing_library(name)
            out.append(Variant(name, f"hf:{where}?{option}", "HF", f"{lib} is not installed" if lib else None))
    if "gguf" in chosen:
        files = ([gguf] if gguf else []) + [str(Path(g).expanduser()) for g in ggufs]
        for path in dict.fromkeys(files):
            info = models.resolve(f"gguf:{path}")
            out.append(Variant(f"gguf {info.quant or '?'}", f"gguf:{path}", "llama.cpp"))
        have = {v.name for v in out}
        for t in gguf_types:
            if f"gguf {t}" in have:
                continue
            if gguf is None:
                out.append(Variant(f"gguf {t}", "", "llama.cpp", "the GGUF ladder starts from a GGUF base"))
            else:
                out.append(Variant(f"gguf {t}", "", "llama.cpp", ladder=(gguf, t)))
    if not out:
        raise SpecError(f"{base}: no variant to run (asked for {', '.join(chosen)})")
    return out


class QuantMatrix:
    def __init__(
        self,
        base: str,
        questions: Sequence[Question] | str | Path | None = None,
        params: GenParams | None = None,
        *,
        names: Sequence[str] | None = None,
        ggufs: Sequence[str] = (),
        similarity: Similarity | None = None,
        record: bool = True,
        reserve_cores: int = 0,
        gguf_types: Sequence[str] = DEFAULT_GGUF_TYPES,
        fidelity: bool = True,
        text: Text | None = None,
        ctx: int = DEFAULT_CTX,
        chunks: int = DEFAULT_CHUNKS,
        mc: tuple[str, list[McQuestion]] | None = None,
    ):
        self.base = base
        self.variants = variants(base, names, ggufs, gguf_types)
        self.fidelity_options = {"text": text, "ctx": ctx, "chunks": chunks, "mc": mc} if fidelity else None
        self.fidelity: MatrixFidelity | None = None
        if questions is None or isinstance(questions, (str, Path)):
            questions = load_questions(questions or default_questions_path())
        self.questions = list(questions)
        self.params = (params or DEFAULT_PARAMS).validate()
        self.similarity = similarity
        self.record, self.reserve_cores = record, reserve_cores
        self.rows: list[Row] = []
        self.session_path: Path | None = None
        self.record_error: str | None = None
        self._cancel = threading.Event()
        self._duel: Duel | None = None
        self.fidelity_error: str | None = None

    def run(self) -> Iterator[tuple[str, object]]:
        """``(Channel.MATRIX, VariantStarted | QuestionAsked | VariantDone | Finished)`` and, in
        between, the running variant's engine events on ``Channel.A``."""
        started = time.time()
        total = len(self.variants)
        try:
            yield from self._fidelity_reference()
            for i, v in enumerate(self.variants, 1):
                yield Channel.MATRIX, VariantStarted(i, total, v)
                row = Row(v.name, v.runtime, v.spec, skipped=v.skip)
                if self._cancel.is_set():
                    row.skipped = "cancelled"
                if row.skipped is None and v.ladder is not None:
                    yield Channel.MATRIX, Quantizing(v.name, v.ladder[1])
                    row.spec = self._build(v, row)
                if row.skipped is None and row.error is None:
                    row.size_mib = (
                        Path(row.spec.removeprefix("gguf:")).stat().st_size / MIB if v.runtime != "HF" else None
                    )
                    yield from self._run_variant(v, row, i)
                self.rows.append(row)
                yield Channel.MATRIX, VariantDone(row)
        finally:
            if self.fidelity is not None:
                self.fidelity.close()
        if self.fidelity is not None:
            self.fidelity_error = self.fidelity_error or self.fidelity.error
        if not self._cancel.is_set():
            self._score()
        result = self.result(time.time() - started)
        self._save(result.to_json())
        yield Channel.MATRIX, Finished(replace(result, session=self.session_path and str(self.session_path),
                                               record_error=self.record_error))  # fmt: skip

    def _build(self, v: Variant, row: Row) -> str:
        try:
            return f"gguf:{ensure_ladder_file(Path(v.ladder[0]), v.ladder[1])}"
        except LlmbenchError as exc:
            row.error = str(exc)
            return ""

    def _reference(self) -> tuple[str, str] | None:
        """(spec, label) of the full-precision reference: the ladder's F32, else the fp32 variant."""
        ladder = next((v.ladder[0] for v in self.variants if v.ladder), None)
        if ladder is not None:
            return f"gguf:{ensure_ladder_file(Path(ladder), 'F32')}", "gguf F32 (the base dequantized by llama.cpp)"
        fp32 = next((v for v in self.variants if v.name == REFERENCE_VARIANT and not v.skip), None)
        return (fp32.spec, "fp32 under transformers") if fp32 else None

    def _fidelity_reference(self) -> Iterator[tuple[str, object]]:
        """The fidelity pass's reference, first: each variant is then scored against it on
        the worker that answered its questions, so no variant loads twice."""
        if self.fidelity_options is None or not any(not v.skip for v in self.variants):
            return
        try:
            reference = self._reference()
            options = dict(self.fidelity_options)
            if options["text"] is None:
                from ..fidelity.run import default_text

                options["text"] = default_text()
        except LlmbenchError as exc:
            self.fidelity_error = str(exc)
            return
        if reference is None:
            self.fidelity_error = "no full-precision reference (fp32, or a GGUF base for the ladder's F32)"
            return
        self.fidelity = MatrixFidelity(reference[0], reference[1], threads=None, **options)
        todo = sum(1 for v in self.variants if not v.skip)
        for event in self.fidelity.run_reference(todo):
            yield Channel.MATRIX, event

    def _run_variant(self, v: Variant, row: Row, index: int) -> Iterator[tuple[str, object]]:
        params = self.params
        if self.fidelity is not None:  # the worker scores the fidelity text too: chunks of ctx tokens
            params = params.replace(n_ctx=max(params.n_ctx, self.fidelity.ctx))
        with Duel(row.spec, None, params, record=False, reserve_cores=self.reserve_cores) as duel:
            self._duel = duel
            for qi, q in enumerate(self.questions, 1):
                if self._cancel.is_set():
                    row.error = row.error or "cancelled"
                    break
                yield Channel.MATRIX, QuestionAsked(v.name, qi, len(self.questions), q.question)
                answer = {"id": q.id, "answer": "", "error": None, "tok_s": None, "ttft_ms": None, "resp_time": None}
                for side, event in duel.run(q.question):
                    if side != "a":
                        continue
                    if isinstance(event, Loaded):
                        row.load_s = event.load_s
                    elif isinstance(event, Done):
                        s = event.stats
                        answer.update(answer=event.text, tok_s=s.gen_tok_s, ttft_ms=s.ttft_ms, resp_time=s.total_s,
                                      host=s.host)  # fmt: skip
                        row.peak_rss_mib = max(row.peak_rss_mib or 0, s.peak_rss_mib or 0) or None
                        row.peak_gpu_mib = max(row.peak_gpu_mib or 0, s.peak_gpu_mib or 0) or None
                        row.cuda_max_alloc_mib = max(row.cuda_max_alloc_mib or 0, s.cuda_max_alloc_mib or 0) or None
                    elif isinstance(event, Error):
                        answer["error"] = event.message
                    yield Channel.A, event
                row.answers.append(answer)
                if answer["error"] and not any(a["answer"] for a in row.answers):
                    row.error = answer["error"]  # it did not load (or cannot answer): next variant
                    break
            if self.fidelity is not None and row.error is None and not self._cancel.is_set():
                worker = duel.sides["a"].worker
                counted = [x for x in self.variants if not x.skip]  # as the reference's FidelityStarted counts
                at = sum(1 for x in self.variants[:index] if not x.skip)
                for event in self.fidelity.score(row, worker if worker and not worker.dead else None, at, len(counted)):
                    yield Channel.MATRIX, event
            self._duel = None
        answered = [a for a in row.answers if a["answer"]]
        row.tok_s = mean(a["tok_s"] for a in answered)
        row.ttft_ms = mean(a["ttft_ms"] for a in answered)
        row.resp_time = mean(a["resp_time"] for a in answered)

    def _score(self) -> None:
        """Cosines against the references and against the fp32 answers, in one embedder call."""
        refs = {q.id: q.answer for q in self.questions}
        full = next((r for r in self.rows if r.variant == REFERENCE_VARIANT and not r.error and not r.skipped), None)
        full_answers = {a["id"]: a["answer"] for a in full.answers if a["answer"]} if full else {}
        pairs, slots = [], []
        for row in self.rows:
            for a in row.answers:
                if not a["answer"]:
                    continue
                pairs.append((a["answer"], refs[a["id"]]))
                slots.append((a, "cos_ref"))
                if a["id"] in full_answers:
                    pairs.append((a["answer"], full_answers[a["id"]]))
                    slots.append((a, "cos_fp32"))
        if not pairs:
            return
        similarity = self.similarity or default_similarity()
        for (a, key), cos in zip(slots, similarity(pairs)):
            a[key] = float(cos)
        for row in self.rows:
            row.cos_ref = mean(a.get("cos_ref") for a in row.answers)
            row.cos_fp32 = mean(a.get("cos_fp32") for a in row.answers)

    def result(self, elapsed_s: float | None = None) -> MatrixResult:
        f, opts = self.fidelity, self.fidelity_options
        ref_result = f.reference_result if f else None
        return MatrixResult(
            base=self.base,
            fidelity={
                "reference": f.reference_label if f else None,
                "reference_spec": f.reference if f else None,
                "text": f.text.label if f else None,
                "text_path": f.text.path if f else None,
                "ctx": opts["ctx"],
                "chunks": opts["chunks"],
                "mc": opts["mc"][0] if opts["mc"] else None,
                "reference_mc": ref_result.reference.get("mc") if ref_result else None,
                "error": self.fidelity_error,
            }
            if opts
            else None,
            questions=[asdict(q) for q in self.questions],
            params=self.params.to_dict(),
            reference_variant=REFERENCE_VARIANT,
            rows=list(self.rows),
            elapsed_s=elapsed_s,
            cancelled=self._cancel.is_set(),  # a partial matrix: the variant in hand was cut short
            partial=self._cancel.is_set(),
            host=host_info(),
        )

    def _save(self, result: dict) -> None:
        if not self.record:
            return

        meta = {"contestants": {"a": {"spec": self.base, "params": self.params.to_dict()}}}
        snapshot = {**result, "report_md": markdown_body(result), "summary_line": summary_line(result)}
        try:
            self.session_path = save_snapshot("quant-matrix", Path(self.base).name, snapshot, meta)
        except SessionError as exc:
            self.record_error = str(exc)

    def cancel(self) -> None:
        self._cancel.set()
        if self._duel is not None:
            self._duel.cancel()
        if self.fidelity is not None:
            self.fidelity.cancel()

    def finish(self) -> MatrixResult:
        """The rows measured so far, for a driver that stops reading ``run``."""
        return self.result()

    def close(self) -> None:
        """End the running variant's worker (``run`` closes each as it goes)."""
        if self._duel is not None:
            self._duel.close()
        if self.fidelity is not None:
            self.fidelity.close()
