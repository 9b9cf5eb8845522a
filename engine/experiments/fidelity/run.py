"""Quality from logits: ``llmbench fidelity REF CAND ...``.

What llama.cpp's ``llama-perplexity --kl-divergence`` measures, across backends: a text
is cut into chunks of ``ctx`` tokens (the first one of each replaced by BOS when the
reference's tokenizer adds one); each chunk runs through the reference and every
candidate, each model in its own worker process; the second half of each chunk is
scored. Per candidate: PPL(Q) and PPL(base), ln(PPL(Q)/PPL(base)), the mean KLD and its
percentiles, RMS Δp and Same top p, each with its uncertainty, under
llama-perplexity's names and with its formulas.

Only one chunk's logits are held at a time: the reference's go to a scratch file that
the candidates' workers map. ``--save-ref`` keeps the reference's log-probabilities in
llama-perplexity's base format (``RefFile``), so a later comparison need not run it
again, and ``--ref-file`` reads such a file, llama-perplexity's own too.
"""

from __future__ import annotations

import os
import queue
import shutil
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from ... import models
from ...errors import FidelityError, LlmbenchError
from ...jobs import Finished, Progress, Recorded
from ...runtime.events import Loaded
from ...runtime.params import GenParams
from ...runtime.record import save_report
from ...runtime.scoring import (
    ChoicesRequest,
    Likelihoods,
    Pieces,
    PromptLogprobs,
    Reference,
    Scored,
    ScoreRequest,
    TextTokens,
)
from ...runtime.worker import ModelSide, ModelWorker
from ...util.cpus import HostLoad, HostSampler
from ...util.files import scratch_dir
from ...util.fmt import MIB
from ...util.host import host_info
from .multiple_choice import McQuestion, flips, picks
from .multiple_choice import pairs as mc_pairs
from .ref import RefFile, text_sha256
from .remote import DEFAULT_TOP_N, ChunkMisread, compare_top_n
from .remote import method as approx_method
from .report import label as label_of
from .report import markdown_report, summary_line
from .tally import Tally

DEFAULT_CTX = 512
DEFAULT_TEXT_CHARS = 80_000  # about 20k tokens of the demo corpus
REPLY_TIMEOUT_S = 3600.0  # one chunk of one model; a dead worker is noticed at once


# ---------------------------------------------------------------- the text


@dataclass(frozen=True)
class Text:
    content: str
    label: str  # the file, or what the default text is
    path: str | None = None

    @property
    def sha256(self) -> str:
        return text_sha256(self.content)


def read_text(path: str | Path | None) -> Text:
    """The text to score: a UTF-8 file, or (none given) the demo corpus."""
    if path is None:
        return default_text()
    p = Path(path).expanduser()
    try:
        if not p.is_file():
            raise FidelityError(f"{p}: no such file" if not p.exists() else f"{p}: not a regular file")
        data = p.read_bytes()
    except OSError as exc:
        raise FidelityError(f"{p}: cannot read it ({exc.strerror})") from None
    if b"\0" in data[:65536]:
        raise FidelityError(f"{p}: a binary file, not text")
    try:
        content = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FidelityError(f"{p}: not UTF-8 text (byte {exc.start})") from None
    if not content.strip():
        raise FidelityError(f"{p}: empty")
    return Text(content, str(p), str(p))


def default_text() -> Text:
    """The READMEs of the demo packages installed here, about 80,000 characters."""
    from ...rag.demo import demo_texts

    parts, size = [], 0
    for _, readme in demo_texts():
        parts.append(readme[: DEFAULT_TEXT_CHARS - size])
        size += len(parts[-1])
        if size >= DEFAULT_TEXT_CHARS:
            break
    if not parts:
        raise FidelityError("no default text: the demo packages have no READMEs here; give --text FILE")
    return Text("\n\n".join(parts), f"demo corpus ({len(parts)} package READMEs, {size:,} characters)")


# ---------------------------------------------------------------- the run


@dataclass(kw_only=True)
class FidelityResult(Recorded):
    """The reference against its candidates on one text: one row of figures per
    candidate (``candidates``), how the KLD was taken, and how fast it scored."""

    reference: dict
    text: dict  # label, path, sha256
    ctx: int
    chunks: int
    chunks_total: int
    kld_method: str
    kld_approx_method: str | None  # a server's candidates: KLD from its top-n
    candidates: list[dict]
    elapsed_s: float
    tok_s: float | None
    tok_s_host: dict | None  # the host's load while it scored
    saved_ref: str | None
    mc: dict | None  # the multiple-choice set: label, questions
    host: dict

    @property
    def failed(self) -> bool:
        return any(c.get("error") for c in self.candidates)


@dataclass
class Side(ModelSide):
    """One model of the comparison and its worker."""

    tokens: TextTokens | None = None
    tally: Tally = field(default_factory=Tally)
    note: str | None = None
    mc: dict | None = None  # multiple-choice picks and accuracy
    skipped: list = field(default_factory=list)  # chunks a server read otherwise, and why

    @property
    def remote(self) -> bool:
        return self.model is not None and self.model.backend == "openai"

    def describe(self) -> dict:
        m = self.model
        return {
            "spec": self.spec,
            "model": m.name if m else None,
            "quant": m.quant if m else None,
            "backend": m.backend if m else None,
            "load_s": self.load_s,
            "peak_rss_mib": self.worker.peak_rss / MIB if self.worker and self.worker.peak_rss else None,
            "mc": self.mc,
            "kld_approx": self.remote or None,
        }


class Fidelity:
    """One reference against candidates on one text. ``run()`` yields ``Progress`` after
    each chunk, then one ``Finished``; ``cancel()`` (or Ctrl-C around ``run``) stops
    after the chunk in hand, and ``result()`` gives the figures so far, marked partial."""

    def __init__(
        self,
        reference: str,
        candidates: Sequence[str],
        text: Text,
        *,
        ctx: int = DEFAULT_CTX,
        chunks: int | None = None,
        threads: int | None = None,
        save_ref: str | Path | None = None,
        ref_file: str | Path | None = None,
        force: bool = False,
        record: bool = True,
        mc: tuple[str, list[McQuestion]] | None = None,
        ref_mc: dict | None = None,
        top_k: int = 0,
        top_n: int = DEFAULT_TOP_N,
        workers: Mapping[str, ModelWorker] | None = None,
    ):
        """``workers``: candidates already loaded (the quantization matrix's, after their
        answers), used as they are and left running: their load is not repeated."""
        if not candidates and save_ref is None:
            raise FidelityError("give at least one candidate to compare with the reference (or --save-ref FILE)")
        if ctx < 16:
            raise FidelityError(f"--ctx {ctx}: too small (at least 16 tokens)")
        self.text, self.ctx, self.max_chunks = text, ctx, chunks
        self.params = GenParams(n_ctx=ctx, threads=threads, temperature=0)
        self.ref = Side(reference)
        self.cands = [Side(spec) for spec in candidates]
        self.save_ref = Path(save_ref).expanduser() if save_ref else None
        if save_ref and ref_file:
            raise FidelityError("--save-ref and --ref-file together: the reference is already saved")
        if self.save_ref and self.save_ref.exists() and not force:
            raise FidelityError(f"{self.save_ref}: exists already (--force replaces it)")
        if mc is not None and ref_file and ref_mc is None:
            raise FidelityError("--mc needs the reference model itself, not a saved reference (--ref-file)")
        self.mc, self.top_k, self.top_n = mc, top_k, top_n
        self.ref.mc = ref_mc  # the reference's answers, when it does not run here
        self.ref_file = RefFile.load(ref_file) if ref_file else None
        self._cancel = threading.Event()
        self.chunks_total = 0
        self.chunks_done = 0
        self.elapsed_s = 0.0
        self.score_s: float | None = None  # the chunks' part of elapsed_s
        self.host_load: HostLoad | None = None  # how busy others kept the CPUs while the chunks were scored
        self._scratch: Path | None = None
        self._store: RefFile | None = None  # the reference being saved, until complete
        self._saved = False
        self.record = record
        self.session_path: Path | None = None
        self.record_error: str | None = None
        self._lent = dict(workers or {})  # spec -> a loaded worker, and the sink it goes back to
        self._sinks: dict[int, queue.Queue] = {}  # id(side) of a lent worker's side -> its own sink

    # ------------------------------------------------------------ setup

    def _start(self, side: Side) -> None:
        if (worker := self._lent.get(side.spec)) is not None and side is not self.ref:
            side.model, side.worker = worker.model, worker
            self._sinks[id(side)], worker.sink = worker.sink, side.sink  # its replies come here now
            return
        try:
            side.model = models.resolve(side.spec)
        except LlmbenchError as exc:
            side.error = str(exc)
            return
        if side.remote and side is self.ref:
            side.error = f"{side.spec}: the reference must give every logit; an openai: server gives top-N logprobs"
            return
        if side.remote and self.ref_file is not None:
            side.error = f"{side.spec}: an openai: candidate needs the reference model itself, not --ref-file"
            return
        side.worker = ModelWorker(f"fidelity-{side.spec}", side.model, self.params, side.sink)
        side.worker.start()

    def _reply(self, side: Side, kind: type) -> object | None:
        """The worker's next event of type ``kind``; an Error or a dead worker ends the side."""
        event, why = side.worker.reply(kind, REPLY_TIMEOUT_S)
        if why is not None:
            side.error = side.error or why
        return event

    def _load_and_tokenize(self, sides: list[Side]) -> None:
        for side in sides:
            self._start(side)
        for side in sides:
            if side.worker is None:
                continue
            loaded = side.worker.loaded if id(side) in self._sinks else self._reply(side, Loaded)
            if loaded is None:
                side.error = side.error or f"{side.spec}: its worker did not load"
                continue
            side.load_s = loaded.load_s
            if not side.remote:  # a server's tokens are checked chunk by chunk
                side.worker.tokenize(self.text.content)
                side.tokens = self._reply(side, TextTokens)

    def _reference_tokens(self) -> TextTokens:
        if self.ref_file is not None:
            first = next((s.tokens for s in self.cands if s.tokens is not None), None)
            self.ref_file.check(self.ref.spec, self.text, self.ctx, first)
            tokens = self.ref_file.text_tokens(first)
        elif self.ref.error or self.ref.tokens is None:
            raise FidelityError(f"the reference cannot run: {self.ref.error}")
        else:
            tokens = self.ref.tokens
        self._check_ctx(self.ref, tokens)
        return tokens

    def _check_ctx(self, side: Side, tokens: TextTokens) -> None:
        if tokens.n_ctx_train and self.ctx > tokens.n_ctx_train:
            raise FidelityError(f"--ctx {self.ctx} is larger than the context of {side.spec} ({tokens.n_ctx_train:,})")

    def _check(self, side: Side, ref: TextTokens) -> None:
        """A candidate must share the reference's vocabulary (the same token for every id)
        and give as many logits. Every model is fed the reference's token ids, as
        llama-perplexity feeds the base run's; a tokenizer that splits the text a little
        differently (a GGUF's and its transformers twin's, at rare characters) is noted."""
        mine = side.tokens
        self._check_ctx(side, mine)
        if mine.vocab != ref.vocab or mine.n_vocab != ref.n_vocab:
            raise FidelityError(
                f"the tokenizers differ: {ref.tokenizer} and {mine.tokenizer} do not share one vocabulary "
                f"({ref.n_vocab:,} and {mine.n_vocab:,} logits per position)"
            )
        n = len(ref.ids) if self.ref_file else max(len(ref.ids), len(mine.ids))
        if mine.ids[:n] != ref.ids[:n]:
            at = next(
                (i for i, (a, b) in enumerate(zip(mine.ids, ref.ids)) if a != b), min(len(mine.ids), len(ref.ids))
            )
            side.note = (
                f"its tokenizer splits the text into {len(mine.ids):,} tokens, the reference's into {len(ref.ids):,} "
                f"(first difference at token {at:,}): it was fed the reference's"
            )

    # ------------------------------------------------------------ the loop

    def run(self) -> Iterator[object]:
        t0 = time.perf_counter()
        live_ref = self.ref_file is None
        try:
            self._load_and_tokenize(([self.ref] if live_ref else []) + self.cands)
            ref_tokens = self._reference_tokens()
            for side in self.cands:
                if side.error is None and side.tokens is not None:
                    try:
                        self._check(side, ref_tokens)
                    except FidelityError as exc:
                        side.error = str(exc)
            self.chunks_total = self._count_chunks(ref_tokens)
            host = HostSampler(family_root=os.getpid())  # others' CPU use while the chunks are scored
            self._scratch = scratch_dir("fidelity")
            if self.save_ref:
                self._store = RefFile.create(self.save_ref, self.ctx, ref_tokens, self.chunks_total)
            for c in range(self.chunks_total):
                if self._cancel.is_set() or not (self._live_cands() or self.save_ref):
                    break
                self._chunk(c, ref_tokens)
                self.elapsed_s = time.perf_counter() - t0
                yield self._progress()
            self.score_s = time.perf_counter() - t0
            self.host_load = host.load(apart=True)
            self._multiple_choice()
            if self._store is not None and self.chunks_done == self.chunks_total:
                self._store.finish(self.save_ref, RefFile.meta_for(self.ref, ref_tokens, self.text))
                self._saved = True
            self.elapsed_s = time.perf_counter() - t0
            yield Finished(self.finish())
        finally:
            self.close()

    def _count_chunks(self, ref_tokens: TextTokens) -> int:
        available = len(ref_tokens.ids) // self.ctx
        if self.ref_file is not None:
            available = min(available, self.ref_file.n_chunk)
        if available < 2:
            raise FidelityError(
                f"{self.text.label}: {len(ref_tokens.ids):,} tokens make {available} chunk(s) of {self.ctx}; at least "
                "2 are needed (a longer text or a smaller --ctx)"
            )
        return min(available, self.max_chunks) if self.max_chunks else available

    def _chunk(self, c: int, ref_tokens: TextTokens) -> None:
        """One chunk through the reference (or from its file), then every candidate."""
        tokens = list(ref_tokens.ids[c * self.ctx : (c + 1) * self.ctx])
        if ref_tokens.bos is not None:
            tokens[0] = ref_tokens.bos  # every chunk starts as a text does, as llama-perplexity's
        first = self.ctx // 2
        reference = self._reference_chunk(c, tokens) if self.ref_file is None else self.ref_file.reference(c)
        if reference is None:
            raise FidelityError(f"the reference failed on chunk {c + 1}: {self.ref.error}")
        remote = self._remote_view(tokens, reference) if any(s.remote for s in self._live_cands()) else None
        for side in self._live_cands():
            if side.remote:
                side.worker.server_logprobs(remote[0], tokens, self.top_n)
                got = self._reply(side, PromptLogprobs)
                try:
                    if got is not None:
                        side.tally.add(compare_top_n(side.spec, tokens, first, reference, remote[1], got))
                except ChunkMisread as exc:
                    side.skipped.append(str(exc))
                    side.note = f"{len(side.skipped)} chunk(s) left out: {side.skipped[0]}"
                except FidelityError as exc:
                    side.error = str(exc)
                continue
            side.worker.score(ScoreRequest(c, tokens, first, reference=reference, top_k=self.top_k))
            scored = self._reply(side, Scored)
            if scored is not None:
                side.tally.add(scored.rows)
        self.chunks_done = c + 1

    def _remote_view(self, tokens: list, reference: Reference) -> tuple[str, dict]:
        """What a server candidate needs of a chunk: its text (BOS left out) and the text of
        each of its tokens and of the reference's top tokens, from the reference's tokenizer."""
        body = tokens[1:] if self.ref.tokens.bos is not None else tokens
        self.ref.worker.detokenize(body)
        text = self._reply(self.ref, Pieces)
        ids = sorted({*tokens, *reference.top.ids.ravel().tolist(), *reference.top1.tolist()})
        self.ref.worker.pieces(ids)
        pieces = self._reply(self.ref, Pieces)
        if text is None or pieces is None:
            raise FidelityError(f"the reference could not name its tokens: {self.ref.error}")
        return text.texts[0], dict(zip(pieces.ids, pieces.texts))

    def _live_cands(self) -> list[Side]:
        return [s for s in self.cands if s.error is None and s.worker is not None and (s.tokens or s.remote)]

    def _reference_chunk(self, c: int, tokens: list, first: int | None = None) -> Reference | None:
        path = str(self._scratch / "reference.npy") if self._live_cands() else None
        store = self._store.stored(c) if self._store is not None else None
        first = self.ctx // 2 if first is None else first
        top_k = max(self.top_k, self.top_n if any(s.remote for s in self._live_cands()) else 0)
        request = ScoreRequest(c, tokens, first, write_path=path, store=store, top_k=top_k)
        self.ref.worker.score(request)
        scored = self._reply(self.ref, Scored)
        return None if scored is None else replace(scored.reference, path=path)

    def _multiple_choice(self) -> None:
        """Every choice of every question through the reference and each candidate, one model at a time."""
        if self.mc is None or self._cancel.is_set():
            return
        questions = self.mc[1]
        for side in [self.ref, *self._live_cands()]:
            if side.worker is None or side.error is not None or side.remote:
                continue  # a server is not asked: its echo gives one prompt, not a choice's likelihood
            side.worker.choices(ChoicesRequest(mc_pairs(questions)))
            got = self._reply(side, Likelihoods)
            if got is not None:
                side.mc = picks(questions, got.values)
        for side in self.cands:
            if side.mc is not None and self.ref.mc is not None:
                side.mc |= flips(self.ref.mc, side.mc)

    def _progress(self) -> Progress:
        scored = self.chunks_done * (self.ctx - 1 - self.ctx // 2)
        rate = scored / self.elapsed_s if self.elapsed_s else None
        return Progress("score", self.chunks_done, self.chunks_total, f"chunk {self.chunks_done}", rate, "tokens")

    # ------------------------------------------------------------ the result

    def result(self) -> FidelityResult:
        method = (
            "full vocabulary, from the saved log-probabilities (steps of 0.00024 nats; below e^-16 left out)"
            if self.ref_file
            else "full vocabulary"
        )
        ref = self.ref.describe() | {"source": f"file {self.ref_file.path}" if self.ref_file else "live"}
        if self.ref_file and self.ref_file.meta:
            ref.update(model=self.ref_file.meta["model"].get("name"), quant=self.ref_file.meta["model"].get("quant"))
        scored = sum(s.tally.count for s in self.cands)
        return FidelityResult(
            reference=ref,
            text={"label": self.text.label, "path": self.text.path, "sha256": self.text.sha256},
            ctx=self.ctx,
            chunks=self.chunks_done,
            chunks_total=self.chunks_total,
            partial=self.chunks_done < self.chunks_total,
            kld_method=method,
            kld_approx_method=approx_method(self.top_n) if any(s.remote for s in self.cands) else None,
            candidates=[s.describe() | s.tally.figures() | {"note": s.note, "error": s.error} for s in self.cands],
            elapsed_s=self.elapsed_s,
            tok_s=scored / (self.score_s or self.elapsed_s) if self.elapsed_s else None,
            tok_s_host=self.host_load.to_dict() if self.host_load else None,
            saved_ref=str(self.save_ref) if self._saved else None,
            mc={"label": self.mc[0], "questions": len(self.mc[1])} if self.mc else None,
            host=host_info(),
        )

    def finish(self) -> FidelityResult:
        """The result, recorded as a ``fidelity`` session (unless asked not to)."""
        result = self.result()
        if self.record and self.session_path is None and self.chunks_done:
            title = f"{label_of(self.ref.spec)} vs {', '.join(label_of(s.spec) for s in self.cands)}"
            data = result.to_json()
            self.session_path, self.record_error = save_report("fidelity", title, data, self.ref.spec,
                self.params.to_dict(), markdown_report(data), summary_line(data))  # fmt: skip
        return replace(result, session=self.session_path and str(self.session_path), record_error=self.record_error)

    def cancel(self) -> None:
        self._cancel.set()

    def close(self) -> None:
        for side in [self.ref, *self.cands]:
            if id(side) in self._sinks:  # lent: back to its owner, running
                side.worker.sink = self._sinks.pop(id(side))
            elif side.worker is not None:
                side.worker.close()
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)
            self._scratch = None
        if self._store is not None and not self._saved:
            self._store.discard()  # a stopped run leaves no half-written reference
