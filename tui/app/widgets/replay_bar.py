"""The replay controls docked in the Duel and Chat tabs while a session replays.

The bar owns a ``Player`` and a timer; every tick the cues that came due go to its
view through the same ``Bridge`` as a live run, so a replay shows exactly what the
run showed. Keys: Space pause/resume, 1 2 4 speed, 0 instant, ←/→ seek 5 s,
[ ] previous/next run, Home restart, Esc close.
"""

from __future__ import annotations

from textual.binding import Binding
from textual.message import Message
from textual.widgets import Static

from llmbench.engine.sessions.replay import Cue, Player, Timeline

from ..bridge import Bridge
from ..messages import ReplayReset

TICK_S = 1 / 20
SEEK_S = 5.0
BAR = 24


class Replayable:
    """A view that can replay a session in its own panes (the Duel and Chat tabs). It
    handles the bridge's messages as it does for a live run, and ``ReplayReset``."""

    running: bool
    _replay_models: dict[str, str]

    async def replay(self, timeline: Timeline, name: str, models: dict[str, str], speed: float = 1.0) -> None:
        if self.running:
            self.notify("A run is in progress: Esc cancels it first.", severity="warning")
            return
        self._replay_models = models
        await self.query_one(ReplayBar).start(timeline, name, speed)

    async def close_replay(self) -> bool:
        """Esc in the view: close a replay that is showing (True), else leave Esc to the run."""
        bar = self.query_one(ReplayBar)
        if not bar.active:
            return False
        await bar.action_close()
        return True

    def reset_replay_panes(self) -> None:
        """The contestant panes (A, B, and C, D of a duel of more) emptied and titled with
        the recorded models."""
        from .contestant import ContestantPane

        sides = {"a", "b", *self._replay_models}
        for pane in self.query(ContestantPane):
            if pane.side in sides:
                pane.reset()
                pane.set_title(self._replay_models.get(pane.side, "—"))
                pane.status = "replay"


class ReplayBar(Static, can_focus=True):
    DEFAULT_CSS = """
    ReplayBar { height: 1; padding: 0 1; background: $accent 20%; display: none; }
    ReplayBar.-active { display: block; }
    ReplayBar:focus { background: $accent 35%; }
    """
    BINDINGS = [
        Binding("space", "toggle", "Pause/play"),
        Binding("1", "speed(1)", "1x", show=False),
        Binding("2", "speed(2)", "2x", show=False),
        Binding("4", "speed(4)", "4x", show=False),
        Binding("0", "speed(0)", "Instant"),
        Binding("left", "seek(-1)", "−5 s"),
        Binding("right", "seek(1)", "+5 s"),
        Binding("left_square_bracket", "run(-1)", "Prev run", show=False),
        Binding("right_square_bracket", "run(1)", "Next run", show=False),
        Binding("home", "restart", "Restart", show=False),
        Binding("escape", "close", "Close replay"),
    ]

    class Closed(Message):
        """The user closed the replay."""

    def __init__(self, view, **kwargs):
        super().__init__("", **kwargs)
        self.view = view
        self.bridge = Bridge(view.post_message)
        self.player: Player | None = None
        self.name_ = ""
        self._timer = None
        self._busy = False

    @property
    def active(self) -> bool:
        return self.player is not None

    async def start(self, timeline: Timeline, name: str, speed: float = 1.0) -> None:
        await self.stop()
        self.player = Player(timeline, speed)
        self.name_ = name
        self.add_class("-active")
        self.bridge.post(ReplayReset())
        self.player.play()
        self._timer = self.set_interval(TICK_S, self._tick)
        self.focus()
        await self._tick()

    async def stop(self) -> None:
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        self.player = None
        self.remove_class("-active")

    async def _tick(self) -> None:
        if self.player is None or self._busy:
            return
        self._busy = True
        try:
            self._feed(self.player.due())
            self._render_state()
        finally:
            self._busy = False

    def _feed(self, cues: list[Cue]) -> None:
        for cue in cues:
            self.bridge.feed(cue.channel, cue.event)
        self.bridge.flush()

    async def _apply(self, restart: bool, cues: list[Cue]) -> None:
        self._busy = True
        try:
            if restart:
                self.bridge.flush()
                self.bridge.post(ReplayReset())
            self._feed(cues)
            self._render_state()
        finally:
            self._busy = False

    def _render_state(self) -> None:
        p = self.player
        if p is None:
            return
        tl = p.timeline
        pos, total = p.position, tl.duration
        filled = int(BAR * pos / total) if total else BAR
        runs = tl.run_starts()
        current = sum(1 for r in runs if r <= pos)
        speed = "instant" if p.speed == 0 else f"{p.speed:g}x"
        state = "▶" if p.playing and not p.finished else ("■" if p.finished else "⏸")
        self.update(
            f"{state} replay {self.name_} · {speed} · {pos:5.1f} / {total:.1f} s · run {max(current, 1)}/{len(runs) or 1} "
            f"[{'█' * filled}{'░' * (BAR - filled)}] · Space pause · ←→ seek · 1 2 4 0 speed · [ ] runs · Esc close"
        )

    # ------------------------------------------------------------ actions

    def action_toggle(self) -> None:
        if self.player is None:
            return
        if self.player.finished:
            self.run_worker(self._restart(), exclusive=True, group="replay-seek")
            return
        self.player.toggle()
        self._render_state()

    def action_speed(self, speed: float) -> None:
        if self.player is not None:
            self.player.set_speed(float(speed))
            self.player.play()
            self._render_state()

    async def action_seek(self, direction: int) -> None:
        if self.player is not None:
            await self._apply(*self.player.seek(self.player.position + direction * SEEK_S))

    async def action_run(self, direction: int) -> None:
        if self.player is None:
            return
        pos = self.player.position
        starts = self.player.timeline.run_starts()
        if direction > 0:
            target = next((s for s in starts if s > pos + 1e-6), self.player.timeline.duration)
        else:
            earlier = [s for s in starts if s < pos - 1.0]
            target = earlier[-1] if earlier else 0.0
        await self._apply(*self.player.seek(target))

    async def _restart(self) -> None:
        """From the beginning (at 1x when it was instant: an instant restart shows nothing new)."""
        if self.player is not None:
            if self.player.speed == 0:
                self.player.set_speed(1.0)
            restart, cues = self.player.seek(0.0)
            self.player.play()
            await self._apply(True, cues)

    async def action_restart(self) -> None:
        await self._restart()

    async def action_close(self) -> None:
        await self.stop()
        self.post_message(self.Closed())
