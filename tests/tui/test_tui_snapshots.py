"""The TUI's layouts at 80x24, as SVG snapshots (pytest-textual-snapshot): a layout that
regresses (a field that hides what is typed, a button without its label, a tab that
overflows) fails here. After a deliberate change of layout, look at the report and run
``pytest tests/tui/test_tui_snapshots.py --snapshot-update``."""

import pytest
from textual.widgets import Input

from llmbench.engine.util.cpus import CpuBudget
from llmbench.tui.app.app import LlmbenchApp

pytestmark = pytest.mark.slow  # the TUI

SIZE = (80, 24)


@pytest.fixture
def steady(registered, monkeypatch):
    """What a screen may show of this machine is fixed: 2 cores."""
    import llmbench.tui.app.modals.params as params_screen

    monkeypatch.setattr(params_screen, "cpu_budget", lambda: CpuBudget(2, 2, None, 2, 2, (0, 1)))
    monkeypatch.setattr(params_screen, "usable_cpus", lambda: 2)


def keys(*pressed: str, until=None, then: tuple[str, ...] = ()):
    """Press ``pressed``, wait for ``until(app)`` if given (seconds, never a fixed
    sleep), press ``then``, then stop every cursor blinking, so the picture does not
    depend on when it is taken."""

    async def run_before(pilot) -> None:
        await pilot.press(*pressed)
        for _ in range(600 if until else 0):
            if until(pilot.app):
                break
            await pilot.pause(0.1)
        await pilot.press(*then)
        await pilot.pause()
        for field in pilot.app.screen.query(Input):
            field.cursor_blink = False
        await pilot.pause()

    return run_before


def chat_ready(app) -> bool:
    from llmbench.tui.app.tabs.chat import ChatView

    return app.query_one(ChatView).ready is not None


@pytest.mark.parametrize("key", ["f1", "f2", "f4", "f5", "f6"])
def test_each_tab_at_80x24(snap_compare, steady, key):
    assert snap_compare(LlmbenchApp(), run_before=keys(key), terminal_size=SIZE)


def test_chat_tab_with_its_collection_ready(snap_compare, steady, demo_collection):
    """The demo corpus is installed packages' READMEs: its chunk count moves with their
    releases (transformers 5.24 to 5.25 made it 346 to 342), so the picture shows "N"."""
    ready = keys("f3", until=chat_ready)

    async def run_before(pilot) -> None:
        import re

        from textual.widgets import Static

        await ready(pilot)
        status = pilot.app.query_one("#chat-status", Static)
        status.update(re.sub(r"\d+ chunks", "N chunks", str(status.render())))
        await pilot.pause()

    assert snap_compare(LlmbenchApp(), run_before=run_before, terminal_size=SIZE)


@pytest.mark.parametrize("size", [(60, 20), (120, 36)])
@pytest.mark.parametrize("key", ["f1", "f4"])
def test_duel_and_sessions_at_60x20_and_120x36(snap_compare, steady, key, size):
    assert snap_compare(LlmbenchApp(), run_before=keys(key), terminal_size=size)


@pytest.mark.parametrize("key", ["f8", "f7"])
def test_chat_index_and_evaluation_screens(snap_compare, steady, demo_collection, key):
    assert snap_compare(LlmbenchApp(), run_before=keys("f3", until=chat_ready, then=(key,)), terminal_size=SIZE)


@pytest.mark.parametrize("key", ["r", "d"])
def test_session_rename_and_delete_dialogs(snap_compare, steady, key):
    """On the user's own copy of the sample duel (a sample cannot be renamed or deleted)."""
    import shutil

    from llmbench.engine import paths
    from tests.helpers import sample

    shutil.copy(sample("duel").path, paths.ensure(paths.sessions_dir()) / sample("duel").path.name)

    def listed(app) -> bool:
        from llmbench.tui.app.tabs.sessions import SessionsView

        return bool(app.query_one(SessionsView).digests)

    assert snap_compare(LlmbenchApp(), run_before=keys("f4", until=listed, then=(key,)), terminal_size=SIZE)


def test_duel_settings_with_a_value_being_typed(snap_compare, steady):
    """Tab to threads (mode, repeat, then the parameters), type over its value: the
    field shows what is typed, the help line says what auto means here, and both
    buttons have their labels."""
    assert snap_compare(LlmbenchApp(), run_before=keys("ctrl+o", *["tab"] * 10, "3"), terminal_size=SIZE)


def test_blind_battles_at_80x24(snap_compare, steady):
    """Ctrl+B: the pool in place of the two models' names, the panes nameless."""
    assert snap_compare(LlmbenchApp(), run_before=keys("f1", "ctrl+b", *"twins"), terminal_size=SIZE)


@pytest.mark.parametrize("size", [(160, 50), (80, 24)])
def test_four_contestants_side_by_side_or_in_two_rows(snap_compare, steady, size):
    """Four SmolLM2s: four columns at 160x50; two rows of two at 80x24."""
    from llmbench.engine.config import save_config

    save_config(duel_a="smollm2", duel_b="smollm2", duel_more="smollm2, smollm2")
    assert snap_compare(LlmbenchApp(), run_before=keys("f1"), terminal_size=size)
