"""Named collections on disk: chunks, embeddings, a FAISS index and a BM25 index.

Layout of ``<data>/collections/NAME/``::

    CURRENT              the name of the live version folder (replaced atomically)
    v-<stamp>-<id>/      manifest.json, chunks.jsonl, embeddings.npy, bm25.npz,
                         bm25_vocab.json, and dense.faiss when the index is HNSW

Indexing writes a whole new version folder, fsyncs it, then swaps ``CURRENT``: an
interrupted or failed run never damages the collection that was there (``stored``
writes a version and reads one back checked). A file whose
SHA-256 has not changed keeps its chunks and embeddings; only new and changed files
are read and embedded again.
"""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import paths
from ..errors import CollectionError, DocumentError, LlmbenchError, first_line
from ..jobs import JobResult, Progress, ProgressFn, ThreadJob
from ..util.files import exclusive, file_sha256
from .bm25 import BM25, tokenize
from .chunk import CHUNK_OVERLAP, CHUNK_SIZE, chunk_document
from .documents import Document, find_files, read_document
from .embed import DEFAULT_EMBEDDER, Embedder
from .stored import SCHEMA, current_version, read_manifest, read_version, write_version

HNSW_THRESHOLD = 20_000  # chunks: exact inner product below, HNSW graph above
HNSW_M, HNSW_EF_CONSTRUCTION = 32, 80
STAMP = "%Y-%m-%dT%H:%M:%S%z"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def collections_dir() -> Path:
    return paths.data_dir() / "collections"


def check_name(name: str) -> str:
    if not _NAME.match(name or ""):
        raise CollectionError(
            f"{name!r} is not a valid collection name: use letters, digits, '.', '_' or '-' "
            "(at most 64, starting with a letter or digit)"
        )
    return name


def list_collections() -> list[dict]:
    out = []
    base = collections_dir()
    if not base.is_dir():
        return out
    for root in sorted(p for p in base.iterdir() if p.is_dir()):
        folder = current_version(root)
        if folder is None:
            continue
        try:  # one damaged manifest is reported by name; the others are listed
            m = read_manifest(folder)
            entry = {
                "name": root.name,
                "files": len(m["files"]),
                "chunks": m["n_chunks"],
                "embedder": m["embedder"]["name"],
                "index": m["index"],
                "updated": m["updated"],
                "bytes": sum(f.stat().st_size for f in folder.iterdir() if f.is_file()),
            }
        except (OSError, ValueError, CollectionError) as exc:
            entry = {"name": root.name, "error": f"damaged manifest ({first_line(exc)})"}
        out.append(entry)
    return out


def remove_collection(name: str) -> Path:
    root = collections_dir() / check_name(name)
    with _writing(name):
        if not root.is_dir():
            raise CollectionError(f"no collection named {name!r}{_known_hint()}")
        shutil.rmtree(root)
    return root


def _writing(name: str, say: ProgressFn = lambda p: None, cancelled: Callable[[], bool] = lambda: False):
    """One writer of a collection at a time: a second ``index add`` waits, then builds on the first's version."""
    return exclusive(
        collections_dir() / f".{name}.lock",
        f"collection {name!r}",
        waiting=lambda text: say(Progress("wait", 0, 0, text)),
        cancelled=cancelled,
    )


def _known_hint() -> str:
    names = [c["name"] for c in list_collections()]
    return f" (collections: {', '.join(names)})" if names else " (there are none yet: `llmbench index add NAME PATH`)"


# ---------------------------------------------------------------- a loaded collection


@dataclass
class Collection:
    name: str
    folder: Path
    manifest: dict
    chunks: list[dict]
    embeddings: np.ndarray
    bm25: BM25
    _dense: object = None

    @classmethod
    def load(cls, name: str) -> Collection:
        root = collections_dir() / check_name(name)
        folder = current_version(root)
        if folder is None:
            raise CollectionError(f"no collection named {name!r}{_known_hint()}")
        return cls(name, folder, *read_version(folder))

    def __len__(self) -> int:
        return len(self.chunks)

    @property
    def embedder_spec(self) -> str:
        e = self.manifest["embedder"]
        return DEFAULT_EMBEDDER if e["name"] == DEFAULT_EMBEDDER else e["path"]

    @property
    def dense(self):
        """The FAISS index: exact inner product (flat) or the stored HNSW graph."""
        if self._dense is None:
            import faiss

            if self.manifest["index"] == "hnsw":
                index = self.folder / "dense.faiss"
                try:  # faiss reports a damaged or missing file as a RuntimeError
                    self._dense = faiss.read_index(str(index))
                except RuntimeError:
                    raise CollectionError(f"{index}: missing or damaged; index it again") from None
                if (self._dense.ntotal, self._dense.d) != self.embeddings.shape:
                    raise CollectionError(f"{index}: does not match the embeddings; index it again")
            else:
                self._dense = build_dense(self.embeddings, "flat")
        return self._dense


def build_dense(embeddings: np.ndarray, kind: str):
    try:
        import faiss
    except ImportError:
        raise CollectionError("faiss is not installed: run `make setup` (or pip install 'llmbench[rag]')") from None
    dim = embeddings.shape[1]
    if kind == "hnsw":
        index = faiss.IndexHNSWFlat(dim, HNSW_M, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
    else:
        index = faiss.IndexFlatIP(dim)
    if len(embeddings):
        index.add(np.ascontiguousarray(embeddings, dtype=np.float32))
    return index


# ---------------------------------------------------------------- indexing


@dataclass
class Source:
    """One document to index: a file, or text (the demo corpus)."""

    key: str
    sha256: str
    load: Callable[[Callable[[str, int, int], None]], Document]
    size: int = 0


@dataclass(kw_only=True)
class IndexReport(JobResult):
    """An indexing run's result. A stopped run swaps in nothing: ``note`` says so."""

    name: str
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)  # one line each: file and reason
    warnings: list[str] = field(default_factory=list)
    chunks: int = 0
    new_chunks: int = 0
    embed_s: float = 0.0
    total_s: float = 0.0
    index: str = "flat"
    folder: str = ""
    note: str | None = None

    @property
    def chunks_per_s(self) -> float | None:
        return self.new_chunks / self.embed_s if self.embed_s > 0 else None

    def to_json(self) -> dict:
        return super().to_json() | {"chunks_per_s": self.chunks_per_s}


def file_sources(paths_: Iterable[str | Path]) -> tuple[list[Source], list[str], list[Path]]:
    """Sources for files and folders, the notes on skipped files, and the folders given."""
    paths_ = list(paths_)
    files, notes = find_files(paths_)
    sources = []
    for f in files:
        try:
            sha = file_sha256(f)
            size = f.stat().st_size
        except OSError as exc:
            raise DocumentError(f"{f}: cannot read it ({exc.strerror})") from None
        sources.append(Source(str(f), sha, lambda progress, f=f: read_document(f, progress), size))
    folders = [Path(p).expanduser().resolve() for p in paths_ if Path(p).expanduser().is_dir()]
    return sources, notes, folders


def index_add(
    name: str,
    paths_: Iterable[str | Path] = (),
    *,
    sources: list[Source] | None = None,
    embedder: str | Embedder | None = None,
    progress: ProgressFn | None = None,
    chunk_size: int = CHUNK_SIZE,
    overlap: int = CHUNK_OVERLAP,
    cancelled: Callable[[], bool] = lambda: False,
) -> IndexReport:
    """Add files (or ``sources``) to a collection, creating it if needed.

    Unchanged files are reused; files that vanished from a folder given here are
    dropped. Files that cannot be read are reported in ``failed`` and the rest are
    indexed; if nothing at all can be indexed, raises ``CollectionError``.
    """
    t0 = time.perf_counter()
    check_name(name)
    say = progress or (lambda p: None)
    report = IndexReport(name=name)
    folders: list[Path] = []
    if sources is None:
        say(Progress("scan", 0, 0, "finding files"))
        sources, notes, folders = file_sources(paths_)
        report.warnings += notes
    if not sources:
        raise CollectionError(f"nothing to index in {', '.join(map(str, paths_)) or 'the given paths'}")
    with _writing(name, say, cancelled):  # from reading the live version to swapping in the new one
        return _index_locked(name, sources, folders, embedder, say, chunk_size, overlap, cancelled, report, t0)


def _index_locked(name, sources, folders, embedder, say, chunk_size, overlap, cancelled, report, t0) -> IndexReport:
    old, emb = _previous(name, embedder, report)
    keep, todo = _plan(sources, old, folders, report)
    fresh = _read(todo, old, chunk_size, overlap, say, cancelled, report)
    if not fresh and not keep:
        raise CollectionError(f"nothing could be indexed: {'; '.join(report.failed) or 'no text found'}")
    new_vectors = _embed(fresh, emb, say, cancelled, report)
    files, chunks, embeddings = _assemble(keep, fresh, new_vectors, emb)
    if cancelled():
        raise CollectionError(_CANCELLED)
    report.index = "hnsw" if len(chunks) > HNSW_THRESHOLD else "flat"
    say(Progress("index", 0, len(chunks), f"BM25 and {report.index} index"))
    bm25 = BM25.build([tokenize(_bm25_text(c)) for c in chunks])
    dense = build_dense(embeddings, "hnsw") if report.index == "hnsw" else None
    manifest = {
        "schema": SCHEMA,
        "name": name,
        "created": old.manifest["created"] if old else time.strftime(STAMP),
        "updated": time.strftime(STAMP),
        "embedder": {"name": emb.name, "path": str(emb.path), "dim": int(embeddings.shape[1])},
        "chunking": {"size": chunk_size, "overlap": overlap},
        "index": report.index,
        "n_chunks": len(chunks),
        "files": files,
    }
    say(Progress("write", 0, 1, "writing the new version"))
    report.folder = str(
        write_version(paths.ensure(collections_dir()) / name, manifest, chunks, embeddings, bm25, dense)
    )
    report.chunks = len(chunks)
    report.total_s = time.perf_counter() - t0
    say(Progress("write", 1, 1, "done"))
    return report


_CANCELLED = "indexing cancelled; the collection is as it was"


def index_job(name: str, paths_: Iterable[str | Path] = (), **options) -> ThreadJob:
    """``index_add`` as a job: its ``Progress``, then ``Finished`` with the ``IndexReport``.
    Indexing swaps in a whole new version or nothing, so a cancelled run finishes with
    no files added and the collection as it was (``note`` says so)."""

    def work(progress, cancelled) -> IndexReport:
        return index_add(name, paths_, progress=progress, cancelled=cancelled, **options)

    return ThreadJob(work, lambda: IndexReport(name=name, note=_CANCELLED))


Kept = dict[str, tuple[dict, list[dict], np.ndarray]]  # key -> (file info, chunks, vectors) reused as they are
Fresh = dict[str, tuple[dict, list[dict]]]  # key -> (file info, chunks) read now


def _previous(name: str, embedder, report: IndexReport) -> tuple[Collection | None, Embedder]:
    """The current version (None when new, or damaged: "index it again" works) and its embedder."""
    try:
        old = Collection.load(name) if current_version(collections_dir() / name) is not None else None
    except CollectionError as exc:
        old = None
        report.warnings.append(f"{exc}: rebuilt from the files given now")
    emb = embedder if isinstance(embedder, Embedder) else Embedder(embedder or (old.embedder_spec if old else None))
    if old is not None and old.manifest["embedder"]["name"] != emb.name:
        raise CollectionError(
            f"collection {name!r} was embedded with {old.manifest['embedder']['name']}, not {emb.name}: "
            f"use another name, or `llmbench index rm {name}` first"
        )
    return old, emb


def _plan(
    sources: list[Source], old: Collection | None, folders: list[Path], report: IndexReport
) -> tuple[Kept, list[Source]]:
    """Which files are kept as they are, which are read again (or for the first time),
    and which are dropped (gone from a folder given)."""
    old_files: dict[str, dict] = dict(old.manifest["files"]) if old else {}
    keep: Kept = {}
    todo: list[Source] = []
    for src in sources:
        prev = old_files.get(src.key)
        if prev and prev["sha256"] == src.sha256 and old is not None:
            s, e = prev["chunks"]
            keep[src.key] = (prev, old.chunks[s:e], old.embeddings[s:e])
            report.unchanged.append(src.key)
        else:
            todo.append(src)
    given = {s.key for s in sources}
    for key, prev in old_files.items():
        if key in given:
            continue
        if any(_is_under(key, folder) for folder in folders) and not Path(key).exists():
            report.removed.append(key)
        elif old is not None:
            s, e = prev["chunks"]
            keep[key] = (prev, old.chunks[s:e], old.embeddings[s:e])
    return keep, todo


def _read(
    todo: list[Source],
    old: Collection | None,
    chunk_size: int,
    overlap: int,
    say: ProgressFn,
    cancelled: Callable[[], bool],
    report: IndexReport,
) -> Fresh:
    """Read and chunk what changed; a file that cannot be read is reported, not fatal."""
    old_files = old.manifest["files"] if old else {}
    fresh: Fresh = {}
    for i, src in enumerate(todo, 1):
        if cancelled():
            raise CollectionError(_CANCELLED)
        label = Path(src.key).name if not src.key.startswith("pkg:") else src.key

        def on_pages(stage: str, done: int, total: int, label=label, i=i) -> None:
            say(Progress("read", done, total, f"{label} ({i}/{len(todo)})"))

        say(Progress("read", 0, 0, f"{label} ({i}/{len(todo)})"))
        try:
            doc = src.load(on_pages)
        except LlmbenchError as exc:
            report.failed.append(str(exc))
            continue
        report.warnings += doc.warnings
        pieces = [c.to_dict() for c in chunk_document(doc, chunk_size, overlap)]
        if not pieces:
            report.failed.append(f"{src.key}: no text to index")
            continue
        info = {"sha256": doc.sha256 or src.sha256, "size": doc.size, "kind": doc.kind, "pages": doc.pages}
        fresh[src.key] = (info, pieces)
        (report.updated if src.key in old_files else report.added).append(src.key)
    return fresh


def _embed(
    fresh: Fresh, emb: Embedder, say: ProgressFn, cancelled: Callable[[], bool], report: IndexReport
) -> np.ndarray:
    """The new chunks' vectors, with chunks/s as they come."""
    new_texts = [c["text"] for _, pieces in fresh.values() for c in pieces]
    report.new_chunks = len(new_texts)
    if not new_texts:
        return np.zeros((0, 0), dtype=np.float32)
    t_embed = time.perf_counter()
    say(Progress("embed", 0, len(new_texts), f"loading {emb.name}"))

    def on_embed(done: int, total: int) -> None:
        if cancelled():
            raise CollectionError(_CANCELLED)
        elapsed = time.perf_counter() - t_embed
        say(Progress("embed", done, total, emb.name, done / elapsed if elapsed > 0 else None))

    vectors = emb.encode(_embed_texts(fresh), on_embed)
    report.embed_s = time.perf_counter() - t_embed
    return vectors


def _assemble(
    keep: Kept, fresh: Fresh, new_vectors: np.ndarray, emb: Embedder
) -> tuple[dict[str, dict], list[dict], np.ndarray]:
    """Files, chunks and vectors in a stable order: kept files, then new ones, as given."""
    files: dict[str, dict] = {}
    chunks: list[dict] = []
    vectors: list[np.ndarray] = []
    pos = 0
    for key, (info, pieces, vecs) in keep.items():
        files[key] = {**info, "chunks": [len(chunks), len(chunks) + len(pieces)]}
        chunks += pieces
        vectors.append(vecs)
    for key, (info, pieces) in fresh.items():
        files[key] = {**info, "chunks": [len(chunks), len(chunks) + len(pieces)]}
        chunks += pieces
        vectors.append(new_vectors[pos : pos + len(pieces)])
        pos += len(pieces)
    embeddings = np.concatenate(vectors) if vectors else np.zeros((0, emb.dim), np.float32)
    return files, chunks, embeddings


def _embed_texts(fresh: Fresh) -> list[str]:
    """What is embedded: the section title (when there is one) and the chunk's text."""
    return [
        f"{c['section']}\n{c['text']}" if c.get("section") else c["text"]
        for _, pieces in fresh.values()
        for c in pieces
    ]


def _bm25_text(chunk: dict) -> str:
    return f"{chunk.get('section') or ''} {chunk['text']}"


def _is_under(key: str, folder: Path) -> bool:
    try:
        Path(key).relative_to(folder)
        return True
    except ValueError:
        return False
