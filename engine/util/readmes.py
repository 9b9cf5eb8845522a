"""The READMEs of installed packages, read through ``importlib.metadata``: real English
text on every install, with no download. The demo corpus indexes them; the Duel's
context depth fills the context with them."""

from __future__ import annotations

import importlib.metadata as md

# the packages whose READMEs fill a context (``depth``): long, plain English, always installed
FILLER_PACKAGES = ("textual", "rich", "numpy", "jinja2", "psutil", "platformdirs")


def package_readme(package: str) -> tuple[str, str] | None:
    """(text, kind) of a package's README, or None when it is not installed or has none."""
    try:
        meta = md.metadata(package)
    except md.PackageNotFoundError:
        return None
    text = meta.get_payload() or meta.get("Description") or ""
    if len(text.strip()) < 200:
        return None
    kind = "markdown" if "markdown" in (meta.get("Description-Content-Type") or "") else "text"
    return f"# {meta['Name']} {meta['Version']}\n\n{text}", kind


def filler_text(min_chars: int) -> str:
    """At least ``min_chars`` characters of README text (repeated when they run out)."""
    texts = [found[0] for p in FILLER_PACKAGES if (found := package_readme(p)) is not None]
    if not texts:
        texts = ["The quick brown fox jumps over the lazy dog. " * 20]
    joined = "\n\n".join(texts)
    return (joined + "\n\n") * (min_chars // (len(joined) + 2) + 1)
