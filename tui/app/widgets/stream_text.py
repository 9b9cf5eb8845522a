"""An answer while it streams: plain text, wrapped as it comes, its end in view.

Appending costs the same at token 2,000 as at token 100:

- earlier lines of a greedy word wrap never change, so only the last line is wrapped
  again with the new text;
- the widget's size never changes, so the screen is never laid out again while tokens
  stream, and it draws only the lines that changed (the Line API): the text does not
  scroll a line at a time, it fills the pane and, when full, moves up by half a pane,
  so most batches of tokens redraw one or two lines.

When the answer is done the pane shows it all as Markdown, rendered once and scrollable.
"""

from __future__ import annotations

import re

from rich.cells import cell_len
from rich.segment import Segment
from textual.geometry import Region
from textual.strip import Strip
from textual.widget import Widget

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def wrap(text: str, width: int) -> list[str]:
    """``text`` (no newline in it) in lines of at most ``width`` cells, broken at spaces
    where it can be and inside a word only when a word is longer than a line."""
    width = max(1, width)
    lines, line = [], ""
    for word in re.split(r"(?<= )", text):  # each word keeps the space after it
        if cell_len(line + word.rstrip(" ")) <= width:
            line += word
            continue
        if line:
            lines.append(line)
            line = ""
        while cell_len(word.rstrip(" ")) > width:  # a word longer than a line: cut it
            cut = width
            while cell_len(word[:cut]) > width:
                cut -= 1
            lines.append(word[: max(1, cut)])
            word = word[max(1, cut) :]
        line = word
    lines.append(line)
    return lines


def extend(lines: list[str], text: str, width: int) -> None:
    """Add ``text`` to wrapped ``lines`` in place: only the last line is wrapped again
    (with the new text), the lines before it never change."""
    parts = (lines.pop() + text).split("\n")
    for part in parts:
        lines.extend(wrap(part, width))


class StreamText(Widget):
    """Text that grows at its end, its last lines in view."""

    DEFAULT_CSS = """
    StreamText { height: 1fr; padding: 0 1; }
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.text = ""
        self._lines: list[str] = [""]  # wrapped at ``_width``; only the last one can change
        self._width = 0
        self._top = 0  # the first line in view
        self._style = None  # the rich style of a line, looked up once a redraw

    def clear(self) -> None:
        self.text, self._lines, self._top = "", [""], 0
        self.refresh()

    def set_text(self, text: str) -> None:
        self.clear()
        self.append(text)

    def append(self, text: str) -> None:
        text = _CONTROL.sub("", text.replace("\t", "    "))
        if not text:
            return
        self.text += text
        first = len(self._lines) - 1
        self._extend(text)
        if self._follow():
            self.refresh()
        else:  # only the changed lines: the last one and any new ones
            self.refresh(Region(0, first - self._top, self.size.width, len(self._lines) - first))

    def _follow(self) -> bool:
        """Keep the last line in view: when it falls below, move up by half a pane (or
        to the end); True when the view moved."""
        height = max(1, self.content_region.height)
        if len(self._lines) - self._top <= height:
            return False
        self._top = max(0, len(self._lines) - max(1, height // 2))
        self._top = min(self._top, max(0, len(self._lines) - 1))
        return True

    def _extend(self, text: str) -> None:
        extend(self._lines, text, self._width or 80)

    def on_resize(self) -> None:
        width = max(1, self.content_region.width)
        if width != self._width:
            self._width, self._lines, self._top = width, [""], 0
            self._extend(self.text)
        self._top = max(0, len(self._lines) - max(1, self.content_region.height))
        self.refresh()

    def render_lines(self, crop):
        self._style = self.rich_style
        return super().render_lines(crop)

    def render_line(self, y: int) -> Strip:
        index = self._top + y
        line = self._lines[index] if index < len(self._lines) else ""
        return Strip([Segment(line, self._style)])
