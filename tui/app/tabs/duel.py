"""The Duel tab: two models answer the same prompt side by side, live; or, blind
(Ctrl+B), two drawn from an arena pool, hidden until the vote (``duel_blind.py``)."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Container, Horizontal, Vertical
from textual.widgets import Input, Label, Static
from textual.worker import get_current_worker

from llmbench.engine.errors import LlmbenchError
from llmbench.engine.runtime.duel import Duel, default_mode
from llmbench.engine.runtime.events import SIDES, Done, Prompt, Verdict, Vote
from llmbench.engine.runtime.params import GenParams

from ..bridge import Bridge
from ..messages import EngineEvent, ReplayReset, RunFinished, TokenBatch
from ..modals.params import DuelSettings, ParamsScreen, share_warning
from ..widgets.contestant import ContestantPane, apply_side_event
from ..widgets.model_input import ModelInput
from ..widgets.replay_bar import Replayable, ReplayBar
from ..workers import UI_CORES, ReportsWorkerErrors, RunsModels, engine_work, in_background
from .duel_blind import HIDDEN, VOTES, BlindBattles, BlindRound

PANES = ("a", "b", "c", "d")  # a duel of two to four


class DuelView(BlindBattles, ReportsWorkerErrors, RunsModels, Replayable, Vertical):
    BINDINGS = [
        Binding("escape", "cancel", "Cancel", priority=True),
        Binding("ctrl+o", "settings", "Settings"),
        Binding("ctrl+l", "focus_prompt", "Prompt", show=False),
        Binding("ctrl+t", "tokens", "Token view"),
        Binding("ctrl+s", "stats", "Stats"),
        Binding("ctrl+b", "blind", "Blind"),
        Binding("ctrl+r", "leaderboard", "Leaderboard"),
        Binding("a", "vote('a')", "A better"),
        Binding("b", "vote('b')", "B better"),
        Binding("t", "vote('tie')", "Tie"),
        Binding("x", "vote('both_bad')", "Both bad"),
    ]

    def __init__(self, spec_a: str, spec_b: str, params: GenParams, mode: str | None = None, repeat: int = 1,
                 more: str = "", **kwargs):  # fmt: skip
        super().__init__(**kwargs)
        self.spec_a, self.spec_b = spec_a, spec_b
        self.more = more  # C and D, comma-separated: a duel of three or four
        self.params = params
        self.mode = mode or default_mode()
        self.repeat = repeat
        self.duel: Duel | None = None
        self._duel_key: tuple | None = None  # what the loaded duel was made for
        self.shown_mode = self.mode  # the mode of the run on screen: a replay shows its recorded one
        self.last_session: str | None = None
        self.last_prompt: str | None = None
        self._replay_models: dict[str, str] = {}
        self._rounds = 0  # runs of the prompt in hand (the first of several is the warmup)
        self._repeats: dict[str, list] = {s: [] for s in PANES}  # each side's counted runs' stats
        self.sides: list[str] = ["a", "b"]  # the panes in use: two to four
        self.blind = False  # battles drawn from a pool, hidden until the vote
        self.battle = None  # the arena Battle on screen
        self.round: BlindRound | None = None  # what the screen holds back from it

    def compose(self) -> ComposeResult:
        with Horizontal(id="pickers"):
            yield Label("A", classes="seen")
            yield ModelInput(self.spec_a, id="spec-a", placeholder="model A: name or .gguf path", classes="seen")
            yield Label("B", classes="seen")
            yield ModelInput(self.spec_b, id="spec-b", placeholder="model B", classes="seen")
            yield Label("+", classes="seen")
            yield Input(self.more, id="spec-more", placeholder="C, D", classes="seen")
            yield Label("pool", classes="blind")
            yield Input(self.app.config.get("arena_pool", ""), id="pool", classes="blind",
                        placeholder="arena pool (llmbench arena add POOL SPEC...)")  # fmt: skip
            yield Static(self._settings_text(), id="settings")
        with Container(id="panes"):
            for side in PANES:
                yield ContestantPane(side)
        yield Static("", id="verdict")
        yield ReplayBar(self, id="replay")
        yield Input(placeholder="Ask the models (each prompt a fresh conversation) · Enter sends", id="prompt")

    def on_mount(self) -> None:
        self._lay_out(len(self._specs()))
        for side, spec in zip(PANES, self._specs()):
            pane = self._pane(side)
            pane.set_title(spec)
            pane.status = "ready: a prompt below, then Enter"
        self.query_one("#prompt", Input).focus()

    def _specs(self) -> list[str]:
        """The pickers' models: A, B, then C and D from the "+" field (commas between)."""
        fields = [self.query_one(f"#spec-{s}", Input).value.strip() for s in ("a", "b")]
        more = [m.strip() for m in self.query_one("#spec-more", Input).value.split(",") if m.strip()]
        return [*fields, *more[: len(PANES) - 2]]

    def _lay_out(self, n: int) -> None:
        """``n`` panes: side by side where each has 40 columns (4 at 160, 3 at 120), else in
        two rows of two (80x24 stays usable)."""
        self.sides = list(PANES[: max(2, min(n, len(PANES)))])
        for side in PANES:
            self._pane(side).display = side in self.sides
        self.set_class(len(self.sides) > 2 and self.size.width < 40 * len(self.sides), "-rows")

    def on_resize(self) -> None:
        self._lay_out(len(self.sides))

    @on(Input.Changed, "#spec-a, #spec-b, #spec-more")
    def spec_edited(self, event: Input.Changed) -> None:
        if self.query_one(ReplayBar).active:
            return
        specs = self._specs()
        self._lay_out(len(specs))
        for side, spec in zip(PANES, specs):
            self._pane(side).set_title(spec or "(no model)")

    def _settings_text(self) -> str:
        p = self.params
        extra = (f" · d {p.depth}" if p.depth else "") + (f" · ×{self.repeat}" if self.repeat > 1 else "")
        blind = "blind battle · " if self.blind else ""
        return f"{blind}{self.mode} · max {p.max_tokens} · T {p.temperature:g}{extra}"

    # ------------------------------------------------------------ actions

    def action_focus_prompt(self) -> None:
        self.query_one("#prompt", Input).focus()

    async def action_cancel(self) -> None:
        if await self.close_replay():
            return
        if self.running and self.duel is not None:
            self.duel.cancel()
            for pane in self.query(ContestantPane):
                if not pane.finished:  # a side already done keeps its answer and its status
                    pane.status = "cancelling…"

    def action_tokens(self) -> None:
        """B against A, token by token, on the last prompt and A's answer (as plain text)."""
        from llmbench.engine.experiments.fidelity.run import Text as Passage

        from ..modals.token_view import TokenView

        if self.running or not self.last_prompt:
            self.notify("ask both models first: the token view compares B with A on A's answer", severity="warning")
            return
        answer = self._pane("a").answer.strip()
        passage = Passage(f"{self.last_prompt}\n\n{answer}".strip(), "the last prompt and A's answer")
        self.app.push_screen(TokenView(self.spec_a, self.spec_b, passage, ctx=512))

    def action_stats(self) -> None:
        """All the stats, or two lines of them (folded by default below 36 rows)."""
        for pane in self.query(ContestantPane):
            pane.toggle_stats()

    def action_settings(self) -> None:
        def apply(settings: DuelSettings | None) -> None:
            if settings is None:
                return
            self.params, self.mode, self.repeat = settings.params, settings.mode, settings.repeat
            self.shown_mode = self.mode
            self.query_one("#settings", Static).update(self._settings_text())
            self.app.remember(duel_params=self.params.to_dict(), duel_mode=self.mode, duel_repeat=self.repeat)
            warning = share_warning(settings)
            if warning:
                self.notify(warning, severity="warning", timeout=10)

        self.app.push_screen(ParamsScreen(DuelSettings(self.params, self.mode, self.repeat)), apply)

    @on(Input.Submitted, "#prompt")
    async def submit(self, event: Input.Submitted) -> None:
        prompt = event.value.strip()
        if not prompt:
            return
        if self.running:
            self.notify("A duel is running: Esc cancels it first.", severity="warning")
            return
        if self.query_one(ReplayBar).active:
            await self.query_one(ReplayBar).stop()
        if self.blind:
            await self._start_battle(prompt)
            return
        specs = self._specs()
        self.spec_a, self.spec_b, self.more = specs[0], specs[1], ", ".join(specs[2:])
        self.app.remember(duel_a=self.spec_a, duel_b=self.spec_b, duel_more=self.more)
        self._lay_out(len(specs))
        fresh = self._duel_key != (tuple(specs), self.params, self.mode)
        for pane in self.query(ContestantPane):
            pane.reset()
            if fresh:  # other models or settings: the old workers' readings go (a bad name leaves none)
                pane.clear_samples()
        self.query_one("#verdict", Static).update("")
        self.running = True
        self._rounds, self._repeats = 0, {s: [] for s in PANES}
        self.last_prompt = prompt
        self.run_duel(prompt, specs, self.params, self.mode, self.repeat)

    # ------------------------------------------------------------ the engine, in a thread

    @engine_work("duel")
    def run_duel(self, prompt: str, specs: list[str], params: GenParams, mode: str, repeat: int) -> None:
        worker = get_current_worker()
        key = (tuple(specs), params, mode)
        if self.duel is not None and self._duel_key != key:
            self.duel.close()  # other models or parameters: load afresh
            self.duel = None
        error = None
        try:
            if self.duel is None:
                self.duel = Duel(specs[0], specs[1], params, mode=mode, reserve_cores=UI_CORES, more=specs[2:])
                self._duel_key = key
            Bridge(self.post_message).pump(self.duel.run(prompt, repeat=repeat))
        except LlmbenchError as exc:
            error = str(exc)
        session = self.duel.session_path if self.duel else None
        if not worker.is_cancelled:
            self.post_message(RunFinished(str(session) if session else None, error))

    # ------------------------------------------------------------ messages from the bridge

    def _pane(self, side: str) -> ContestantPane:
        return self.query_one(f"#pane-{side}", ContestantPane)

    def _hiding(self) -> bool:
        return self.round is not None and not self.round.revealed

    async def on_token_batch(self, message: TokenBatch) -> None:
        if self._hiding():
            self.round.token(message.channel, message.text, message.count)
            return
        await self._pane(message.channel).append(message.text, message.count)

    async def on_engine_event(self, message: EngineEvent) -> None:
        event = message.event
        if self._hiding() and (message.channel in SIDES or isinstance(event, Verdict)):
            if self.round.event(message.channel, event):
                await self._answers_in()
            return
        if isinstance(event, Vote) and self.round is not None and not self.round.revealed:  # a replay's own vote
            await self._reveal(f"the vote: {VOTES.get(event.winner, event.winner)}")
            return
        if self.round is not None and self.round.outcome and isinstance(event, Verdict):  # after a cancel's reveal
            self.round.verdict = event.text
            self._show_outcome()
            return
        if isinstance(event, Verdict):
            self.query_one("#verdict", Static).update(event.text)
            self._show_repeats()
        elif isinstance(event, Prompt):
            self._rounds += 1
            for pane in self.query(ContestantPane):  # with repeats: which run is on screen
                pane.run_label = self._run_label() if self._live_repeats() else ""
            if event.run > 1:  # the next run of a replay, or of a live duel's repeats
                for pane in self.query(ContestantPane):
                    pane.reset()
                self.query_one("#verdict", Static).update("")
            self.query_one("#prompt", Input).value = event.prompt
            self.shown_mode = event.mode or self.mode  # a replay's is the recorded one
            if self.query_one(ReplayBar).active:
                self.query_one("#settings", Static).update(f"replay · {self.shown_mode}, as recorded")
        elif message.channel in SIDES:
            pane = self._pane(message.channel)
            panes = {side: self._pane(side) for side in self.sides}
            await apply_side_event(panes, message.channel, event, self.shown_mode, self.notify)
            if self._live_repeats() and isinstance(event, Done) and self._rounds > 1:
                if event.finish_reason != "cancelled":  # a counted run (the first is the warmup)
                    self._repeats[pane.side].append(event.stats)

    def _live_repeats(self) -> bool:
        return self.running and self.repeat > 1 and not self.query_one(ReplayBar).active

    def _run_label(self) -> str:
        """``warmup``, ``run 2/3``: which of the prompt's runs is on screen."""
        return "warmup" if self._rounds <= 1 else f"run {self._rounds - 1}/{self.repeat}"

    def _show_repeats(self) -> None:
        """At the verdict: each side's figures as mean ± stddev over its counted runs."""
        from llmbench.engine.runtime.metrics import summarize_runs

        if not self._live_repeats():
            return
        for side, runs in self._repeats.items():
            pane = self._pane(side)
            if len(runs) > 1 and pane.stats is not None:
                pane.run_label = ""
                pane.show_stats(pane.stats, self.shown_mode, summarize_runs(runs))
                pane.status = f"done · mean ± sd of {len(runs)} runs"

    async def on_run_finished(self, message: RunFinished) -> None:
        self.running = False
        self.last_session = message.session
        if self.round is not None and message.error and not self.round.revealed:
            self.round.revealed = True  # no battle (an unknown pool, one model): nothing to hide
            for pane in self.query(ContestantPane):
                pane.status = "no battle"
            self.refresh_bindings()
        if message.error:
            self.notify(message.error, severity="error", timeout=10)
        if self.duel is not None and self.duel.record_error:
            self.notify(f"not recorded: {self.duel.record_error}", severity="warning")

    def worker_failed(self, worker) -> None:
        """A bug in the bridge must not leave the tab stuck in 'running'."""
        self.running = False

    # ------------------------------------------------------------ replay of a recorded session

    async def replay(self, timeline, name: str, models: dict[str, str], speed: float = 1.0, blind: bool = False):
        """A recorded battle replays blind until its own vote (``blind``)."""
        if self.running:
            self.notify("A run is in progress: Esc cancels it first.", severity="warning")
            return
        self.round = BlindRound("", replay=True) if blind else None
        self.set_class(blind or self.blind, "-blind")  # the pickers' models are not the battle's: hidden too
        self._lay_out(len(models))
        if blind:
            for side in self.sides:
                self._pane(side).set_title(HIDDEN)
        await super().replay(timeline, name, models, speed)

    def on_replay_reset(self, message: ReplayReset) -> None:
        self.reset_replay_panes()
        self.query_one("#verdict", Static).update("")
        if self.round is not None and self.round.replay:  # from the start again (a seek): blind again
            self.round = BlindRound("", replay=True)
            for side in self.sides:
                self._pane(side).set_title(HIDDEN)

    def on_replay_bar_closed(self, message: ReplayBar.Closed) -> None:
        """The live duel back: the panes emptied and titled with the pickers' models (a
        prompt sent now runs those, never under the replay's titles)."""
        self.shown_mode = self.mode
        self.query_one("#settings", Static).update(self._settings_text())
        self.query_one("#verdict", Static).update("")
        if self.round is not None and self.round.replay:
            self.round = None
            self.refresh_bindings()
        self.set_class(self.blind, "-blind")
        specs = [""] * 2 if self.blind else self._specs()
        self._lay_out(len(specs))
        for side, spec in zip(PANES, specs):
            pane = self._pane(side)
            pane.reset()
            pane.clear_samples()
            pane.set_title(HIDDEN if self.blind else spec or "(no model)")
            pane.status = "ready: a prompt below, then Enter"
        self.query_one("#prompt", Input).focus()

    def on_unmount(self) -> None:
        if self.duel is not None:
            in_background(self.duel.close, "close-duel")  # joins worker processes: not on the event loop
