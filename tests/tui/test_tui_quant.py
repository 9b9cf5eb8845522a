"""The Quant tab, driven with Pilot: a small matrix runs in the background and fills its table."""

import json
import re

import pytest
from textual.widgets import DataTable, Input, Markdown, Static

from llmbench.engine.experiments.quant.fidelity import pareto
from llmbench.tui.app.app import LlmbenchApp
from llmbench.tui.app.modals.token_view import TokenView
from llmbench.tui.app.tabs.quant import QuantView
from tests.helpers import visible_text, wait_for, wait_shown


async def wait_for_screen(pilot, app, kind, timeout: float = 10):
    await wait_for(pilot, lambda: isinstance(app.screen, kind), timeout=timeout)
    return app.screen


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
        app.query_one("#quant-types", Input).value = "Q9"
        app.query_one("#quant-base", Input).focus()
        await pilot.press("enter")
        assert "Q9: not a type llmbench quantizes to" in str(app.query_one("#quant-error", Static).render())
        app.query_one("#quant-types", Input).value = "Q2_K"
        app.query_one("#quant-questions", Input).value = str(questions)
        app.query_one("#quant-tokens", Input).value = "12"
        app.query_one("#quant-base", Input).focus()
        await pilot.press("enter")
        table = app.query_one("#quant-table", DataTable)
        await wait_for(pilot, lambda: table.row_count == 2, timeout=20)
        assert [table.get_row_at(i)[0] for i in range(2)] == ["gguf Q4_1", "gguf Q2_K"]
        await wait_for(pilot, lambda: view.result is not None, timeout=400)
        q4, q2 = table.get_row_at(0), table.get_row_at(1)
        assert float(q4[2]) > 50 and float(q4[3]) > 100 and float(q4[4].split()[0]) > 5  # MiB: in the headers
        assert re.fullmatch(r"[\d.]+ \(1 sample\)( \(host busy\))?", q4[4]), (
            "one question: one sample, and it says so",
            q4[4],
        )
        kld = [float(r[5].split(" ± ")[0]) for r in (q4, q2)]
        assert 0 < kld[0] < 0.05 < kld[1], "Q2_K departs from the F32 reference far more than Q4_1 does"
        assert 90 < float(q4[6].split(" ± ")[0]) <= 100 and " ± " in q4[7]
        assert 0 < float(q4[9]) <= 1, "scored against the reference answer by MiniLM (in its own process)"
        assert "done in" in str(app.query_one("#quant-status", Static).render())
        assert "Paris" in app.query_one("#quant-report", Markdown).source
        assert "Mean KLD" in visible_text(table) and "size MiB" in visible_text(table)
        assert [p["variant"] for p in pareto(view.result["rows"]) if p["front"]], "the chart has a front"
        # the token view of Q2_K against the reference: a token highlighted, both models' top tokens
        table.focus()
        await pilot.press("down", "t")
        tv = await wait_for_screen(pilot, app, TokenView)
        await wait_for(pilot, lambda: tv.view is not None, timeout=120)
        cursor = tv.view["tokens"][tv.cursor]
        assert cursor["kld"] >= 0.1, "n-style start: the first token of large KLD"
        spans = [s for s in tv.render_text().spans if "reverse" in str(s.style)]
        assert len(spans) == 1
        await wait_shown(pilot, tv.query_one("#tv-detail", Static), "reference's top")
        before = tv.cursor
        await pilot.press("right")
        assert tv.cursor == before + 1
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, TokenView)


async def test_an_unexpected_error_in_the_matrix_is_reported_and_the_app_stays(registered, monkeypatch):
    """A bug in a worker reaches the app's one handler: a notification, the tab usable again."""
    import llmbench.tui.app.tabs.quant as quant

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


async def test_the_duel_tab_opens_the_token_view_of_b_against_a(registered):
    """Ctrl+T after a duel: B against A on the prompt and A's answer (here one model twice: KLD 0)."""
    from llmbench.tui.app.tabs.duel import DuelView
    from tests.helpers import SIZE, ask

    app = LlmbenchApp()
    async with app.run_test(size=SIZE) as pilot:
        view = app.query_one(DuelView)
        await pilot.press("ctrl+t")
        assert not isinstance(app.screen, TokenView), "nothing to compare before a duel"
        app.query_one("#spec-b", Input).value = app.query_one("#spec-a", Input).value = "smollm2"
        await ask(pilot, "Name a colour.")
        await wait_for(pilot, lambda: not view.running, timeout=120)
        await pilot.press("ctrl+t")
        tv = await wait_for_screen(pilot, app, TokenView)
        await wait_for(pilot, lambda: tv.view is not None, timeout=120)
        assert tv.view["kld_mean"] == 0 and tv.view["same_top_p"] == 1.0
        assert "Name a colour." in "".join(c["text"] for c in tv.view["tokens"])
        await wait_shown(pilot, tv.query_one("#tv-title", Static), "against")
        await pilot.press("escape")


async def test_the_quant_tab_starts_from_the_last_base_questions_and_variants(registered):
    from llmbench.engine.config import save_config

    save_config(quant_base="gemma3-270m", quant_questions="qs.jsonl", quant_variants="fp32,gguf Q8_0",
                quant_types="Q8_0", quant_tokens="16")  # fmt: skip
    app = LlmbenchApp()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f5")
        keys = ("base", "questions", "variants", "types", "tokens")
        values = [app.query_one(f"#quant-{k}", Input).value for k in keys]
        assert values == ["gemma3-270m", "qs.jsonl", "fp32,gguf Q8_0", "Q8_0", "16"], (
            "the last run, not the full ladder"
        )
