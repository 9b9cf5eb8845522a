"""The Quant tab, driven with Pilot: a small matrix runs in the background and fills its table."""

import json

import pytest
from textual.widgets import DataTable, Input, Markdown, Static

from llmbench.tui.app import LlmbenchApp
from llmbench.tui.screens.quant import QuantView
from tests.test_tui import visible_text, wait_for

pytestmark = pytest.mark.slow  # the TUI and the Hugging Face stack


async def test_the_quant_tab_fills_its_table_as_variants_finish(registered, tmp_path):
    questions = tmp_path / "q.jsonl"
    questions.write_text(
        json.dumps(
            {
                "question": "What is the capital of France? Answer in one sentence.",
                "answer": "The capital of France is Paris.",
            }
        )
    )
    app = LlmbenchApp()
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("f5")
        view = app.query_one(QuantView)
        assert app.focused is app.query_one("#quant-base", Input)
        app.query_one("#quant-variants", Input).value = "gguf,nonsense"
        await pilot.press("enter")  # the variants are read in a worker: the error comes back as a message
        await wait_for(
            pilot,
            lambda: "unknown variant 'nonsense'" in str(app.query_one("#quant-error", Static).render()),
            timeout=20,
        )
        assert not view.running
        app.query_one("#quant-variants", Input).value = "gguf"
        app.query_one("#quant-questions", Input).value = str(questions)
        app.query_one("#quant-tokens", Input).value = "12"
        app.query_one("#quant-base", Input).focus()
        await pilot.press("enter")
        table = app.query_one("#quant-table", DataTable)
        await wait_for(pilot, lambda: table.row_count == 1, timeout=20)
        assert table.get_row_at(0)[0] == "gguf Q4_1"
        await wait_for(pilot, lambda: view.result is not None, timeout=120)
        row = table.get_row_at(0)
        assert row[2].endswith(" s") and row[3].endswith("MiB") and float(row[4]) > 5
        assert 0 < float(row[6]) <= 1, "scored against the reference by MiniLM (in its own process)"
        assert "done in" in str(app.query_one("#quant-status", Static).render())
        assert "Paris" in app.query_one("#quant-report", Markdown).source
        assert "gguf Q4_1" in visible_text(table)


async def test_an_unexpected_error_in_the_matrix_is_reported_and_the_app_stays(registered, monkeypatch):
    """A bug in a worker reaches the app's one handler: a notification, the tab usable again."""
    import llmbench.tui.screens.quant as quant

    class Broken(quant.QuantMatrix):
        def run(self):
            yield from ()
            raise RuntimeError("a bug in the matrix")

    monkeypatch.setattr(quant, "QuantMatrix", Broken)
    app = LlmbenchApp()
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("f5")
        view = app.query_one(QuantView)
        app.query_one("#quant-variants", Input).value = "gguf"
        app.query_one("#quant-base", Input).focus()
        await pilot.press("enter")
        await wait_for(pilot, lambda: any("a bug in the matrix" in n.message for n in app._notifications), timeout=30)
        assert app.is_running and not view.running
        assert "RuntimeError" in next(n.message for n in app._notifications if "a bug" in n.message)
