"""A whole-screen page over the tabs (the token view, the Doctor): a status line at the
top, a scrolling body, and the footer's keys; Esc or q closes it."""

from __future__ import annotations

from textual.binding import Binding
from textual.screen import ModalScreen


class PageScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q", "dismiss(None)", "Close")]
