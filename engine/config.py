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


# The settings llmbench reads, with their types: a hand-edited value of another type is
# ignored (its default is used, and the file keeps it) rather than reaching a widget.
TYPES: dict[str, type | tuple[type, ...]] = {
    **dict.fromkeys(("duel_a", "duel_b", "duel_mode", "theme", "chat_collection", "chat_a", "chat_b"), str),
    **dict.fromkeys(("quant_base", "quant_questions", "quant_variants", "quant_types", "quant_tokens"), str),
    "openai_api_key": str,
    "duel_params": dict,
    "duel_repeat": int,
    "chat_k": int,
}


def read_settings() -> tuple[dict[str, Any], str | None]:
    """``read_config`` with every known setting of the right type (bool is not an int
    here); the others are left out and named in the problem line."""
    data, problem = read_config()
    wrong = sorted(k for k, t in TYPES.items() if k in data and not _typed(data[k], t))
    if wrong and not problem:
        problem = f"{paths.config_path()}: settings of the wrong type ignored: {', '.join(wrong)}"
    return {k: v for k, v in data.items() if k not in wrong}, problem


def _typed(value: Any, kind: type | tuple[type, ...]) -> bool:
    return isinstance(value, kind) and not (isinstance(value, bool) and kind is int)


def load_config() -> dict[str, Any]:
    return read_settings()[0]


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
