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

    def clear(self) -> None:
        """Empty the KV cache."""
        self.llm._ctx.kv_cache_clear()

    def decode(self) -> None:
        """Decode the batch as filled (a LlamaCpp error raises)."""
        self.llm._ctx.decode(self.llm._batch)
