"""Themes as data: every ``*.toml`` in the repository's ``themes/`` and in the user's
``themes/`` folder becomes a Textual theme."""

from __future__ import annotations

import tomllib
from pathlib import Path

from textual.theme import Theme

from llmbench.engine import paths

DEFAULT_THEME = "llmbench-dark"
_COLOURS = (
    "primary",
    "secondary",
    "accent",
    "foreground",
    "background",
    "surface",
    "panel",
    "boost",
    "warning",
    "error",
    "success",
)


def theme_dirs() -> list[Path]:
    """The themes installed with llmbench (package data), then the user's own."""
    builtin = paths.package_data("themes")
    return [*([builtin] if builtin else []), paths.config_dir() / "themes"]


def load_theme(path: Path) -> Theme:
    """One theme file. Raises ValueError naming the file on a bad one."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ValueError(f"{path}: not a valid theme file ({exc})") from None
    if "name" not in data or "primary" not in data:
        raise ValueError(f"{path}: a theme needs at least 'name' and 'primary'")
    return Theme(
        name=str(data["name"]),
        dark=bool(data.get("dark", True)),
        variables={str(k): str(v) for k, v in data.get("variables", {}).items()},
        **{k: str(data[k]) for k in _COLOURS if k in data},
    )


def load_themes() -> tuple[list[Theme], list[str]]:
    """All themes found, and a warning per file that could not be read."""
    themes, problems = [], []
    for folder in theme_dirs():
        if not folder.is_dir():
            continue
        for path in sorted(folder.glob("*.toml")):
            try:
                themes.append(load_theme(path))
            except ValueError as exc:
                problems.append(str(exc))
    return themes, problems
