"""Backends turn a ModelInfo into typed events. Import a backend only where it runs."""

from __future__ import annotations

from ...models.info import ModelInfo
from ..params import GenParams
from .base import Backend


def create(model: ModelInfo, params: GenParams) -> Backend:
    """The backend for a resolved model. The heavy library is imported on ``load``."""
    if model.backend == "llama.cpp":
        from .llama_cpp import LlamaCppBackend

        return LlamaCppBackend(model, params)
    if model.backend == "hf":
        from .hf import HFBackend

        return HFBackend(model, params)
    if model.backend == "openai":
        from .remote import OpenAIBackend

        return OpenAIBackend(model, params)
    from ...errors import BackendUnavailable

    raise BackendUnavailable(f"{model.spec}: no backend named {model.backend!r}")
