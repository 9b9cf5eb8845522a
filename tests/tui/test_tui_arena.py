"""Blind battles in the Duel tab, at 80x24: nothing on the whole screen gives a
contestant away before the vote (no name, no speed, no RAM, no stat), everything does
after it; a vote key before both answers are in says so; the vote is recorded and the
leaderboard page (Ctrl+R) shows it."""

from __future__ import annotations

import re

import pytest
from textual.widgets import Input

from llmbench.engine.experiments.arena.pools import add_to_pool
from llmbench.engine.sessions import read_session
from llmbench.tui.app.app import LlmbenchApp
from llmbench.tui.app.tabs.duel import DuelView
from tests.helpers import SIZE, screen_text, wait_for

pytestmark = pytest.mark.slow

GIVEAWAYS = re.compile(r"smollm2|SmolLM2|Q4_1|tok/s|MiB|TTFT|\d+ ms|loaded in|slower|faster", re.IGNORECASE)


async def test_a_blind_battle_hides_everything_until_the_vote_then_reveals_it(registered, smollm2):
    add_to_pool("twins", ["smollm2", smollm2.removeprefix("gguf:")])
    app = LlmbenchApp()
    async with app.run_test(size=SIZE) as pilot:
        view = app.query_one(DuelView)
        view.params = view.params.replace(max_tokens=16, temperature=0)  # greedy: no answer can say "9 ms" by luck
        await pilot.press("ctrl+b")
        assert view.blind and app.focused is app.query_one("#pool", Input)
        await pilot.press(*"twins", "enter")
        assert app.focused is app.query_one("#prompt", Input)
        await pilot.press(*"Name a colour.", "enter")
        seen = []
        while view.running or not view.round.both_in:  # every frame while the answers come
            seen.append(screen_text(app))
            await pilot.pause(0.05)
        await pilot.pause(0.3)
        before = screen_text(app)
        for text in [*seen, before]:
            assert not GIVEAWAYS.search(text), GIVEAWAYS.search(text)
        assert "vote: a (A better)" in before and app.focused is not app.query_one("#prompt", Input)
        await pilot.press("a")
        await wait_for(pilot, lambda: view.round.revealed and "recorded" in screen_text(app), timeout=30)
        after = screen_text(app)
        assert "A is better · recorded" in after and "tok/s" in after and "MiB" in after
        assert "SmolLM2" in after or "smollm2" in after
        log = read_session(view.last_session)
        assert log.kind == "battle" and [e["winner"] for e in log.events if e["type"] == "vote"] == ["a"]
        await pilot.press("ctrl+r")  # the leaderboard page: the one battle, both models, their figures
        await wait_for(pilot, lambda: "rating (95% CI)" in screen_text(app), timeout=30)
        assert "MiB" in screen_text(app) and "tok/s" not in screen_text(app).split("rating")[0]
        notes = str(app.screen.query_one("#board-notes").render())
        assert "1 battle counted" in notes and "Pareto front" in notes


async def test_a_vote_key_before_both_answers_says_so(registered, smollm2):
    add_to_pool("twins", ["smollm2", smollm2.removeprefix("gguf:")])
    app = LlmbenchApp()
    async with app.run_test(size=SIZE) as pilot:
        view = app.query_one(DuelView)
        await pilot.press("ctrl+b", *"twins", "enter", *"Count to twenty.", "enter")
        await wait_for(pilot, lambda: view.round is not None)
        view.action_vote("a")  # as the key would, were it pressed now
        await pilot.pause()
        assert view.round.voted is None
        assert any("waits for both answers" in n.message for n in app._notifications)
        await pilot.press("escape")
        await wait_for(pilot, lambda: not view.running, timeout=60)
        await pilot.pause(0.3)
        if view.round.revealed:  # cancelled mid-answer: the names at once, and no vote
            assert "recorded, not counted" in screen_text(app)
        else:  # (both were over before Esc came: the vote is what waits)
            assert view.round.both_in and "vote: a (A better)" in screen_text(app)


async def test_a_recorded_battle_replays_blind_until_its_own_vote(registered, smollm2):
    from llmbench.engine.experiments.arena.battle import Battle
    from llmbench.engine.experiments.arena.pools import get_pool
    from llmbench.engine.runtime.params import GenParams
    from llmbench.engine.sessions.digest import load_all
    from llmbench.engine.sessions.replay import Timeline

    add_to_pool("twins", ["smollm2", smollm2.removeprefix("gguf:")])
    with Battle(get_pool("twins"), GenParams(max_tokens=24, temperature=0)) as battle:
        list(battle.job("Name a colour.").run())
        battle.vote("b")
        path = battle.duel.session_path
    d = next(d for d in load_all()[0] if d.path == str(path))
    app = LlmbenchApp()
    async with app.run_test(size=SIZE) as pilot:
        view = app.query_one(DuelView)
        await app.open_session(Timeline.from_log(read_session(path)), d)
        await pilot.pause()  # the screen as it is next drawn
        frames = []
        while not (view.round and view.round.revealed):
            frames.append(screen_text(app))
            await pilot.pause(0.05)
        leaks = [m.group(0) for f in frames if (m := GIVEAWAYS.search(f))]
        assert frames and not leaks, (leaks, [f for f in frames if GIVEAWAYS.search(f)][0].splitlines())
        await pilot.pause(0.3)
        after = screen_text(app)
        assert "the vote: B is better" in after and "tok/s" in after and "MiB" in after
        assert not view.check_action("vote", ()), "a replay takes no vote"
