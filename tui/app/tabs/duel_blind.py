"""What the Duel tab holds back during a blind battle (issue 29).

Nothing that gives a contestant away reaches the screen while the answers come: no
name, no live text (its pace is speed), no load time, RAM, stats or verdict. Both
answers appear at once when both are over; the vote (a, b, t, x) then reveals the
names and every figure, replayed from the events kept here. A battle whose side
failed or was cancelled is revealed at once: it is recorded and never counted. A
recorded battle replays the same way: blind until its vote comes."""

from __future__ import annotations

from dataclasses import dataclass, field

from textual.widgets import Input, Static
from textual.worker import get_current_worker

from llmbench.engine.errors import LlmbenchError
from llmbench.engine.runtime.events import Done, Error, Verdict
from llmbench.engine.runtime.params import GenParams

from ..bridge import Bridge
from ..messages import Ready, RunFinished
from ..widgets.contestant import ContestantPane, apply_side_event
from ..workers import UI_CORES, engine_work

HIDDEN = "hidden until the vote"
VOTE_HINT = "both answers are in · vote: a (A better) · b · t (a tie) · x (both bad)"
REPLAY_HINT = "both answers are in · the recorded vote comes next"
VOTES = {"a": "A is better", "b": "B is better", "tie": "a tie", "both_bad": "both are bad"}


@dataclass
class BlindRound:
    pool: str
    texts: dict[str, list[str]] = field(default_factory=lambda: {"a": [], "b": []})
    counts: dict[str, int] = field(default_factory=lambda: {"a": 0, "b": 0})
    events: dict[str, list] = field(default_factory=lambda: {"a": [], "b": []})
    ends: dict[str, object] = field(default_factory=dict)  # side -> its Done or Error
    verdict: str = ""
    voted: str | None = None
    revealed: bool = False
    outcome: str = ""  # what the reveal says: the vote, or why there is none
    replay: bool = False  # a recorded battle: its own vote reveals it, none is taken

    def token(self, side: str, text: str, count: int) -> None:
        self.texts[side].append(text)
        self.counts[side] += count

    def event(self, side: str, event: object) -> bool:
        """Keep one event; True when it is the second side's end (both answers are in)."""
        if isinstance(event, Verdict):
            self.verdict = event.text
            return False
        self.events.setdefault(side, []).append(event)
        if isinstance(event, Done | Error) and side not in self.ends:
            self.ends[side] = event
            return len(self.ends) == 2
        return False

    @property
    def both_in(self) -> bool:
        return len(self.ends) == 2

    def not_countable(self) -> str | None:
        """Why this battle gets no vote (a side failed or was cancelled), or None."""
        for side, end in sorted(self.ends.items()):
            if isinstance(end, Error):
                return f"{side.upper()} {'was cancelled' if end.code == 'cancelled' else 'failed'}"
            if isinstance(end, Done) and end.finish_reason == "cancelled":
                return f"{side.upper()} was cancelled"
        return None

    def text(self, side: str) -> str:
        return "".join(self.texts[side])


class BlindBattles:
    """The Duel tab's blind battles (Ctrl+B): what DuelView does when ``blind`` is on."""

    def action_blind(self) -> None:
        """Blind battles on or off: two models drawn from the pool, hidden until the vote."""
        if self.running:
            self.notify("A duel is running: Esc cancels it first.", severity="warning")
            return
        self.blind = not self.blind
        self.set_class(self.blind, "-blind")
        self.query_one("#settings", Static).update(self._settings_text())
        if self.blind:
            pool = self.query_one("#pool", Input)
            self._lay_out(2)  # a battle is two
            for side in ("a", "b"):
                self._pane(side).set_title(HIDDEN)
            self.notify("Blind battles: two models of the pool answer as A and B; you vote (a, b, t, x), "
                        "then see who was who.", timeout=8)  # fmt: skip
            (pool if not pool.value.strip() else self.query_one("#prompt", Input)).focus()
        else:
            self.round = None
            specs = self._specs()
            self._lay_out(len(specs))
            for side, spec in zip(self.sides, specs):
                self._pane(side).set_title(spec or "(no model)")
        self.refresh_bindings()

    def action_leaderboard(self) -> None:
        from ..modals.leaderboard import LeaderboardScreen

        self.app.push_screen(LeaderboardScreen(self.query_one("#pool", Input).value.strip()))

    def check_action(self, action: str, parameters: tuple) -> bool | None:
        """The vote keys are live (and in the footer) only while a blind battle awaits its vote."""
        if action == "vote":
            r = self.round
            return r is not None and r.voted is None and not r.revealed and not r.replay
        if action == "leaderboard":
            return self.blind
        return True

    def action_vote(self, winner: str) -> None:
        r = self.round
        if r is None or r.voted is not None or r.revealed or r.replay:
            return
        if not r.both_in:
            self.notify("The vote waits for both answers.", severity="warning")
            return
        r.voted = winner
        self.refresh_bindings()
        self.cast_vote(winner)

    @engine_work("vote")
    def cast_vote(self, winner: str) -> None:
        """The vote into the battle's session (a file write: off the event loop)."""
        try:
            self.battle.vote(winner)
            self.post_message(Ready("vote", winner))
        except LlmbenchError as exc:
            self.post_message(Ready("vote", winner, str(exc)))

    async def on_ready(self, message: Ready) -> None:
        if message.what != "vote":
            return
        if message.error:
            self.notify(message.error, severity="error", timeout=10)
        await self._reveal(f"{VOTES[message.value]} · recorded" if not message.error else "not recorded")

    async def _answers_in(self) -> None:
        """Both answers at once, still nameless; then the vote, or (a side that failed or
        was cancelled) the names at once: recorded, not counted."""
        r = self.round
        for side in ("a", "b"):
            pane = self._pane(side)
            await pane.append(r.text(side), 0)  # no token count: it is a figure too
            await pane.settle()
        if why := r.not_countable():
            await self._reveal(f"{why}: recorded, not counted")
            return
        for side in ("a", "b"):
            self._pane(side).status = "answer in"
        self.query_one("#verdict", Static).update(REPLAY_HINT if r.replay else VOTE_HINT)
        if not r.replay:
            self._pane("a").query_one("VerticalScroll").focus()  # off the prompt: the vote keys are plain letters
        self.refresh_bindings()

    async def _reveal(self, outcome: str) -> None:
        """Names and every figure, from the events held back, in the order they came."""
        r = self.round
        r.revealed, r.outcome = True, outcome
        panes = {side: self._pane(side) for side in ("a", "b")}
        for side in ("a", "b"):
            for event in r.events[side]:
                await apply_side_event(panes, side, event, self.shown_mode, self.notify)
        self._show_outcome()
        self.refresh_bindings()
        if not r.replay:
            self.query_one("#prompt", Input).focus()

    def _show_outcome(self) -> None:
        r = self.round
        self.query_one("#verdict", Static).update(f"{r.outcome} · {r.verdict}" if r.verdict else r.outcome)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        """The pool field (a mixin's handler: ``@on`` selectors are the widget class's own)."""
        if event.input.id != "pool":
            return
        self.app.remember(arena_pool=event.value.strip())
        self.query_one("#prompt", Input).focus()

    async def _start_battle(self, prompt: str) -> None:
        pool = self.query_one("#pool", Input).value.strip()
        if not pool:
            self.notify("Name an arena pool first (llmbench arena add POOL SPEC SPEC...).", severity="warning")
            self.query_one("#pool", Input).focus()
            return
        self.app.remember(arena_pool=pool)
        self.round = BlindRound(pool)
        self._lay_out(2)
        for pane in self.query(ContestantPane):
            pane.reset()
            pane.clear_samples()
            pane.set_title(HIDDEN)
            pane.status = "answering…"
        self.query_one("#verdict", Static).update("")
        self.refresh_bindings()
        self.running = True
        self._rounds, self._repeats = 0, {"a": [], "b": []}
        self.last_prompt = prompt
        self.run_battle(prompt, pool, self.params, self.mode)

    @engine_work("duel")
    def run_battle(self, prompt: str, pool_name: str, params: GenParams, mode: str) -> None:
        """A new battle (a new draw) for each prompt; its events through the one bridge."""
        from llmbench.engine.experiments.arena.battle import Battle
        from llmbench.engine.experiments.arena.pools import get_pool

        worker = get_current_worker()
        if self.duel is not None:
            self.duel.close()
        self.duel, self._duel_key, error = None, None, None
        try:
            self.battle = Battle(get_pool(pool_name), params, mode=mode, reserve_cores=UI_CORES)
            self.duel = self.battle.duel
            Bridge(self.post_message).pump(self.duel.run(prompt))
        except LlmbenchError as exc:
            error = str(exc)
        session = self.duel.session_path if self.duel else None
        if not worker.is_cancelled:
            self.post_message(RunFinished(str(session) if session else None, error))
