"""Retrieval for the TUI, in a child process that keeps the embedder loaded.

``RagClient`` is the parent's handle; ``client.retriever(name)`` is a ``Searcher``
that ``RagChat`` and ``Evaluation`` use like a local ``Retriever``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ..jobs import Progress
from ..util.service import Service
from .collection import IndexReport
from .retrieve import TOP_K, WEIGHTS, Retrieval


class RagBackend:
    """Lives in the child: one Retriever per collection, one embedder shared by all."""

    def __init__(self) -> None:
        self.retrievers: dict = {}
        self.embedders: dict = {}

    def _retriever(self, name: str, progress=None):
        from .demo import ensure_collection
        from .embed import Embedder
        from .retrieve import Retriever

        if name not in self.retrievers:
            ensure_collection(name, progress)
            from .collection import Collection

            coll = Collection.load(name)
            spec = coll.embedder_spec
            if spec not in self.embedders:
                self.embedders[spec] = Embedder(spec)
            self.retrievers[name] = Retriever(coll, self.embedders[spec])
        return self.retrievers[name]

    def open(self, name: str, progress=None) -> dict:
        """Build the demo if needed, load the collection and the embedder; its size."""
        r = self._retriever(name, progress)
        r.warm_up()
        m = r.collection.manifest
        return {
            "name": name,
            "chunks": len(r.collection),
            "files": len(m["files"]),
            "index": m["index"],
            "embedder": m["embedder"]["name"],
        }

    def search(self, name: str, question: str, k: int, weights, use_mmr: bool) -> Retrieval:
        return self._retriever(name).search(question, k=k, weights=weights, use_mmr=use_mmr)

    def similarity(self, name: str, pairs) -> list[float]:
        return self._retriever(name).similarity(pairs)

    def index_add(self, name: str, paths: list[str], progress=None) -> IndexReport:
        from .collection import index_add
        from .demo import DEMO_COLLECTION, demo_sources

        sources = demo_sources() if name == DEMO_COLLECTION and not paths else None
        report = index_add(name, paths, sources=sources, progress=progress)
        self.retrievers.pop(name, None)  # the next question loads the new version
        return report

    def collections(self) -> list[dict]:
        from .collection import list_collections

        return list_collections()


class RemoteRetriever:
    def __init__(self, client: RagClient, name: str):
        self.client, self.name = client, name

    def search(
        self, question: str, k: int = TOP_K, weights: Sequence[float] = WEIGHTS, use_mmr: bool = False
    ) -> Retrieval:
        return self.client.service.call("search", self.name, question, k, tuple(weights), use_mmr)

    def similarity(self, pairs: Sequence[tuple[str, str]]) -> list[float]:
        return self.client.service.call("similarity", self.name, list(pairs))


class RagClient:
    def __init__(self) -> None:
        self.service = Service(RagBackend, "rag")

    def retriever(self, name: str) -> RemoteRetriever:
        return RemoteRetriever(self, name)

    def open(self, name: str, progress: Callable[[Progress], None] | None = None) -> dict:
        return self.service.call("open", name, progress=progress)

    def index_add(
        self,
        name: str,
        paths: list[str],
        progress: Callable[[Progress], None] | None = None,
        cancelled: Callable[[], bool] = lambda: False,
    ) -> IndexReport:
        return self.service.call("index_add", name, list(paths), progress=progress, cancelled=cancelled)

    def collections(self) -> list[dict]:
        return self.service.call("collections")

    def close(self) -> None:
        self.service.stop(graceful=True)
