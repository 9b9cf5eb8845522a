"""The llmbench app: tabs, themes and key bindings. Model logic lives in ``engine``."""

from __future__ import annotations

import asyncio
import os
import signal
import threading

from textual import events
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.widgets import Footer, Input, TabbedContent, TabPane
from textual.worker import Worker

from llmbench.engine import models
from llmbench.engine.config import read_settings, save_config
from llmbench.engine.errors import LlmbenchError, ParamError, first_line
from llmbench.engine.runtime.duel import MODES
from llmbench.engine.runtime.params import GenParams

from .modals.doctor import DoctorScreen
from .tabs.bench import BenchView
from .tabs.chat import ChatView
from .tabs.duel import DuelView
from .tabs.inspect import InspectView
from .tabs.quant import QuantView
from .tabs.sessions import SessionsView
from .themes import DEFAULT_THEME, load_themes
from .workers import in_background

FEW_COLOURS = ("standard", "windows")  # Rich's names for a 16-colour terminal (TERM=linux, TERM=xterm)
EXIT_GRACE_S = 5.0  # after SIGTERM or SIGHUP: the orderly exit, then the process ends anyway

DEMO_A, DEMO_B = "smollm2", "gemma3-270m"
# The keys an Input binds itself (Backspace, Delete, arrows, Enter, Ctrl+U...), not the
# scroll keys it inherits: those give way to the view's (PageDown scrolls Inspect's results).
EDITING_KEYS = frozenset(k.strip() for b in Input.BINDINGS for k in b.key.split(","))


class LlmbenchApp(App):
    TITLE = "llmbench"
    # the app's, the tabs' and the modal screens' styles; reusable widgets keep their DEFAULT_CSS
    CSS_PATH = [
        f"styles/{name}.tcss" for name in ("app", "duel", "inspect", "chat", "sessions", "quant", "bench", "modals")
    ]
    BINDINGS = [
        Binding("f1,ctrl+1", "tab('duel')", "Duel", show=False),
        Binding("f2,ctrl+2", "tab('inspect')", "Inspect", show=False),
        Binding("f3,ctrl+3", "tab('chat')", "Chat", show=False),
        Binding("f4,ctrl+4", "tab('sessions')", "Sessions", show=False),
        Binding("f5,ctrl+5", "tab('quant')", "Quant", show=False),
        Binding("f6,ctrl+6", "tab('bench')", "Bench", show=False),
        Binding("ctrl+q", "quit", "Quit"),
    ]

    def __init__(self, spec_a: str | None = None, spec_b: str | None = None):
        super().__init__()
        # Read here, before the event loop runs: the tabs never read files on it.
        self.config, self.config_problem = read_settings()  # damaged: defaults, and a warning once shown
        self.spec_a = spec_a or self.config.get("duel_a") or DEMO_A
        self.spec_b = spec_b or self.config.get("duel_b") or DEMO_B
        try:
            self.params = GenParams.from_dict(self.config.get("duel_params", {})).validate()
        except (TypeError, ParamError):  # a hand-edited config with bad values: defaults, not a crash
            self.params = GenParams()
        self.mode = self.config.get("duel_mode") if self.config.get("duel_mode") in MODES else None
        repeat = self.config.get("duel_repeat", 1)
        self.repeat = repeat if isinstance(repeat, int) and 1 <= repeat <= 100 else 1
        self.saved_theme = self.config.get("theme")
        self.forced_theme: str | None = None  # the ANSI theme a 16-colour terminal gets
        try:
            self.model_names = models.known_names()
        except LlmbenchError:
            self.model_names = list(models.DEMO_MODELS)
        self.themes, self.theme_problems = load_themes()

    def compose(self) -> ComposeResult:
        with TabbedContent(initial="duel"):
            with TabPane("Duel", id="duel"):
                yield DuelView(self.spec_a, self.spec_b, self.params, self.mode, self.repeat,
                               more=self.config.get("duel_more") or "")  # fmt: skip
            with TabPane("Inspect", id="inspect"):
                yield InspectView()
            with TabPane("Chat", id="chat"):
                yield ChatView(self.params, self.config)
            with TabPane("Sessions", id="sessions"):
                yield SessionsView()
            with TabPane("Quant", id="quant"):
                yield QuantView()
            with TabPane("Bench", id="bench"):
                yield BenchView()
        yield Footer()

    def on_mount(self) -> None:
        if not self.is_headless:
            self._exit_on_signals()
        for theme in self.themes:
            self.register_theme(theme)
        for problem in self.theme_problems + [p for p in (self.config_problem, models.read_registry()[1]) if p]:
            self.notify(problem, severity="warning", timeout=10)
        wanted = self.saved_theme if self.saved_theme in self.available_themes else DEFAULT_THEME
        if wanted in self.available_themes:
            self.theme = wanted
        if self.few_colours():  # a theme's shades collapse to black on black there
            self.forced_theme = "ansi-dark" if self.current_theme.dark else "ansi-light"
            self.notify(
                f"TERM={os.environ.get('TERM', '')} has 16 colours: the terminal's own are used "
                f"({self.forced_theme}, for this run). COLORTERM=truecolor or TERM=xterm-256color shows {wanted}.",
                timeout=8,
            )
            self.theme = self.forced_theme
        self.theme_changed_signal.subscribe(self, self._remember_theme)

    def get_system_commands(self, screen):
        yield from super().get_system_commands(screen)
        yield SystemCommand(
            "Doctor", "What this machine can run: llama.cpp's build, torch, GPUs, memory", self.action_doctor
        )
        yield SystemCommand(
            "Arena leaderboard", "Every recorded battle's ratings, beside KLD, speed and RAM", self.action_leaderboard
        )

    def action_doctor(self) -> None:
        self.push_screen(DoctorScreen())

    def action_leaderboard(self) -> None:
        """The leaderboard of the Duel tab's pool (every battle, when it names none)."""
        from .modals.leaderboard import LeaderboardScreen

        self.push_screen(LeaderboardScreen(self.config.get("arena_pool") or None))

    def _exit_on_signals(self) -> None:
        """SIGTERM, and SIGHUP (an SSH drop), end the app as Ctrl+Q does: the duel's
        workers closed, the session written, the terminal restored. Should that take over
        EXIT_GRACE_S (a terminal that is gone), the process ends anyway, and its workers
        with it (they watch their parent)."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGHUP):
            loop.add_signal_handler(sig, self._signalled, sig)

    def _signalled(self, sig: int) -> None:
        code = 128 + sig
        timer = threading.Timer(EXIT_GRACE_S, os._exit, (code,))
        timer.daemon = True
        timer.start()
        self.exit(return_code=code)

    def few_colours(self) -> bool:
        """A 16-colour terminal, as Rich detects it from TERM and COLORTERM (headless: no terminal)."""
        return not self.is_headless and self.console.color_system in FEW_COLOURS

    def _remember_theme(self, theme) -> None:
        if theme.name != self.forced_theme:  # the 16-colour fallback is not the user's choice
            self.remember(theme=theme.name)

    async def on_event(self, event) -> None:
        """Keys that arrive in one burst (over SSH, tmux send-keys) keep their order in a text
        field. Textual runs an Input's editing keys (Backspace, Delete, arrows, Ctrl+U) as
        bindings only once the key has bubbled from the Input back up to the app, while the
        printable keys after it go straight to the Input, which inserts them first:
        Backspace-0-.-7 on ``2`` gave ``20.``. Here a key the focused Input binds itself runs
        its action as the app reads the key, before it reads the next one. Every other key
        (tabs, the views' keys) takes Textual's own path."""
        if (
            isinstance(event, events.Key)
            and event.key in EDITING_KEYS
            and not event.is_forwarded
            and isinstance(focused := self.focused, Input)
            and self.screen.maximized is None
        ):
            own = [b for b in focused._bindings.key_to_bindings.get(event.key, ()) if not b.priority]
            if own and not await self._check_bindings(event.key, priority=True):
                # queued behind the keys the Input already holds (Enter after the text it submits)
                focused.call_later(self.run_action, own[0].action, focused)
                return
        await super().on_event(event)

    def remember(self, **changes) -> None:
        """Save settings to config.json, off the event loop (and finished even when the app quits)."""
        self.config.update(changes)
        in_background(lambda: save_config(**changes), "save-config")

    def worker_failed(self, worker: Worker) -> None:
        """The one handler for a worker that raised: say so, and let its owner tidy up."""
        error = worker.error
        what = worker.group if worker.group != "default" else worker.name
        self.notify(f"{what} failed: {type(error).__name__}: {first_line(error)}", severity="error", timeout=15)
        hook = getattr(worker.node, "worker_failed", None)
        if hook is not None and worker.node is not self:
            hook(worker)

    def action_tab(self, tab: str) -> None:
        self.query_one(TabbedContent).active = tab

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        """Put the keyboard where the work of the tab starts."""
        first = {
            "duel": "#prompt",
            "inspect": "#inspect-src",
            "chat": "#chat-question",
            "sessions": "#sessions-table",
            "quant": "#quant-base",
            "bench": "#bench-models",
        }.get(event.pane.id or "")
        replaying = event.pane.query("ReplayBar.-active")
        if replaying:
            replaying.first().focus()
        elif first:
            self.query_one(first).focus()
        if event.pane.id == "chat" and not replaying:
            self.query_one(ChatView).warm_up()
        if event.pane.id == "sessions":
            self.query_one(SessionsView).refresh_if_stale()

    async def open_session(self, timeline, digest, speed: float = 1.0) -> None:
        """Replay a recorded session in the tab it came from (no model is loaded)."""
        if not timeline.cues:
            self.notify(
                f"{digest.id}: nothing to replay ({digest.kind}); its content is in the preview.", severity="warning"
            )
            return
        tab = "duel" if digest.kind in ("duel", "battle") else "chat"
        self.query_one(TabbedContent).active = tab
        if tab == "duel":  # a battle replays blind until its own vote
            await self.query_one(DuelView).replay(timeline, digest.short_id, digest.models, speed,
                                                  blind=digest.kind == "battle")  # fmt: skip
        else:
            await self.query_one(ChatView).replay(timeline, digest.short_id, digest.models, speed)
