"""The retrieved passages beside a chat: where each came from, its ranks, its text."""

from __future__ import annotations

from rich.markup import escape
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from llmbench.engine.rag.retrieve import Retrieval

EXCERPT = 600


class Passage(Static):
    DEFAULT_CSS = """
    Passage { padding: 0 1 1 1; }
    Passage.-cited { background: $accent 15%; }
    """


class PassagesPanel(VerticalScroll):
    DEFAULT_CSS = """
    PassagesPanel { width: 2fr; min-width: 30; border-left: tall $primary 40%; }
    PassagesPanel > .heading { text-style: bold; padding: 0 1; background: $boost; width: 100%; }
    """

    def compose(self) -> ComposeResult:
        yield Static("Passages", classes="heading")
        yield Static("Ask a question: the passages it retrieves appear here.", classes="empty")

    async def clear(self) -> None:
        await self.query(Passage).remove()
        await self.query(".empty").remove()
        self.query_one(".heading", Static).update("Passages")

    async def show(self, retrieval: Retrieval) -> None:
        await self.query(Passage).remove()
        await self.query(".empty").remove()
        t = retrieval.timings_ms
        self.query_one(".heading", Static).update(f"Passages · {len(retrieval.hits)} in {t.get('total', 0):.0f} ms")
        if not retrieval.hits:
            await self.mount(Static("Nothing retrieved: the collection has no match.", classes="empty"))
            return
        await self.mount_all(Passage(self._text(i, h), id=f"passage-{i}") for i, h in enumerate(retrieval.hits, 1))
        self.scroll_home(animate=False)

    @staticmethod
    def _text(i: int, h) -> str:
        ranks = " · ".join(
            filter(
                None,
                [
                    f"bm25 #{h.bm25_rank}" if h.bm25_rank else "bm25 —",
                    f"dense #{h.dense_rank}" if h.dense_rank else "dense —",
                    f"fused {h.score:.4f}",
                ],
            )
        )
        body = " ".join(h.text.split())
        if len(body) > EXCERPT:
            body = body[:EXCERPT] + "…"
        return f"[b][{i}][/b] [b]{escape(h.where)}[/b]\n[dim]{ranks}[/dim]\n{escape(body)}"

    def mark_cited(self, numbers: list[int]) -> None:
        for p in self.query(Passage):
            p.set_class(int(p.id.removeprefix("passage-")) in numbers, "-cited")
