"""The one place llmbench reads llama-cpp-python's private attributes.

``Llama`` gives no public handle to its vocabulary, its context or its batch, and the
low-level API needs them: the sampler chain reads the vocabulary, ``llama_set_n_threads``
and the perf counters take the raw context, the scorer and the bench decode their own
batches. ``Handles`` names each of them once, so a change in llama-cpp-python breaks
here and nowhere else (``tests/test_structure.py`` holds that rule).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Handles:
    llm: Any  # llama_cpp.Llama

    @property
    def vocab(self):
        """The ``llama_vocab *`` (``llama_vocab_*`` calls, the sampler chain)."""
        return self.llm._model.vocab

    @property
    def ctx(self):
        """The raw ``llama_context *`` (threads, perf counters, logits, synchronize)."""
        return self.llm._ctx.ctx

    @property
    def memory(self):
        """The context's KV memory (``llama_memory_*``), or None."""
        return self.llm._ctx.memory

    @property
    def batch(self):
        """The ``llama_batch`` that ``decode`` sends: fill it, then decode."""
        return self.llm._batch.batch

    def n_ctx_train(self) -> int:
        return self.llm._model.n_ctx_train()

    def model_desc(self) -> str:
        """llama.cpp's own name of the model (``llama 256M Q4_1``), as llama-bench's ``model_type``."""
        import ctypes

        import llama_cpp

        buf = ctypes.create_string_buffer(256)
        llama_cpp.llama_model_desc(self.llm._model.model, buf, ctypes.sizeof(buf))
        return buf.value.decode(errors="replace")

    def setup(self) -> dict:
        """How this model and context were set up, in llama-bench's fields and spellings
        (``Loaded.setup``): what a llama-bench run must be given to measure the same thing."""
        import llama_cpp

        mp, cp = self.llm.model_params, self.llm.context_params
        return {
            "backends": _backends(llama_cpp.llama_print_system_info().decode(errors="replace")),
            "model_type": self.model_desc(),
            "model_size": llama_cpp.llama_model_size(self.llm._model.model),  # its tensors' bytes, as llama-bench
            "model_n_params": llama_cpp.llama_model_n_params(self.llm._model.model),
            "n_batch": cp.n_batch,
            "n_ubatch": cp.n_ubatch,
            "type_k": _TYPES.get(cp.type_k, str(cp.type_k)),
            "type_v": _TYPES.get(cp.type_v, str(cp.type_v)),
            "n_gpu_layers": mp.n_gpu_layers,
            "split_mode": _SPLIT.get(mp.split_mode, str(mp.split_mode)),
            "main_gpu": mp.main_gpu,
            "no_kv_offload": not cp.offload_kqv,
            "flash_attn": cp.flash_attn_type,  # -1 auto, 0 off, 1 on
            "load_mode": _LOAD.get(mp.load_mode, str(mp.load_mode)),
            "lazy_mode": _LAZY.get(mp.lazy_mode, str(mp.lazy_mode)),
            "embeddings": bool(cp.embeddings),
            "no_op_offload": int(not cp.op_offload),
            "no_host": bool(mp.no_host),
            "repack": bool(mp.use_extra_bufts),
        }

    def clear(self) -> None:
        """Empty the KV cache."""
        self.llm._ctx.kv_cache_clear()

    def decode(self) -> None:
        """Decode the batch as filled (a LlamaCpp error raises)."""
        self.llm._ctx.decode(self.llm._batch)


# llama.cpp's enums, named as llama-bench prints them
_TYPES = {0: "f32", 1: "f16", 2: "q4_0", 3: "q4_1", 6: "q5_0", 7: "q5_1", 8: "q8_0", 30: "bf16"}
_SPLIT = {0: "none", 1: "layer", 2: "row", 3: "tensor"}
_LOAD = {-1: "auto", 0: "none", 1: "mmap", 2: "mlock", 3: "mmap+mlock", 4: "dio"}
_LAZY = {0: "off", 1: "auto", 2: "on"}


def _backends(system_info: str) -> str:
    """llama-bench's ``backends``: the registered backends other than the CPU's
    (``CUDA``), or ``CPU``; read off ``llama_print_system_info`` (``CUDA : ARCHS = ... |``)."""
    names = []
    for part in system_info.split("|"):
        name = part.split(":", 1)[0].strip()
        if ":" in part and name and name.isupper() and name not in ("CPU", *names) and " " not in name:
            names.append(name)
    return ",".join(names) or "CPU"
