"""One side of a duel: header, the answer (plain text while it streams, Markdown once
done), live RAM sparkline, stats."""

from __future__ import annotations

import time
from collections import deque

from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.reactive import var
from textual.widgets import Markdown, Sparkline, Static

from llmbench.engine.runtime.events import Done, Error, Loaded, Resolved, Resources, Started, Stats
from llmbench.engine.util.fmt import MIB

from .model_input import short_spec
from .stats import StatsView
from .stream_text import StreamText

RAM_POINTS = 120
# The live figures (the token count, the RAM line and its sparkline) redraw at most this
# often, and while tokens stream only with them. Each screen update costs the models on a
# small machine (issue 16), and one that changes the status line at the pane's top and the
# answer's last line below it redraws every line between them.
SHOW_LIVE_S = 1.0
FOLD_BELOW_ROWS = 36  # below this terminal height the stats fold to two lines, so the answer has the room


class ContestantPane(Vertical):
    DEFAULT_CSS = """
    ContestantPane { width: 1fr; height: 1fr; border-left: tall $primary 40%; }
    ContestantPane.-error { border-left: tall $error; }
    ContestantPane:focus-within { border-left: tall $accent; }
    ContestantPane VerticalScroll:focus { background: $boost; }
    ContestantPane .title {
        width: 100%; height: 1; padding: 0 1; background: $boost; text-style: bold;
        text-wrap: nowrap; text-overflow: ellipsis;
    }
    ContestantPane .status { width: 100%; height: 1; padding: 0 1; color: $text-muted; }
    ContestantPane VerticalScroll { height: 1fr; padding: 0 1; }
    ContestantPane StreamText { display: none; }
    ContestantPane.-streaming StreamText { display: block; }
    ContestantPane.-streaming VerticalScroll { display: none; }
    ContestantPane Markdown { margin: 0; padding: 0; }
    ContestantPane .ram { width: 100%; height: 1; padding: 0 1; }
    ContestantPane Sparkline { width: 1fr; height: 1; margin: 0 1; }
    ContestantPane StatsView { width: 100%; }
    """

    status = var("idle")  # shown by its own Static (a repaint of the whole pane would cost every batch)
    run_label = var("")  # with repeats: "warmup", "run 2/3", shown before the status

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
        self._finished = False
        self._sample: tuple[float, float, float | None] | None = None  # the last one
        self._unshown = False  # it came after the last drawing
        self.title_text = ""
        self.title_note = ""
        self.folded: bool | None = None  # the user's choice (Ctrl+S); None: by the terminal's height
        self._shown_at = 0.0

    def compose(self) -> ComposeResult:
        yield Static(f"{self.side.upper()}", classes="title")
        yield Static("", classes="status")
        with VerticalScroll():
            yield Markdown("")
        yield StreamText()
        yield Static("RAM —", classes="ram")
        yield Sparkline([], summary_function=max)
        yield StatsView()

    def on_resize(self) -> None:
        self._fold()

    def toggle_stats(self) -> None:
        self.folded = not self.query_one(StatsView).compact
        self._fold()

    def _fold(self) -> None:
        folded = self.folded if self.folded is not None else self.app.size.height < FOLD_BELOW_ROWS
        self.query_one(StatsView).set_compact(folded)

    def watch_status(self, status: str) -> None:
        shown = f"{self.run_label} · {status}" if self.run_label else status
        self.query_one(".status", Static).update(shown, layout=False)  # fixed size: no relayout

    def watch_run_label(self, label: str) -> None:
        self.watch_status(self.status)

    def set_title(self, title: str, note: str = "") -> None:
        """The model's name, or a path's file name, cut at the end with … where it does not fit;
        a note (``no template``) goes before the name, so it is never the part cut off."""
        self.title_text, self.title_note = title, note
        head = f"{self.side.upper()} · {note} · " if note else f"{self.side.upper()} · "
        self.query_one(".title", Static).update(head + short_spec(title), layout=False)

    @property
    def finished(self) -> bool:
        """This turn's answer is over: done, failed or cancelled."""
        return self._finished

    def reset(self) -> None:
        self._finished = False
        self.text, self.tokens, self.stats, self.turn_start = "", 0, None, 0
        self.remove_class("-error", "-streaming")
        self.query_one(StreamText).clear()
        self.query_one(Markdown).update("")
        self.query_one(StatsView).show(None)
        self.status = "waiting…"

    async def new_turn(self, heading: str) -> None:
        """A chat keeps its earlier turns: a heading for the new one, then its answer."""
        self._finished = False
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
        """Tokens as they stream: plain text, only the changed lines redrawn (a Markdown
        document re-laid-out 20 times a second cost the models a fifth of their speed).
        Text of no tokens once the answer is done (its sources, a score) goes to the
        Markdown, and the status stays."""
        if not count and not self.has_class("-streaming"):  # a note after the answer (its sources)
            self.text += text
            await self.query_one(Markdown).append(text)
            self.query_one(VerticalScroll).scroll_end(animate=False)
            return
        stream = self.query_one(StreamText)
        if not self.has_class("-streaming"):
            stream.set_text(self.text)
            self.add_class("-streaming")
        self.text += text
        self.tokens += count
        stream.append(text)
        if count and (not self.status.startswith("streaming") or self._live_due()):
            self.status = f"streaming · {self.tokens} tokens"
            self.show_samples()

    async def settle(self) -> None:
        """The answer is over (done, failed or cancelled): show it all as Markdown, once."""
        self._finished = True
        if not self.has_class("-streaming"):
            return
        scroll = self.query_one(VerticalScroll)
        await self.query_one(Markdown).update(self.text)
        self.remove_class("-streaming")
        scroll.scroll_end(animate=False)

    def add_sample(self, rss_bytes: int, cpu_percent: float, gpu_bytes: int | None) -> None:
        """A RAM/CPU sample: kept at once (the peak, the sparkline's points), drawn at most
        every SHOW_LIVE_S."""
        mib = rss_bytes / MIB
        self.peak_mib = max(self.peak_mib, mib)
        self.ram.append(mib)
        self._sample, self._unshown = (mib, cpu_percent, gpu_bytes / MIB if gpu_bytes else None), True
        if not self.has_class("-streaming") and self._live_due():  # while tokens stream, drawn with them
            self.show_samples(ended=self.stats is not None)  # after its answer: RAM still, CPU "idle"

    def _live_due(self) -> bool:
        return time.monotonic() - self._shown_at >= SHOW_LIVE_S

    def show_samples(self, ended: bool = False) -> None:
        """The last sample drawn; ``ended``: the answer is over, so its CPU% is not shown
        as if it were still running."""
        self._shown_at = time.monotonic()
        if self._sample is None or not (self._unshown or ended):
            return
        mib, cpu, gpu_mib = self._sample
        self._unshown = False
        self.query_one(Sparkline).data = list(self.ram)
        line = f"RAM {mib:,.0f} MiB · peak {self.peak_mib:,.0f} · " + ("idle" if ended else f"CPU {cpu:.0f}%")
        if gpu_mib:
            line += f" · VRAM {gpu_mib:,.0f} MiB"
        self.query_one(".ram", Static).update(line, layout=False)

    def clear_samples(self) -> None:
        self.ram.clear()
        self.peak_mib, self._sample = 0.0, None
        self.query_one(Sparkline).data = []
        self.query_one(".ram", Static).update("RAM —", layout=False)

    def show_stats(self, stats: Stats, mode: str, repeats: dict | None = None) -> None:
        """An answer's stats; with ``repeats`` (``summarize_runs`` of a prompt's runs), the
        timed figures as mean ± stddev over them."""
        self.show_samples(ended=True)
        self.stats = stats
        self.query_one(StatsView).show(stats, mode, self.threads, repeats)

    async def show_error(self, message: str) -> None:
        await self.settle()
        self.show_samples(ended=True)
        self.add_class("-error")
        self.status = "error"
        sep = "\n\n" if self.text else ""
        await self.query_one(Markdown).append(f"{sep}**Error:** {message}")


async def apply_side_event(panes: dict, side: str, event: object, mode: str, notify) -> None:
    """``apply_event`` on ``panes[side]``; in sequential mode, once a side is over, the next
    that said it waits (B after A; C and D in turn) says its worker loads now. Shared by
    the Duel and Chat tabs."""
    await apply_event(panes[side], event, mode, notify)
    if isinstance(event, Done | Error):
        waiting = next((p for s, p in panes.items() if s != side and p.status.startswith("waiting for")), None)
        if waiting is not None:
            waiting.status = "loading…"


async def apply_event(pane: ContestantPane, event: object, mode: str, notify) -> None:
    """What a contestant pane shows for one engine event (shared by the Duel and Chat tabs)."""
    match event:
        case Resolved(model=model):
            pane.clear_samples()  # a model (perhaps another): no reading of the one before
            pane.set_title(model.title)
            # sequential: B's worker starts only once A is done (DuelView says "loading…" then)
            pane.status = (
                "loading…" if mode != "sequential" or pane.side == "a"
                else "waiting for A…" if pane.side == "b" else "waiting for its turn…"
            )  # fmt: skip
        case Loaded(load_s=load_s, note=note, threads=threads):
            pane.threads = threads
            pane.status = f"loaded in {load_s:.2f} s"
            if note and "fallback" in note:  # said in the title, once, where it stays (a toast hid B's stats)
                pane.set_title(pane.title_text, "no template")
            elif note:
                notify(note, title=f"model {pane.side.upper()}", timeout=8)
        case Started(prompt_tokens=n, context_used=used):
            fit = f" · {used} passages fit" if used is not None else ""
            sent = f"prompt {n} tokens" if n is not None else "prompt sent"
            pane.status = f"{sent}{fit} · thinking…"
        case Resources(rss_bytes=rss, cpu_percent=cpu, gpu_bytes=gpu):
            pane.add_sample(rss, cpu, gpu)
        case Done(stats=stats, finish_reason=reason):
            await pane.settle()
            pane.status = "done · each figure one sample" if reason != "cancelled" else "cancelled"
            pane.show_stats(stats, mode)
        case Error(message=text, code=code):
            if code == "cancelled":
                await pane.settle()
                pane.show_samples(ended=True)  # no CPU% left standing from the last sample
                pane.status = "cancelled"
            else:
                await pane.show_error(text)
