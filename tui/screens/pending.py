"""What a tab shows until its feature lands: a plain statement, no fake content."""

from __future__ import annotations

from textual.widgets import Static


class NotYet(Static):
    DEFAULT_CSS = """
    NotYet { padding: 1 2; color: $text-muted; }
    """

    def __init__(self, what: str, issue: int, command: str, **kwargs):
        text = (
            f"[b]{what}[/b] is not built yet: it arrives with issue #{issue}.\n\n"
            f"Nothing on this tab is real until then. Its headless twin will be `{command}`.\n"
            f"The Duel tab works now (Ctrl+1 or F1)."
        )
        super().__init__(text, **kwargs)
