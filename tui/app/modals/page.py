"""A whole-screen page over the tabs (the token view, the Doctor): a status line at the
top, a scrolling body, and the footer's keys; Esc or q closes it."""

from __future__ import annotations

from textual.binding import Binding
from textual.screen import ModalScreen


class PageScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    PageScreen { align: center middle; }
    PageScreen > Vertical { width: 100%; height: 100%; border: thick $accent; background: $surface; }
    PageScreen .page-status { height: auto; padding: 0 1; color: $text-muted; }
    PageScreen .page-body { height: 1fr; padding: 0 1; }
    """
    BINDINGS = [Binding("escape,q", "dismiss(None)", "Close")]
