"""The quantization matrix's quality columns: a GGUF ladder and KLD for every variant.

The ladder: from a GGUF base, llama.cpp's quantizer writes an F32 GGUF (the base's
weights dequantized), then each type of ``--gguf-types`` from that F32. The files
are kept in the cache folder, so a second matrix of the same base reuses them.

The fidelity pass: the reference (the ladder's F32 under llama.cpp when there is a
ladder, else the ``fp32`` variant under transformers) scores one text once, before the
variants, and saves its log-probabilities; each variant is then compared with that
file on the worker that has just answered the questions (loaded once): Mean KLD, Same
top p and PPL(Q)/PPL(base), as ``llmbench fidelity`` measures them, and
multiple-choice flips when asked.
"""

from __future__ import annotations

import hashlib
import shutil
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from ...errors import LlmbenchError
from ...jobs import Finished, Progress
from ...models.quantize import check_type, quantize_gguf
from ...paths import cache_dir, ensure
from ...util.files import scratch_dir
from ..fidelity.multiple_choice import McQuestion
from ..fidelity.run import DEFAULT_CTX, Fidelity, FidelityResult, Text

DEFAULT_GGUF_TYPES = ("F16", "Q8_0", "Q6_K", "Q4_K_M", "Q3_K_M", "Q2_K")
DEFAULT_CHUNKS = 6  # 6 chunks of 512: 1,530 positions scored
FIGURES = ("tokens", "ppl", "ppl_base", "ln_ppl_ratio", "ln_ppl_ratio_err", "kld_mean", "kld_err", "kld_p99",
           "kld_max", "rms_dp", "same_top_p", "same_top_p_err", "note", "error", "mc")  # fmt: skip


def parse_types(text: str | Sequence[str] | None) -> tuple[str, ...]:
    """``"Q8_0,q4_k_m"`` -> ("Q8_0", "Q4_K_M"); an unknown type is a QuantizeError naming it."""
    if text is None:
        return DEFAULT_GGUF_TYPES
    parts = text.split(",") if isinstance(text, str) else text
    return tuple(dict.fromkeys(check_type(t) for t in parts if t.strip()))


def ladder_path(base: Path, type_name: str) -> Path:
    """Where the ladder of ``base`` keeps its ``type_name`` file: one folder per base file."""
    st = base.stat()
    key = hashlib.sha256(f"{base.resolve()}\0{st.st_size}\0{st.st_mtime_ns}".encode()).hexdigest()[:12]
    return cache_dir() / "ladder" / f"{base.stem}-{key}" / f"{base.stem}.{type_name}.gguf"


def ensure_ladder_file(base: Path, type_name: str, progress: Callable | None = None) -> Path:
    """The ladder's ``type_name`` file, written now unless it is there (quantize renames a
    complete file into place, so one that exists is whole)."""
    target = ladder_path(base, type_name)
    if target.is_file():
        return target
    ensure(target.parent)
    if type_name == "F32":
        return Path(quantize_gguf(base, "F32", target, progress=progress).out)
    f32 = ensure_ladder_file(base, "F32", progress)
    return Path(quantize_gguf(f32, type_name, target, progress=progress).out)


@dataclass(frozen=True)
class FidelityStarted:
    """The fidelity pass reached a variant (the reference first, as index 0)."""

    variant: str
    index: int
    total: int


@dataclass
class MatrixFidelity:
    """The fidelity pass: ``run_reference()`` runs the full-precision reference once and
    saves its log-probabilities; ``score(row, worker)`` then compares each variant with
    them, on the worker that has just answered the questions (no second load); ``close()``
    removes the saved reference."""

    reference: str  # a spec
    reference_label: str
    text: Text
    ctx: int = DEFAULT_CTX
    chunks: int = DEFAULT_CHUNKS
    mc: tuple[str, list[McQuestion]] | None = None
    threads: int | None = None

    def __post_init__(self) -> None:
        self._cancel = threading.Event()
        self._current: Fidelity | None = None
        self.reference_result: FidelityResult | None = None
        self.error: str | None = None
        self._scratch: Path | None = None

    @property
    def ready(self) -> bool:
        """The reference ran whole: variants can be scored against it."""
        return self.reference_result is not None and not self.reference_result.partial

    def run_reference(self, total: int) -> Iterator[object]:
        """``FidelityStarted`` (index 0) and the reference's ``Progress``; ``total``: the
        variants to come."""
        self._scratch = scratch_dir("matrix-ref", ensure(cache_dir()))
        yield FidelityStarted(self.reference_label, 0, total)
        base = self._fidelity([], save_ref=self._ref_file(), mc=self.mc)
        yield from (e for e in self._pump(base) if not isinstance(e, FidelityResult))
        if self.reference_result is None and self.error is None:
            self.error = "the reference stopped before its end"

    def score(self, row, worker, index: int, total: int) -> Iterator[object]:
        """One variant against the saved reference, on ``worker`` (its answers' worker,
        left running) when given; ``row.fidelity`` is filled in."""
        if not self.ready or self._cancel.is_set():
            return
        yield FidelityStarted(row.variant, index, total)
        ref_mc = self.reference_result.reference.get("mc")
        fid = self._fidelity([row.spec], ref_file=self._ref_file(), mc=self.mc if ref_mc else None, ref_mc=ref_mc,
                             workers={row.spec: worker} if worker is not None else None)  # fmt: skip
        result = None
        for event in self._pump(fid):
            if isinstance(event, FidelityResult):
                result = event
            else:
                yield event
        if result is not None and result.candidates and not result.partial:
            c = result.candidates[0]
            row.fidelity = {k: c.get(k) for k in FIGURES} | {"reference": self.reference_label}

    def _ref_file(self) -> Path:
        return self._scratch / "reference.kld"

    def _fidelity(self, cands: list[str], **options) -> Fidelity | None:
        try:
            return Fidelity(self.reference, cands, self.text, ctx=self.ctx, chunks=self.chunks,
                            threads=self.threads, record=False, **options)  # fmt: skip
        except LlmbenchError as exc:
            self.error = str(exc)
            return None

    def _pump(self, fid: Fidelity | None) -> Iterator[object]:
        """The run's progress; its result last (the reference's is kept)."""
        if fid is None:
            return
        self._current = fid
        try:
            for event in fid.run():
                if isinstance(event, Finished):
                    if fid.save_ref is not None:
                        self.reference_result = event.result
                    yield event.result
                elif isinstance(event, Progress):
                    yield event
        except LlmbenchError as exc:
            self.error = str(exc)
        finally:
            self._current = None

    def cancel(self) -> None:
        self._cancel.set()
        if self._current is not None:
            self._current.cancel()

    def close(self) -> None:
        if self._current is not None:
            self._current.close()
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)
            self._scratch = None


def pareto(rows: list[dict]) -> list[dict]:
    """The variants with a KLD, by peak RAM: ``{variant, ram_mib, kld, front}``, ``front``
    when no other variant has both less RAM and a lower KLD."""
    points = [
        {"variant": r["variant"], "ram_mib": r["peak_rss_mib"], "kld": r["fidelity"]["kld_mean"]}
        for r in rows
        if r.get("fidelity") and r["fidelity"].get("kld_mean") is not None and r.get("peak_rss_mib")
    ]
    for p in points:
        p["front"] = not any(
            q is not p and q["ram_mib"] <= p["ram_mib"] and q["kld"] <= p["kld"] and
            (q["ram_mib"], q["kld"]) != (p["ram_mib"], p["kld"]) for q in points
        )  # fmt: skip
    return sorted(points, key=lambda p: p["ram_mib"])
