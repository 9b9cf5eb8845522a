"""One side of a duel: header, streamed Markdown answer, live RAM sparkline, stats."""

from __future__ import annotations

from collections import deque

from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.reactive import reactive
from textual.widgets import Markdown, Sparkline, Static

from llmbench.engine.runtime.events import Done, Error, Loaded, Resolved, Resources, Started, Stats
from llmbench.engine.util.fmt import MIB

from .stats import StatsView

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
        self.turn_start = 0  # where the current answer starts in ``text``

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
        self.text, self.tokens, self.stats, self.turn_start = "", 0, None, 0
        self.remove_class("-error")
        self.query_one(Markdown).update("")
        self.query_one(StatsView).show(None)
        self.status = "waiting…"

    async def new_turn(self, heading: str) -> None:
        """A chat keeps its earlier turns: a heading for the new one, then its answer."""
        self.tokens, self.stats = 0, None
        self.remove_class("-error")
        self.query_one(StatsView).show(None)
        self.status = "waiting…"
        sep = "\n\n---\n\n" if self.text else ""
        self.text += f"{sep}{heading}\n\n"
        await self.query_one(Markdown).append(f"{sep}{heading}\n\n")
        self.turn_start = len(self.text)

    @property
    def answer(self) -> str:
        """The text of the current turn's answer."""
        return self.text[self.turn_start :]

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


async def apply_event(pane: ContestantPane, event: object, mode: str, notify) -> None:
    """What a contestant pane shows for one engine event (shared by the Duel and Chat tabs)."""
    match event:
        case Resolved(model=model):
            pane.set_title(model.title)
            pane.status = "loading…"
        case Loaded(load_s=load_s, note=note, threads=threads):
            pane.threads = threads
            pane.status = f"loaded in {load_s:.2f} s"
            if note:
                notify(note, title=f"model {pane.side.upper()}", timeout=8)
                if "fallback" in note:
                    pane.status = f"loaded in {load_s:.2f} s · fallback chat template"
        case Started(prompt_tokens=n, context_used=used):
            fit = f" · {used} passages fit" if used is not None else ""
            sent = f"prompt {n} tokens" if n is not None else "prompt sent"
            pane.status = f"{sent}{fit} · thinking…"
        case Resources(rss_bytes=rss, cpu_percent=cpu, gpu_bytes=gpu):
            pane.add_sample(rss, cpu, gpu)
        case Done(stats=stats, finish_reason=reason):
            pane.status = "done · each figure one sample" if reason != "cancelled" else "cancelled"
            pane.show_stats(stats, mode)
        case Error(message=text, code=code):
            if code == "cancelled":
                pane.status = "cancelled"
            else:
                await pane.show_error(text)
