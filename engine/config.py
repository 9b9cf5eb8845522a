"""User settings (theme, last models, parameters) in ``config.json``; written atomically."""

from __future__ import annotations

import json
import os
from typing import Any

from . import paths


def load_config() -> dict[str, Any]:
    path = paths.config_path()
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}  # a missing or broken config falls back to the defaults
    return data if isinstance(data, dict) else {}


def save_config(**changes: Any) -> None:
    """Merge ``changes`` into the config file. Failure to write is not fatal."""
    path = paths.config_path()
    data = load_config()
    data.update(changes)
    try:
        paths.ensure(path.parent)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True))
        os.replace(tmp, path)
    except OSError:
        pass
