"""User settings (theme, last models, parameters) in ``config.json``; written atomically."""

from __future__ import annotations

import threading
from typing import Any

from . import paths
from .util.files import atomic_write_json, keep_aside, read_json_file

_LOCK = threading.Lock()  # two saves at once must not lose one's change


def read_config() -> tuple[dict[str, Any], str | None]:
    """The settings, and one line on what is wrong with the file (``None`` when nothing is):
    a missing file is no settings; a damaged one falls back to the defaults."""
    path = paths.config_path()
    data, problem = read_json_file(path, "the settings are")
    if problem:
        return {}, f"{problem}; the defaults are used"
    if data is not None and not isinstance(data, dict):
        return {}, f"{path}: the settings are not a JSON object; the defaults are used"
    return data or {}, None


def load_config() -> dict[str, Any]:
    return read_config()[0]


def save_config(**changes: Any) -> None:
    """Merge ``changes`` into the config file. A damaged file is kept aside first
    (``config.json.damaged-STAMP``), so no setting in it, an API key say, is silently
    dropped; when it cannot even be copied, nothing is written. Failure is not fatal."""
    with _LOCK:
        data, problem = read_config()
        data.update(changes)
        try:
            if problem:
                keep_aside(paths.config_path())
            atomic_write_json(paths.config_path(), data)
        except OSError:
            pass
