"""Where an experiment's report files go, written whole (never half a file)."""

from __future__ import annotations

import time
from pathlib import Path

from .. import paths
from ..util.files import atomic_write_text


def write_reports(
    kind: str, name: str, texts: dict[str, tuple[str, str]], out_dir: str | Path | None
) -> dict[str, Path]:
    """``texts`` maps a format to (file name, text); the files land in ``out_dir`` or in
    ``<data>/<kind>/<time>-<name>``. Returns format -> path."""
    if out_dir is None:
        out_dir = paths.data_dir() / kind / f"{time.strftime('%Y%m%d-%H%M%S')}-{Path(name).name}"
    folder = Path(out_dir).expanduser()
    files = {}
    for fmt, (filename, text) in texts.items():
        files[fmt] = folder / filename
        atomic_write_text(files[fmt], text)
    return files
