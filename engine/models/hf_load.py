"""Loading models with Hugging Face transformers: specs, quantization configs, GGUF conversion.

A spec is ``hf:PATH?dtype=bf16&quant=bnb4``. PATH is a model folder (config.json +
safetensors), a ``.gguf`` file, or a registered model name (its GGUF). transformers
dequantizes a GGUF on load, which takes tens of seconds (its gguf-py reader is slow),
so the first load converts it once into a cached safetensors folder that later loads
read directly.

Nothing here imports torch or transformers at module import; ``transformers()``
does it, quietly (torchao and torch log import-time noise that tore the TUI).
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from .. import paths
from ..errors import BackendUnavailable, ModelFileError, SpecError, first_line
from ..util.files import cached_sha256, loads_json, output_error, staged
from ..util.logs import adopt_library_logger
from .quant_methods import DTYPES, QUANTS, missing_library

DEVICE_MAPS = ("cpu", "cuda", "auto")
_OPTIONS = {"dtype", "quant", "device_map", "trust_remote_code", "allow_pickle"}


@dataclass(frozen=True)
class HFSpec:
    path: Path  # a folder, or a .gguf file
    dtype: str = "auto"
    quant: str = "none"
    device_map: str = "cpu"
    trust_remote_code: bool = False
    allow_pickle: bool = False
    spec: str = ""
    base: str = ""  # how the spec named the model: a registry name, or the path's name

    @property
    def is_gguf(self) -> bool:
        return self.path.is_file() and self.path.suffix.lower() == ".gguf"

    @property
    def variant(self) -> str:
        """What the loader does to the weights: fp32, bf16, bnb4, quanto-int8 ... ("hf" for as-is)."""
        if self.quant != "none":
            return self.quant
        return self.dtype if self.dtype != "auto" else "hf"

    @property
    def label(self) -> str:
        """``smollm2 hf:bnb4``: a contestant's name in panes, tables and sessions."""
        name = self.base or self.path.name
        return f"{name} hf" if self.variant == "hf" else f"{name} hf:{self.variant}"


def parse_hf_spec(spec: str) -> HFSpec:
    """``hf:PATH?dtype=..&quant=..`` (the ``hf:`` prefix is optional here)."""
    body = spec.strip().removeprefix("hf:")
    where, _, query = body.partition("?")
    if not where:
        raise SpecError(f"{spec!r}: expected hf:PATH[?dtype=..&quant=..]")
    opts: dict[str, Any] = {}
    for key, value in parse_qsl(query, keep_blank_values=True):
        if key not in _OPTIONS:
            raise SpecError(f"{spec!r}: unknown option {key!r} (options: {', '.join(sorted(_OPTIONS))})")
        opts[key] = value
    dtype = opts.get("dtype", "auto")
    if dtype not in DTYPES:
        raise SpecError(f"{spec!r}: dtype {dtype!r} is not one of {', '.join(DTYPES)}")
    quant = opts.get("quant", "none")
    if quant not in QUANTS:
        raise SpecError(f"{spec!r}: quant {quant!r} is not one of {', '.join(QUANTS)}")
    flags = {k: str(opts.get(k, "")).lower() in ("1", "true", "yes") for k in ("trust_remote_code", "allow_pickle")}
    path = _locate(where, spec)
    base = where if not Path(where).expanduser().exists() else (path.stem if path.is_file() else path.name)
    return HFSpec(path, dtype, quant, opts.get("device_map", "cpu"), spec=spec, base=base, **flags)


def _locate(where: str, spec: str) -> Path:
    path = Path(where).expanduser()
    if path.exists():
        return path
    from .registry import named_gguf

    if "/" not in where:
        try:
            return named_gguf(where)[0]  # a registered or demo model: its GGUF
        except SpecError:
            pass
    raise ModelFileError(f"{path}: no such model folder or file (from {spec!r}); models are never downloaded here")


def transformers():
    """Import transformers with its import-time noise silenced; a clear error if missing."""
    for name in ("torchao", "torch.utils._pytree", "torch._dynamo"):
        logging.getLogger(name).setLevel(logging.ERROR)
    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
    try:
        import transformers as tf
    except ImportError:
        raise BackendUnavailable(
            "transformers is not installed: run `make setup` (or pip install 'llmbench[hf]')"
        ) from None
    adopt_library_logger("transformers")  # its warnings to llmbench's log file, not the screen
    tf.utils.logging.disable_progress_bar()
    return tf


def quantization_config(quant: str, compute_dtype: Any = None):
    """The transformers quantization config for one of ``QUANTS`` (None for "none")."""
    tf = transformers()
    if quant == "none":
        return None
    if quant.startswith("bnb"):
        _need(quant)
        if quant == "bnb8":
            return tf.BitsAndBytesConfig(load_in_8bit=True)
        kw = {"bnb_4bit_compute_dtype": compute_dtype} if compute_dtype is not None else {}
        return tf.BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="fp4" if quant == "bnb4-fp4" else "nf4",
            bnb_4bit_use_double_quant=quant == "bnb4-dq",
            **kw,
        )
    if quant.startswith("quanto"):
        _need(quant)
        return tf.QuantoConfig(weights=quant.split("-")[1])
    if quant == "torchao-int8":
        _need(quant)
        from torchao.quantization import Int8WeightOnlyConfig

        return tf.TorchAoConfig(Int8WeightOnlyConfig())
    raise SpecError(f"quant {quant!r} is not one of {', '.join(QUANTS)}")


def _need(quant: str) -> None:
    lib = missing_library(quant)
    if lib is not None:
        raise BackendUnavailable(f"quant={quant} needs {lib}, which is not installed here")


def cuda_available() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available()


PREQUANTIZED = {"gptq": "gptqmodel", "awq": "awq"}  # quant_method -> the library transformers needs


def checkpoint_quant(folder: Path) -> str | None:
    """The quant_method of a pre-quantized checkpoint (gptq, awq, ...), from its config.json."""

    try:
        config = loads_json((folder / "config.json").read_text())
    except (OSError, ValueError):
        return None
    method = (config.get("quantization_config") or {}).get("quant_method")
    return str(method).lower() if method else None


def check_runnable(spec: HFSpec) -> None:
    """Refuse, with one line, what this machine cannot run: before anything is loaded."""
    import importlib.util

    cuda = cuda_available()
    if spec.device_map == "cuda" and not cuda:
        raise BackendUnavailable(
            f"{spec.spec or spec.path}: device_map=cuda but this machine has no CUDA GPU (use device_map=cpu or auto)"
        )
    if spec.device_map not in DEVICE_MAPS and not spec.device_map.startswith("cuda:"):
        raise SpecError(f"{spec.spec}: device_map {spec.device_map!r} is not one of {', '.join(DEVICE_MAPS)}")
    method = None if spec.is_gguf or not spec.path.is_dir() else checkpoint_quant(spec.path)
    if method in PREQUANTIZED:
        if spec.quant != "none":
            raise SpecError(f"{spec.path}: already a {method.upper()} checkpoint; drop quant={spec.quant}")
        if not cuda:
            raise BackendUnavailable(
                f"{spec.path}: a {method.upper()} checkpoint runs on a CUDA GPU and this machine has none"
            )
        lib = PREQUANTIZED[method]
        if importlib.util.find_spec(lib) is None:
            raise BackendUnavailable(f"{spec.path}: a {method.upper()} checkpoint needs {lib}, which is not installed")
    if spec.path.is_dir() and not spec.trust_remote_code:
        try:
            auto_map = loads_json((spec.path / "config.json").read_text()).get("auto_map")
        except (OSError, ValueError):
            auto_map = None
        if auto_map:
            raise SpecError(
                f"{spec.path}: its config.json asks to run the checkpoint's own Python code (auto_map); "
                f"llmbench runs it only with trust_remote_code=1 in the spec"
            )
    quantization_config(spec.quant)  # a missing library is named here, before the weights are read


def _torch_dtype(name: str):
    import torch

    return {"auto": "auto", "fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[name]


@dataclass
class HFModel:
    model: Any
    spec: HFSpec
    folder: Path  # the folder transformers read (the cached conversion for a GGUF)
    load_s: float
    notes: list[str] = field(default_factory=list)


def load_model(spec: HFSpec) -> HFModel:
    """Load (and quantize) a causal LM with transformers, from local files only."""
    tf = transformers()
    notes = []
    t_convert = time.perf_counter()
    folder = gguf_as_hf_folder(spec.path) if spec.is_gguf else spec.path
    if spec.is_gguf:
        took = time.perf_counter() - t_convert
        notes.append(
            f"dequantized from {spec.path.name}" + (f" (converted once in {took:.0f} s, cached)" if took > 2 else "")
        )
    if spec.quant != "none":
        notes.append(f"quantized at load: {QUANTS[spec.quant]}")
    if not (folder / "config.json").exists():
        raise ModelFileError(f"{folder}: no config.json in this folder, so no model to load")
    if not spec.allow_pickle and not any(folder.glob("*.safetensors")):
        found = "pickle weights (*.bin/*.pt)" if any(folder.glob("*.bin")) or any(folder.glob("*.pt")) else "no weights"
        raise ModelFileError(f"{folder}: {found}; llmbench loads safetensors only unless the spec says allow_pickle=1")
    dtype = _torch_dtype(spec.dtype)
    qconfig = quantization_config(spec.quant, None if dtype == "auto" else dtype)
    t0 = time.perf_counter()
    try:
        model = tf.AutoModelForCausalLM.from_pretrained(
            folder,
            dtype=dtype,
            quantization_config=qconfig,
            device_map=spec.device_map,
            local_files_only=True,
            trust_remote_code=spec.trust_remote_code,
            use_safetensors=not spec.allow_pickle,
        )
    except (OSError, ValueError, KeyError, RuntimeError, ImportError) as exc:
        first = first_line(exc)
        raise ModelFileError(f"{folder}: transformers could not load it ({first})") from None
    model.eval()
    return HFModel(model, spec, folder, time.perf_counter() - t0, notes)


def _conversion_key(path: Path) -> str:
    return hashlib.sha256(f"{cached_sha256(path)}:{_tf_version()}".encode()).hexdigest()[:16]


def _tf_version() -> str:
    from importlib.metadata import version

    return version("transformers")


def _convert(tf, torch, path: Path, folder: Path) -> None:
    try:
        model = tf.AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name, dtype=torch.float32)
        tokenizer = tf.AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        raise ModelFileError(f"{path}: transformers cannot load this GGUF ({first_line(exc)})") from None
    # the dequantized weights are plain tensors now: drop the GGUF "quantizer" so they save
    model.hf_quantizer = None
    for holder in (model, model.config):
        if "quantization_config" in vars(holder):
            delattr(holder, "quantization_config")
    model.config.save_pretrained(folder)
    from safetensors.torch import save_model

    save_model(model, str(folder / "model.safetensors"))
    tokenizer.save_pretrained(folder)


def gguf_as_hf_folder(path: Path) -> Path:
    """A safetensors folder holding this GGUF dequantized to fp32 (config, weights, tokenizer).

    Converted once and cached by the file's sha256; the conversion is written to a
    temporary folder and renamed (``util.files.staged``), so an interrupted one leaves
    nothing half-made.
    """
    root = paths.cache_dir() / "hf-from-gguf"
    target = root / f"{path.stem}-{_conversion_key(path)}"
    if (target / "config.json").exists():
        return target
    tf = transformers()
    import torch

    try:
        with staged(target, f"{path.stem}-*") as tmp:
            tmp.mkdir()
            _convert(tf, torch, path, tmp)
    except OSError as exc:
        if (target / "config.json").exists():  # another run converted it at the same time
            return target
        raise ModelFileError(output_error(target, exc)) from None
    return target
