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

import math
import queue
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import models
from ..errors import FidelityError, LlmbenchError
from ..models.info import ModelInfo
from ..rag.collection import Progress
from ..runtime.events import Error, Loaded
from ..runtime.params import GenParams
from ..runtime.scoring import Reference, Rows, Scored, ScoreRequest, TextTokens
from ..runtime.worker import Worker
from ..util.fmt import MIB
from ..util.host import host_info
from .fidelity_ref import RefFile, text_sha256

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
    from ..rag.demo import demo_texts

    parts, size = [], 0
    for _, readme in demo_texts():
        parts.append(readme[: DEFAULT_TEXT_CHARS - size])
        size += len(parts[-1])
        if size >= DEFAULT_TEXT_CHARS:
            break
    if not parts:
        raise FidelityError("no default text: the demo packages have no READMEs here; give --text FILE")
    return Text("\n\n".join(parts), f"demo corpus ({len(parts)} package READMEs, {size:,} characters)")


# ---------------------------------------------------------------- the figures


@dataclass
class Tally:
    """llama-perplexity's running sums for one candidate, and the per-position KLD and
    Δp values its percentiles need (a few floats per scored token)."""

    sums: dict[str, float] = field(default_factory=lambda: dict.fromkeys(
        ("nll", "nll2", "base", "base2", "nll_base", "kld", "kld2", "dp", "dp2", "dp4"), 0.0))  # fmt: skip
    same_top: int = 0
    count: int = 0
    kld: list = field(default_factory=list)
    p_diff: list = field(default_factory=list)

    def add(self, rows: Rows) -> None:
        s = self.sums
        s["nll"] += rows.nll.sum()
        s["nll2"] += (rows.nll**2).sum()
        s["base"] += rows.nll_base.sum()
        s["base2"] += (rows.nll_base**2).sum()
        s["nll_base"] += (rows.nll * rows.nll_base).sum()
        s["kld"] += rows.kld.sum()
        s["kld2"] += (rows.kld**2).sum()
        s["dp"] += rows.p_diff.sum()
        s["dp2"] += (rows.p_diff**2).sum()
        s["dp4"] += (rows.p_diff**4).sum()
        self.same_top += int(rows.same_top.sum())
        self.count += len(rows.nll)
        self.kld.append(rows.kld.astype(np.float32))
        self.p_diff.append(rows.p_diff.astype(np.float32))

    def _mean(self, total: str, squares: str) -> tuple[float, float]:
        """Mean and its standard error, as llama-perplexity's mean_and_uncertainty."""
        n = self.count
        f = self.sums[total] / n
        var = self.sums[squares] / n - f * f
        return f, math.sqrt(var / (n - 1)) if var > 0 and n > 10 else 0.0

    def figures(self) -> dict:
        """The JSON fields of one candidate (fractions, not percents)."""
        if self.count < 2:
            return {"tokens": self.count}
        n, s = self.count, self.sums
        log_ppl, log_ppl_err = self._mean("nll", "nll2")
        log_base, log_base_err = self._mean("base", "base2")
        cov = (s["nll_base"] / n - (s["nll"] / n) * (s["base"] / n)) / (n - 1) if n >= 10 else 0.0
        kld_mean, kld_err = self._mean("kld", "kld2")
        mse, mse_err = self._mean("dp2", "dp4")
        rms = math.sqrt(mse)
        same = self.same_top / n
        kld = np.concatenate(self.kld)
        q = np.percentile(kld, [50, 90, 95, 99, 99.9])
        return {
            "tokens": n,
            "ppl": math.exp(log_ppl),
            "ppl_err": math.exp(log_ppl) * log_ppl_err,
            "ppl_base": math.exp(log_base),
            "ppl_base_err": math.exp(log_base) * log_base_err,
            "ln_ppl_ratio": log_ppl - log_base,
            "ln_ppl_ratio_err": math.sqrt(max(0.0, log_ppl_err**2 + log_base_err**2 - 2 * cov)),
            "kld_mean": kld_mean,
            "kld_err": kld_err,
            "kld_median": float(q[0]),
            "kld_p90": float(q[1]),
            "kld_p95": float(q[2]),
            "kld_p99": float(q[3]),
            "kld_p999": float(q[4]),
            "kld_max": float(kld.max()),
            "rms_dp": rms,
            "rms_dp_err": 0.5 / rms * mse_err if rms > 0 else 0.0,
            "same_top_p": same,
            "same_top_p_err": math.sqrt(same * (1 - same) / (n - 1)),
        }


# ---------------------------------------------------------------- the run


@dataclass
class Side:
    """One model of the comparison and its worker."""

    spec: str
    model: ModelInfo | None = None
    worker: Worker | None = None
    sink: queue.Queue = field(default_factory=queue.Queue)
    tokens: TextTokens | None = None
    tally: Tally = field(default_factory=Tally)
    error: str | None = None
    note: str | None = None
    load_s: float | None = None

    def describe(self) -> dict:
        m = self.model
        return {
            "spec": self.spec,
            "model": m.name if m else None,
            "quant": m.quant if m else None,
            "backend": m.backend if m else None,
            "load_s": self.load_s,
            "peak_rss_mib": self.worker.peak_rss / MIB if self.worker and self.worker.peak_rss else None,
        }


@dataclass(frozen=True)
class FidelityDone:
    result: dict


class Fidelity:
    """One reference against candidates on one text. ``run()`` yields ``Progress`` after
    each chunk, then one ``FidelityDone``; ``cancel()`` (or Ctrl-C around ``run``) stops
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
    ):
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
        self.ref_file = RefFile.load(ref_file) if ref_file else None
        self._cancel = threading.Event()
        self.chunks_total = 0
        self.chunks_done = 0
        self.elapsed_s = 0.0
        self._scratch: Path | None = None
        self._store: RefFile | None = None  # the reference being saved, until complete
        self._saved = False

    # ------------------------------------------------------------ setup

    def _start(self, side: Side) -> None:
        try:
            side.model = models.resolve(side.spec)
        except LlmbenchError as exc:
            side.error = str(exc)
            return
        if side.model.backend == "openai":
            side.error = f"{side.spec}: fidelity needs every logit; an openai: server gives at most top-N logprobs"
            return
        side.worker = Worker(f"fidelity-{side.spec}", side.model, self.params, side.sink)
        side.worker.start()

    def _reply(self, side: Side, kind: type) -> object | None:
        """The worker's next event of type ``kind``; an Error or a dead worker ends the side."""
        deadline = time.monotonic() + REPLY_TIMEOUT_S
        while time.monotonic() < deadline:
            try:
                _, event = side.sink.get(timeout=0.5)
            except queue.Empty:
                if side.worker.dead:
                    side.error = side.error or f"{side.spec}: its worker process ended"
                    return None
                continue
            if isinstance(event, kind):
                return event
            if isinstance(event, Error):
                side.error = event.message
                return None
        side.error = f"{side.spec}: no answer from its worker in {REPLY_TIMEOUT_S:.0f} s"
        return None

    def _load_and_tokenize(self, sides: list[Side]) -> None:
        for side in sides:
            self._start(side)
        for side in sides:
            if side.worker is None:
                continue
            loaded = self._reply(side, Loaded)
            if loaded is None:
                continue
            side.load_s = loaded.load_s
            side.worker.request(("tokenize", self.text.content))
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
            self._scratch = Path(tempfile.mkdtemp(prefix="llmbench-fidelity-"))
            if self.save_ref:
                self._store = RefFile.create(self.save_ref, self.ctx, ref_tokens, self.chunks_total)
            for c in range(self.chunks_total):
                if self._cancel.is_set() or not (self._live_cands() or self.save_ref):
                    break
                self._chunk(c, ref_tokens)
                self.elapsed_s = time.perf_counter() - t0
                yield self._progress()
            if self._store is not None and self.chunks_done == self.chunks_total:
                self._store.finish(self.save_ref, RefFile.meta_for(self.ref, ref_tokens, self.text))
                self._saved = True
            self.elapsed_s = time.perf_counter() - t0
            yield FidelityDone(self.result())
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
        for side in self._live_cands():
            side.worker.request(("score", ScoreRequest(c, tokens, first, reference=reference)))
            scored = self._reply(side, Scored)
            if scored is not None:
                side.tally.add(scored.rows)
        self.chunks_done = c + 1

    def _live_cands(self) -> list[Side]:
        return [s for s in self.cands if s.error is None and s.worker is not None and s.tokens is not None]

    def _reference_chunk(self, c: int, tokens: list) -> Reference | None:
        path = str(self._scratch / "reference.npy") if self._live_cands() else None
        store = self._store.stored(c) if self._store is not None else None
        self.ref.worker.request(("score", ScoreRequest(c, tokens, self.ctx // 2, write_path=path, store=store)))
        scored = self._reply(self.ref, Scored)
        if scored is None:
            return None
        r = scored.reference
        return Reference(lse=r.lse, nll=r.nll, top1=r.top1, path=path)

    def _progress(self) -> Progress:
        scored = self.chunks_done * (self.ctx - 1 - self.ctx // 2)
        rate = scored / self.elapsed_s if self.elapsed_s else None
        return Progress("score", self.chunks_done, self.chunks_total, f"chunk {self.chunks_done}", rate, "tokens")

    # ------------------------------------------------------------ the result

    def result(self) -> dict:
        method = (
            "full vocabulary, from the saved log-probabilities (steps of 0.00024 nats; below e^-16 left out)"
            if self.ref_file
            else "full vocabulary"
        )
        ref = self.ref.describe() | {"source": f"file {self.ref_file.path}" if self.ref_file else "live"}
        if self.ref_file and self.ref_file.meta:
            ref.update(model=self.ref_file.meta["model"].get("name"), quant=self.ref_file.meta["model"].get("quant"))
        scored = sum(s.tally.count for s in self.cands)
        return {
            "reference": ref,
            "text": {"label": self.text.label, "path": self.text.path, "sha256": self.text.sha256},
            "ctx": self.ctx,
            "chunks": self.chunks_done,
            "chunks_total": self.chunks_total,
            "partial": self.chunks_done < self.chunks_total,
            "kld_method": method,
            "candidates": [s.describe() | s.tally.figures() | {"note": s.note, "error": s.error} for s in self.cands],
            "elapsed_s": self.elapsed_s,
            "tok_s": scored / self.elapsed_s if self.elapsed_s else None,
            "saved_ref": str(self.save_ref) if self._saved else None,
            "host": host_info(),
        }

    def cancel(self) -> None:
        self._cancel.set()

    def close(self) -> None:
        for side in [self.ref, *self.cands]:
            if side.worker is not None:
                side.worker.close()
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)
            self._scratch = None
        if self._store is not None and not self._saved:
            self._store.discard()  # a stopped run leaves no half-written reference
