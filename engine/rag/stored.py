"""One version of a collection on disk: written whole, read back checked.

A version folder holds ``manifest.json``, ``chunks.jsonl``, ``embeddings.npy``,
``bm25.npz`` and ``bm25_vocab.json`` (and ``dense.faiss`` for an HNSW index).
``write_version`` writes a new one, fsyncs it and swaps ``CURRENT`` to it.
``read_version`` checks every field and every size the rest of llmbench relies on before
anything is searched. A damaged or hand-edited version is a ``CollectionError`` naming
the folder and what is wrong, never an IndexError in the middle of a question.
"""

from __future__ import annotations

import json
import secrets
import shutil
import time
import zipfile
from pathlib import Path

import numpy as np

from ..errors import CollectionError, first_line
from ..util.files import atomic_write_text, fsync_path, loads_json, output_error, staged
from .bm25 import BM25

SCHEMA = 1
INDEXES = ("flat", "hnsw")
# what a damaged file can raise while numpy, zipfile or json read it
UNREADABLE = (OSError, ValueError, KeyError, TypeError, IndexError, EOFError, zipfile.BadZipFile)


def current_version(root: Path) -> Path | None:
    """The live version folder of the collection at ``root``, or None."""
    try:
        version = (root / "CURRENT").read_text(encoding="utf-8").strip()
    except (OSError, ValueError):
        return None
    folder = root / version
    return folder if version.startswith("v-") and "/" not in version and folder.is_dir() else None


def read_manifest(folder: Path) -> dict:
    """The manifest, checked; ValueError (or OSError) says what is wrong."""
    m = loads_json((folder / "manifest.json").read_text(encoding="utf-8"))
    _expect(isinstance(m, dict), "manifest.json is not a JSON object")
    schema = m.get("schema")
    _expect(_is_int(schema) and schema >= 1, f"manifest.json has schema {schema!r}")
    if schema > SCHEMA:
        raise CollectionError(f"{folder}: made by a newer llmbench (schema {schema})")
    emb = m.get("embedder")
    _expect(isinstance(emb, dict), "manifest.json has no embedder")
    _expect(isinstance(emb.get("name"), str) and isinstance(emb.get("path"), str), "the embedder has no name or path")
    _expect(_is_int(emb.get("dim")) and 0 < emb["dim"] <= 65_536, f"the embedder's dim is {emb.get('dim')!r}")
    _expect(m.get("index") in INDEXES, f"manifest.json has index {m.get('index')!r}")
    n = m.get("n_chunks")
    _expect(_is_int(n) and n >= 0, f"manifest.json has n_chunks {n!r}")
    for key in ("created", "updated", "name"):
        _expect(isinstance(m.get(key), str), f"manifest.json has no {key}")
    files = m.get("files")
    _expect(isinstance(files, dict), "manifest.json has no files")
    for key, info in files.items():
        span = info.get("chunks") if isinstance(info, dict) else None
        _expect(
            isinstance(info, dict) and isinstance(info.get("sha256"), str) and isinstance(span, list)
            and len(span) == 2 and all(_is_int(x) for x in span) and 0 <= span[0] <= span[1] <= n,
            f"manifest.json's entry for {key[:80]!r} is malformed",
        )  # fmt: skip
    return m


def read_version(folder: Path) -> tuple[dict, list[dict], np.ndarray, BM25]:
    """Manifest, chunks, embeddings and BM25 index of one version, all checked to agree."""
    try:
        manifest = read_manifest(folder)
        with open(folder / "chunks.jsonl", encoding="utf-8") as fh:
            chunks = [_chunk(loads_json(line), i) for i, line in enumerate(fh, 1)]
        embeddings = np.load(folder / "embeddings.npy")
        bm25 = BM25.load(folder)
    except UNREADABLE as exc:
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else first_line(exc) or type(exc).__name__
        raise CollectionError(f"{folder}: the collection is damaged ({why}); index it again") from None
    n, dim = manifest["n_chunks"], manifest["embedder"]["dim"]
    if len(chunks) != n or embeddings.shape != (n, dim) or bm25.n_docs != n:
        raise CollectionError(
            f"{folder}: chunks ({len(chunks)}), embeddings {embeddings.shape} and BM25 ({bm25.n_docs}) disagree "
            f"with the manifest ({n} chunks of {dim}); index it again"
        )
    if embeddings.dtype != np.float32:
        raise CollectionError(f"{folder}: embeddings are {embeddings.dtype}, not float32; index it again")
    return manifest, chunks, embeddings, bm25


def _write_files(folder: Path, manifest: dict, chunks: list[dict], embeddings: np.ndarray, bm25: BM25,
                 dense) -> None:  # fmt: skip
    with open(folder / "chunks.jsonl", "w", encoding="utf-8") as fh:
        for c in chunks:
            fh.write(json.dumps(c, ensure_ascii=False) + "\n")
    np.save(folder / "embeddings.npy", embeddings.astype(np.float32))
    bm25.save(folder)
    if dense is not None:
        import faiss

        faiss.write_index(dense, str(folder / "dense.faiss"))
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=1, ensure_ascii=False), encoding="utf-8")
    for f in folder.iterdir():
        fsync_path(f)


def write_version(root: Path, manifest: dict, chunks: list[dict], embeddings: np.ndarray, bm25: BM25, dense) -> Path:
    """Write a complete new version, then point CURRENT at it; old versions go after."""
    version = f"v-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}"
    folder = root / version
    try:
        with staged(folder, "v-*") as tmp:  # complete, then named; a killed run's partial goes
            tmp.mkdir()
            _write_files(tmp, manifest, chunks, embeddings, bm25, dense)
        atomic_write_text(root / "CURRENT", version + "\n")  # the swap: atomic on POSIX
        fsync_path(root)
    except BaseException as exc:
        shutil.rmtree(folder, ignore_errors=True)
        if isinstance(exc, OSError):  # a full disk: the new version goes, the live one stays
            raise CollectionError(f"{output_error(folder, exc)}; the collection is unchanged") from None
        raise
    for other in root.iterdir():  # earlier versions, and leftovers of interrupted runs
        if other.name != version and other.name.startswith("v-"):
            if other.is_dir():
                shutil.rmtree(other, ignore_errors=True)
            else:
                other.unlink(missing_ok=True)
    return folder


def _chunk(c: object, line: int) -> dict:
    """A chunk as retrieval reads it: text and source strings, page and section optional."""
    _expect(
        isinstance(c, dict) and isinstance(c.get("text"), str) and isinstance(c.get("source"), str)
        and (c.get("page") is None or _is_int(c["page"]))
        and (c.get("section") is None or isinstance(c["section"], str)),
        f"chunks.jsonl line {line} is not a chunk",
    )  # fmt: skip
    return c


def _is_int(x: object) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _expect(ok: bool, why: str) -> None:
    if not ok:
        raise ValueError(why)
