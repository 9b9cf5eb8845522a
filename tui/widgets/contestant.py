"""One side of a duel: header, streamed Markdown answer, live RAM sparkline, stats."""

from __future__ import annotations

from collections import deque

from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.reactive import reactive
from textual.widgets import Markdown, Sparkline, Static

from engine.types import Stats

from .stats import StatsView

MIB = 1024 * 1024
RAM_POINTS = 120


class ContestantPane(Vertical):
    DEFAULT_CSS = """
    ContestantPane { width: 1fr; height: 1fr; border-left: tall $primary 40%; }
    ContestantPane.-error { border-left: tall $error; }
    ContestantPane .title { width: 100%; height: 1; padding: 0 1; background: $boost; text-style: bold; }
    ContestantPane .status { width: 100%; height: 1; padding: 0 1; color: $text-muted; }
    ContestantPane VerticalScroll { height: 1fr; padding: 0 1; }
    ContestantPane Markdown { margin: 0; padding: 0; }
    ContestantPane .ram { width: 100%; height: 1; padding: 0 1; }
    ContestantPane Sparkline { width: 1fr; height: 1; margin: 0 1; }
    ContestantPane StatsView { width: 100%; height: 5; }
    """

    status = reactive("idle")

    def __init__(self, side: str, **kwargs):
        super().__init__(id=f"pane-{side}", **kwargs)
        self.side = side
        self.text = ""
        self.tokens = 0
        self.ram: deque[float] = deque(maxlen=RAM_POINTS)
        self.peak_mib = 0.0
        self.stats: Stats | None = None
        self.threads: int | None = None

    def compose(self) -> ComposeResult:
        yield Static(f"{self.side.upper()}", classes="title")
        yield Static("", classes="status")
        with VerticalScroll():
            yield Markdown("")
        yield Static("RAM —", classes="ram")
        yield Sparkline([], summary_function=max)
        yield StatsView()

    def watch_status(self, status: str) -> None:
        self.query_one(".status", Static).update(status, layout=False)  # fixed size: no relayout

    def set_title(self, title: str) -> None:
        self.query_one(".title", Static).update(f"{self.side.upper()} · {title}", layout=False)

    def reset(self) -> None:
        self.text, self.tokens, self.stats = "", 0, None
        self.remove_class("-error")
        self.query_one(Markdown).update("")
        self.query_one(StatsView).show(None)
        self.status = "waiting…"

    async def append(self, text: str, count: int) -> None:
        self.text += text
        self.tokens += count
        scroll = self.query_one(VerticalScroll)
        at_end = scroll.is_vertical_scroll_end or scroll.max_scroll_y == 0
        await self.query_one(Markdown).append(text)
        if at_end:
            scroll.scroll_end(animate=False)

    def add_sample(self, rss_bytes: int, cpu_percent: float, gpu_bytes: int | None) -> None:
        mib = rss_bytes / MIB
        self.peak_mib = max(self.peak_mib, mib)
        self.ram.append(mib)
        self.query_one(Sparkline).data = list(self.ram)
        line = f"RAM {mib:,.0f} MiB · peak {self.peak_mib:,.0f} · CPU {cpu_percent:.0f}%"
        if gpu_bytes:
            line += f" · VRAM {gpu_bytes / MIB:,.0f} MiB"
        self.query_one(".ram", Static).update(line, layout=False)

    def show_stats(self, stats: Stats, mode: str) -> None:
        self.stats = stats
        self.query_one(StatsView).show(stats, mode, self.threads)

    async def show_error(self, message: str) -> None:
        self.add_class("-error")
        self.status = "error"
        sep = "\n\n" if self.text else ""
        await self.query_one(Markdown).append(f"{sep}**Error:** {message}")
