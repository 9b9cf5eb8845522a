"""GGUF quantization with llama.cpp's own quantizer (``llmbench quantize``).

``llama_model_quantize`` runs in a child process (Ctrl-C and a crash stay there) and
writes through ``util.files.staged``: a temporary file next to the target, renamed
when complete. A cancelled or failed run leaves nothing behind; a killed one leaves a
hidden partial that the next quantize into that folder removes. A full disk names the
output's folder. A source that is already quantized (both demo
models) is dequantized tensor by tensor to F32 by llama.cpp first, which is what an
F32 GGUF of the same weights would hold: ``--type F32`` writes that file, the
full-precision reference of a quantization ladder.
"""

from __future__ import annotations

import errno
import multiprocessing as mp
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..errors import QuantizeError
from ..jobs import JobResult, Progress, ThreadJob
from ..util.childproc import StopWatch, child_setup, ensure_resource_tracker, last_log_line, log_path
from ..util.files import output_error, staged
from .gguf_file import read_header

# name -> llama_ftype (llama.h). The i-quants and Q2_K_S need an importance matrix: not offered.
FTYPES: dict[str, int] = {
    "F32": 0,
    "F16": 1,
    "BF16": 32,
    "Q8_0": 7,
    "Q6_K": 18,
    "Q5_K_M": 17,
    "Q5_K_S": 16,
    "Q5_1": 9,
    "Q5_0": 8,
    "Q4_K_M": 15,
    "Q4_K_S": 14,
    "Q4_1": 3,
    "Q4_0": 2,
    "Q3_K_L": 13,
    "Q3_K_M": 12,
    "Q3_K_S": 11,
    "Q2_K": 10,
}
FULL_PRECISION = ("F32", "F16", "BF16")


@dataclass(kw_only=True)
class Quantized(JobResult):
    """A quantizing run's result; a stopped one names no output (nothing was written)."""

    source: str
    source_quant: str | None = None
    out: str | None = None
    type: str
    requantized: bool = False  # the source was quantized: its weights were dequantized first
    bytes: int = 0
    seconds: float = 0.0


def check_type(name: str) -> str:
    t = name.strip().upper()
    if t not in FTYPES:
        raise QuantizeError(f"{name}: not a type llmbench quantizes to; one of {', '.join(FTYPES)}")
    return t


def default_out(src: Path, type_name: str, source_quant: str | None) -> Path:
    """``model.Q4_1.gguf`` -> ``model.Q8_0.gguf`` beside it."""
    stem = src.stem
    for q in filter(None, (source_quant, *(FTYPES))):
        for sep in (".", "-", "_"):
            if stem.upper().endswith(f"{sep}{q}"):
                stem = stem[: -len(q) - 1]
                break
    return src.with_name(f"{stem}.{type_name}.gguf")


def _child(src: str, tmp: str, ftype: int, threads: int, requantize: bool, log_file: str) -> None:
    child_setup(log_file)
    import llama_cpp

    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = ftype
    params.nthread = threads
    params.allow_requantize = requantize
    code = llama_cpp.llama_model_quantize(src.encode(), tmp.encode(), params)
    os._exit(0 if code == 0 else 3)


def quantize_gguf(
    src: str | Path,
    type_name: str,
    out: str | Path | None = None,
    *,
    threads: int | None = None,
    force: bool = False,
    progress: Callable[[int, int | None], None] | None = None,
    cancelled: Callable[[], bool] = lambda: False,
) -> Quantized:
    """Write ``src`` at ``type_name``; ``progress(bytes_written, expected_bytes)`` as it goes.
    ``cancelled()`` true ends the child: a ``QuantizeError``, and nothing written."""
    t = check_type(type_name)
    source = Path(src).expanduser()
    header = read_header(source)  # a ModelFileError names a file that is not a GGUF
    target = Path(out).expanduser() if out else default_out(source, t, header.quant)
    if target.exists() and not force:
        raise QuantizeError(f"{target}: exists already (--force replaces it)")
    if target.resolve() == source.resolve():
        raise QuantizeError(f"{target}: the output would replace its own source")
    if not target.parent.is_dir():
        raise QuantizeError(f"{target.parent}: no such folder")
    requantize = (header.quant or "F32").upper() not in FULL_PRECISION
    t0 = time.perf_counter()
    try:
        with staged(target, "*.gguf") as tmp:
            _run_child(source, tmp, t, header, threads, requantize, progress, cancelled)
    except OSError as exc:
        raise QuantizeError(output_error(target, exc)) from None
    return Quantized(source=str(source), source_quant=header.quant, out=str(target), type=t, requantized=requantize,
                     bytes=target.stat().st_size, seconds=time.perf_counter() - t0)  # fmt: skip


def _run_child(source: Path, tmp: Path, t: str, header, threads: int | None, requantize: bool,
               progress: Callable[[int, int | None], None] | None,
               cancelled: Callable[[], bool] = lambda: False) -> None:  # fmt: skip
    """``llama_model_quantize`` of ``source`` into ``tmp`` in a child process."""
    log_file = log_path(f"quantize-{os.getpid()}")
    ensure_resource_tracker()
    ctx = mp.get_context("spawn")
    threads = threads or os.cpu_count() or 1
    proc = ctx.Process(target=_child, args=(str(source), str(tmp), FTYPES[t], threads, requantize, str(log_file)))
    proc.start()
    expected = _expected_bytes(header, t)
    written = 0
    try:
        watch = StopWatch(proc.pid)
        while proc.is_alive():
            proc.join(0.2)
            written = tmp.stat().st_size if tmp.exists() else written
            if progress is not None:
                progress(written, expected)
            if stopped := watch.why():
                raise QuantizeError(f"{source}: the quantizing process was given up ({stopped})")
            if cancelled():
                raise QuantizeError(f"{source}: quantizing cancelled; nothing was written")
    except BaseException:
        proc.kill()
        proc.join()
        raise
    if proc.exitcode != 0 or not tmp.is_file():
        if _filled_up(tmp, written):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        why = last_log_line(log_file) or f"exit code {proc.exitcode}"
        raise QuantizeError(f"{source}: llama.cpp could not quantize it to {t} ({why})")
    log_file.unlink(missing_ok=True)


def quantize_job(src: str | Path, type_name: str, out: str | Path | None = None, *, threads: int | None = None,
                 force: bool = False) -> ThreadJob:  # fmt: skip
    """``quantize_gguf`` as a job: ``Progress("write", bytes, expected bytes)`` as the file
    grows, then ``Finished`` with the ``Quantized``; a cancel ends the child and
    writes nothing (its partial result names no output)."""
    t = check_type(type_name)

    def work(progress, cancelled) -> Quantized:
        def say(written: int, expected: int | None) -> None:
            progress(Progress("write", written, max(expected or 0, written), f"{Path(src).name} to {t}", unit="B"))

        return quantize_gguf(src, t, out, threads=threads, force=force, progress=say, cancelled=cancelled)

    return ThreadJob(work, lambda: Quantized(source=str(src), type=t))


def _filled_up(tmp: Path, written: int) -> bool:
    """Whether a failed write stopped because the output's disk is full: llama.cpp only
    says ``basic_ios::clear: iostream error``. Less than a MiB left, or less than the
    partial output, after it wrote something."""
    import shutil

    try:
        free = shutil.disk_usage(tmp.parent).free
        size = tmp.stat().st_size if tmp.exists() else written
    except OSError:
        return False
    return size > 0 and free < max(2**20, size // 64)


def _expected_bytes(header, t: str) -> int:
    """About the size of the output, for the progress bar: matrices at the type's base
    bits (a K-quant mix moves some tensors up or down), vectors in F32."""
    from .gguf_file import type_bits

    base = t.rsplit("_", 1)[0] if t.endswith(("_M", "_S", "_L")) else t  # Q4_K_M -> Q4_K
    bits = type_bits(base)
    total = sum(x.n_elements * (bits if len(x.shape) >= 2 else 32) for x in header.tensors) / 8
    return int(total) + header.data_offset
