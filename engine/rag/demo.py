"""The built-in demo corpus: the READMEs of packages llmbench installs.

Each package's long description is read through ``importlib.metadata``: no download,
and it is on every install. The collection ``demo`` is indexed on first use and kept
up to date (a package upgraded since re-indexes that one README). The question set in
``data/demo_questions.jsonl`` has reference answers and the package each comes from.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from ..jobs import ProgressFn
from ..util.readmes import package_readme
from .collection import Collection, Source, collections_dir, index_add
from .documents import document_from_text
from .stored import current_version

DEMO_COLLECTION = "demo"
DEMO_QUESTIONS = Path(__file__).parent / "data" / "demo_questions.jsonl"
DEMO_PACKAGES = (
    "textual",
    "rich",
    "psutil",
    "platformdirs",
    "jinja2",
    "numpy",
    "llama_cpp_python",
    "gguf",
    "faiss-cpu",
    "pypdf",
    "rank-bm25",
    "sentence-transformers",
    "transformers",
    "accelerate",
    "bitsandbytes",
    "peft",
    "optimum-quanto",
    "torchao",
    "huggingface_hub",
    "tokenizers",
)


def demo_texts() -> list[tuple[str, str]]:
    """(package, README text) of every demo package installed here, in a fixed order."""
    return [(package, found[0]) for package in DEMO_PACKAGES if (found := package_readme(package)) is not None]


def demo_sources() -> list[Source]:
    sources = []
    for package in DEMO_PACKAGES:
        found = package_readme(package)
        if found is None:
            continue
        text, kind = found
        key = f"pkg:{package}"
        sha = hashlib.sha256(text.encode("utf-8")).hexdigest()
        sources.append(
            Source(
                key,
                sha,
                lambda progress, key=key, text=text, kind=kind: document_from_text(key, text, kind),
                len(text.encode("utf-8")),
            )
        )
    return sources


def demo_is_current() -> bool:
    if current_version(collections_dir() / DEMO_COLLECTION) is None:
        return False
    try:
        files = Collection.load(DEMO_COLLECTION).manifest["files"]
    except Exception:  # noqa: BLE001 - a damaged demo collection is rebuilt
        return False
    return all(files.get(s.key, {}).get("sha256") == s.sha256 for s in demo_sources())


def ensure_demo(progress: ProgressFn | None = None) -> bool:
    """Index the demo collection if it is missing or stale; True when it indexed."""
    if demo_is_current():
        return False
    index_add(DEMO_COLLECTION, sources=demo_sources(), progress=progress)
    return True


def ensure_collection(name: str, progress: ProgressFn | None = None) -> None:
    """The demo collection is built on first use; any other name must exist already."""
    if name == DEMO_COLLECTION:
        ensure_demo(progress)
