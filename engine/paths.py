"""Where llmbench keeps its data. ``LLMBENCH_HOME`` overrides every location.

Nothing here touches the disk at import time; ``ensure`` creates a folder on demand.
"""

from __future__ import annotations

import os
from pathlib import Path

APP = "llmbench"


def home_override() -> Path | None:
    value = os.environ.get("LLMBENCH_HOME")
    return Path(value).expanduser() if value else None


def data_dir() -> Path:
    home = home_override()
    if home:
        return home
    import platformdirs

    return Path(platformdirs.user_data_dir(APP))


def config_dir() -> Path:
    home = home_override()
    if home:
        return home
    import platformdirs

    return Path(platformdirs.user_config_dir(APP))


def cache_dir() -> Path:
    home = home_override()
    if home:
        return home / "cache"
    import platformdirs

    return Path(platformdirs.user_cache_dir(APP))


def models_dir() -> Path:
    return data_dir() / "models"


def shared_models_dir() -> Path:
    """Where pulled demo models live, read-only, for every home: the user's cache folder
    (platformdirs), which ``LLMBENCH_HOME`` does not move, so a test home or a second home
    finds the files this machine already has."""
    import platformdirs

    return Path(platformdirs.user_cache_dir(APP)) / "demo-models"


def default_models_dir() -> Path:
    """The models folder when ``LLMBENCH_HOME`` is not set (where demo models were pulled
    before the shared folder existed)."""
    import platformdirs

    return Path(platformdirs.user_data_dir(APP)) / "models"


def sessions_dir() -> Path:
    override = os.environ.get("LLMBENCH_SESSIONS")
    return Path(override).expanduser() if override else data_dir() / "sessions"


def registry_path() -> Path:
    return data_dir() / "registry.json"


def config_path() -> Path:
    return config_dir() / "config.json"


def package_data(name: str) -> Path | None:
    """A folder of data installed with llmbench as ``llmbench.<name>`` (``themes``, ``samples``):
    in the wheel, or the repository's folder in an editable install."""
    import importlib.util

    try:
        spec = importlib.util.find_spec(f"{APP}.{name}")
    except (ImportError, ValueError):
        return None
    for location in (spec.submodule_search_locations or []) if spec else []:
        if Path(location).is_dir():
            return Path(location)
    return None


def ensure(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path
