"""User settings (theme, last models, parameters) in ``config.json``; written atomically."""

from __future__ import annotations

import json
import threading
from typing import Any

from . import paths
from .util.files import atomic_write_json

_LOCK = threading.Lock()  # two saves at once must not lose one's change


def load_config() -> dict[str, Any]:
    path = paths.config_path()
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}  # a missing or broken config falls back to the defaults
    return data if isinstance(data, dict) else {}


def save_config(**changes: Any) -> None:
    """Merge ``changes`` into the config file. Failure to write is not fatal."""
    with _LOCK:
        data = load_config()
        data.update(changes)
        try:
            atomic_write_json(paths.config_path(), data)
        except OSError:
            pass
