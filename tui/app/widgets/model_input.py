"""The model field: a name or a path, completed from the known models. A path shows its end
(the file name) whenever the field is not being edited, so two paths in one folder differ;
a name shows its start."""

from __future__ import annotations

from pathlib import Path

from textual.suggester import SuggestFromList
from textual.widgets import Input


def short_spec(spec: str) -> str:
    """What a pane title shows for a model: its name, or a path's file name."""
    spec = spec.strip()
    if "/" in spec or "\\" in spec:
        return Path(spec.rstrip("/\\")).name or spec
    return spec


class ModelInput(Input):
    def __init__(self, value: str = "", **kwargs):
        super().__init__(value, **kwargs)
        self.tooltip = value or None

    def on_mount(self) -> None:
        self.suggester = SuggestFromList(self.app.model_names, case_sensitive=False)
        self.call_after_refresh(self._show_end)

    def on_blur(self) -> None:
        self.call_after_refresh(self._show_end)

    def watch_value(self, value: str) -> None:
        self.tooltip = value or None
        if not self.has_focus:  # set by the app (a replay, a remembered value)
            self.call_after_refresh(self._show_end)

    def _show_end(self) -> None:
        if short_spec(self.value) != self.value.strip():  # a path
            self.cursor_position = len(self.value)
            self.scroll_to(x=self.max_scroll_x, animate=False, force=True)
