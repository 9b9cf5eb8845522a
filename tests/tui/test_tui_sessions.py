"""The Sessions tab and replays in the Duel and Chat tabs, driven with Pilot. No model loads."""

import shutil

import pytest
from textual.widgets import DataTable, Input, Static

from llmbench.engine import paths, sessions
from llmbench.engine.sessions import read_session
from llmbench.engine.sessions.digest import digest
from llmbench.tui.app.app import LlmbenchApp
from llmbench.tui.app.tabs.chat import ChatView
from llmbench.tui.app.tabs.duel import DuelView
from llmbench.tui.app.tabs.sessions import SessionsView
from llmbench.tui.app.widgets.contestant import ContestantPane
from llmbench.tui.app.widgets.passages import Passage
from llmbench.tui.app.widgets.replay_bar import ReplayBar
from tests.helpers import sample, visible_text, wait_for

pytestmark = pytest.mark.slow  # the TUI

SIZE = (120, 36)


async def open_tab(pilot) -> SessionsView:
    await pilot.press("f4")
    view = pilot.app.query_one(SessionsView)
    await wait_for(pilot, lambda: view.digests, timeout=20)
    return view


async def filter_to(pilot, view: SessionsView, text: str) -> None:
    box = pilot.app.query_one("#sessions-filter", Input)
    box.value = text
    await pilot.pause()
    view.query_one(DataTable).focus()


async def test_list_filter_and_replay_a_duel_at_recorded_pace_then_instantly():
    d = digest(sample("duel"))
    app = LlmbenchApp()
    async with app.run_test(size=SIZE) as pilot:
        view = await open_tab(pilot)
        table = view.query_one(DataTable)
        assert table.row_count >= 3
        assert "duel" in visible_text(table) and "sample" in str(view.query_one("#sessions-count", Static).render())
        await filter_to(pilot, view, "kind:duel")
        assert table.row_count == 1 and view.selected.id == d.id
        assert d.turns[0].prompt[:20] in "".join(w.source for w in view.query("Markdown"))  # the preview
        await pilot.press("enter")
        duel = app.query_one(DuelView)
        bar = duel.query_one(ReplayBar)
        await wait_for(pilot, lambda: bar.active and app.focused is bar, timeout=5)
        a = duel.query_one("#pane-a", ContestantPane)
        # 1x: the first tokens arrive after the recorded load and TTFT, not at once
        await wait_for(pilot, lambda: a.tokens > 0, timeout=10)
        b = duel.query_one("#pane-b", ContestantPane)
        first_b = next(c.at for c in bar.player.timeline.cues if c.channel == "b" and type(c.event).__name__ == "Token")
        assert first_b > 0.5 and b.tokens == 0 and bar.player.position < first_b  # B answers later (sequential)
        await pilot.press("space")  # pause
        assert not bar.player.playing
        before = bar.player.position
        await pilot.press("right")  # seek 5 s
        assert bar.player.position >= min(before + 4.9, bar.player.timeline.duration)
        await pilot.press("0")  # instant
        await wait_for(pilot, lambda: bar.player.finished, timeout=5)
        await pilot.pause(0.2)
        last = d.turns[-1]
        assert a.text.strip().startswith(last.answers["a"].text.strip()[:20])
        assert b.text.strip().startswith(last.answers["b"].text.strip()[:20])
        assert a.stats is not None and a.stats.gen_tok_s == last.answers["a"].stats["gen_tok_s"]
        assert str(duel.query_one("#verdict", Static).render()) == last.verdict
        assert duel.query_one("#prompt", Input).value == last.prompt
        assert "replay" in str(bar.render()) and "■" in str(bar.render())
        whole = a.tokens
        await pilot.press("home")  # restart from the beginning, at 1x: seconds from the end again
        assert not bar.player.finished and a.tokens < whole / 2
        await pilot.press("escape")
        assert not bar.active and app.focused is duel.query_one("#prompt", Input)
        assert duel.duel is None  # no model was loaded


async def test_chat_replays_with_its_passages():
    d = digest(sample("chat"))
    app = LlmbenchApp()
    async with app.run_test(size=SIZE) as pilot:
        view = await open_tab(pilot)
        await filter_to(pilot, view, "kind:chat")
        await pilot.press("i")  # open at once
        chat = app.query_one(ChatView)
        bar = chat.query_one(ReplayBar)
        await wait_for(pilot, lambda: bar.active and bar.player.finished, timeout=10)
        await pilot.pause(0.2)
        assert chat.has_class("-single") and chat.client is None  # no embedder, no model
        passages = list(chat.query(Passage))
        assert len(passages) == len(d.turns[-1].retrieval["hits"])
        a = chat.query_one("#pane-a", ContestantPane)
        for turn in d.turns:
            assert f"**You:** {turn.prompt}" in a.text
        assert "*Sources:" in a.text or not any(ch.isdigit() for ch in a.answer)


async def test_rename_tag_and_delete_with_confirmation():
    folder = paths.ensure(paths.sessions_dir())
    mine = folder / sample("duel").path.name
    shutil.copy(sample("duel").path, mine)
    app = LlmbenchApp()
    async with app.run_test(size=SIZE) as pilot:
        view = await open_tab(pilot)
        await filter_to(pilot, view, "kind:duel")
        table = view.query_one(DataTable)
        assert table.row_count == 2 and not view.selected.sample  # the user's copy comes first
        await pilot.press("r")
        box = app.screen.query_one("#answer", Input)
        box.value = ""
        await pilot.press(*"capital check", "enter")  # written by a worker thread: wait for it
        await wait_for(pilot, lambda: sessions.read_meta(mine).get("title") == "capital check", timeout=20)
        await wait_for(pilot, lambda: "capital check" in visible_text(table), timeout=20)
        await pilot.press("t")
        await pilot.press(*"geo demo", "enter")
        await wait_for(pilot, lambda: sessions.read_meta(mine).get("tags") == ["demo", "geo"], timeout=20)
        await filter_to(pilot, view, "tag:geo")
        assert table.row_count == 1
        await pilot.press("d")
        await pilot.press("escape")  # "Keep"
        await pilot.pause()
        assert mine.exists()
        await pilot.press("d")
        await pilot.click("#yes")
        await wait_for(pilot, lambda: not mine.exists() and table.row_count == 0, timeout=20)
        read_session(sample("duel").path)  # the sample is untouched
        await filter_to(pilot, view, "kind:duel")
        await pilot.press("d")  # a sample: refused, no dialog
        await pilot.pause()
        assert isinstance(app.screen.query_one(SessionsView), SessionsView)
        assert sample("duel").path.exists()


@pytest.mark.parametrize("size", [(80, 24), (60, 20)])
async def test_at_80x24_the_list_shows_names_and_stats_and_end_goes_to_the_last(size):
    """Narrow: the list above the preview, each the full width; names and stats readable;
    the preview's facts are lines (a table's label column was cut to '…'); End is the last row."""
    app = LlmbenchApp()
    async with app.run_test(size=size) as pilot:
        view = await open_tab(pilot)
        assert view.has_class("-stacked")
        table = view.query_one(DataTable)
        await filter_to(pilot, view, "kind:duel")
        shown = visible_text(table)
        d = view.selected
        assert d.first_prompt[:10] in shown, shown
        assert "tok/s" in shown, "the stats column is on screen"
        assert table.scroll_x == 0 and table.max_scroll_x == 0, "nothing is off to the side"
        preview = "".join(w.source for w in view.query("#sessions-preview Markdown"))
        assert "- **kind** duel" in preview
        await filter_to(pilot, view, "")
        await pilot.press("end")
        assert table.cursor_row == table.row_count - 1 and table.scroll_x == 0
        await pilot.press("home")
        assert table.cursor_row == 0


async def test_at_80x24_tab_reaches_the_preview_and_the_keys_scroll_it():
    """The preview's stats and answers were out of reach: Tab cycled the tab bar, filter, list."""
    from textual.containers import VerticalScroll

    app = LlmbenchApp()
    async with app.run_test(size=(80, 24)) as pilot:
        view = await open_tab(pilot)
        await filter_to(pilot, view, "kind:duel")
        preview = view.query_one("#sessions-preview", VerticalScroll)
        await wait_for(pilot, lambda: preview.max_scroll_y > 0, timeout=10)  # longer than its room
        for _ in range(4):
            if app.focused is preview:
                break
            await pilot.press("tab")
        assert app.focused is preview
        await pilot.press("pagedown")
        await wait_for(pilot, lambda: preview.scroll_y > 0, timeout=5)
        await pilot.press("end")
        await wait_for(pilot, lambda: preview.scroll_y == preview.max_scroll_y, timeout=5)


async def test_a_rag_duel_at_80_columns_shows_the_passages_on_f9():
    """Three columns do not fit 80: the two answers get the width, F9 swaps in the passages."""
    d = digest(sample("eval"))
    app = LlmbenchApp()
    async with app.run_test(size=(80, 24)) as pilot:
        view = await open_tab(pilot)
        await filter_to(pilot, view, "kind:eval")
        await pilot.press("i")
        chat = app.query_one(ChatView)
        bar = chat.query_one(ReplayBar)
        await wait_for(pilot, lambda: bar.active and bar.player.finished, timeout=10)
        await pilot.pause(0.2)
        passages = chat.query_one("#passages")
        assert not passages.display and chat.query_one("#pane-b").region.width > 30
        await pilot.press("f9")
        await pilot.pause()
        assert passages.display and passages.region.width > 70 and not chat.query_one("#answers").display
        assert len(list(chat.query(Passage))) == len(d.turns[-1].retrieval["hits"])
        await pilot.press("f9")
        await pilot.pause()
        assert not passages.display and chat.query_one("#answers").display
