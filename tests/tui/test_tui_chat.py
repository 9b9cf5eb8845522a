"""The Chat tab and the evaluation screen, driven with Pilot on the demo corpus and SmolLM2."""

import pytest
from textual.widgets import DataTable, Input, Markdown, TabbedContent

from llmbench.engine.rag import collection as coll
from llmbench.tui.app.app import LlmbenchApp
from llmbench.tui.app.modals.eval import EvalScreen
from llmbench.tui.app.modals.index_dialog import IndexDialog
from llmbench.tui.app.tabs.chat import ChatView
from llmbench.tui.app.widgets.contestant import ContestantPane
from llmbench.tui.app.widgets.passages import Passage
from tests.helpers import PAGES, visible_text, wait_for, wait_shown, write_pdf

pytestmark = pytest.mark.slow  # the TUI, the embedder and the models

SIZE = (120, 36)


async def open_chat(pilot) -> ChatView:
    await pilot.press("f3")
    await pilot.pause()
    assert pilot.app.query_one(TabbedContent).active == "chat"
    view = pilot.app.query_one(ChatView)
    await wait_for(pilot, lambda: view.ready is not None, timeout=120)
    return view


async def test_chat_shows_passages_and_streams_a_cited_answer(registered, demo_collection):
    app = LlmbenchApp()
    async with app.run_test(size=SIZE) as pilot:
        view = await open_chat(pilot)
        assert view.ready["chunks"] > 100
        assert app.focused is view.query_one("#chat-question", Input)
        await pilot.press(*"How do I install pypdf with AES support?")
        await pilot.press("enter")
        await wait_for(pilot, lambda: view.running)
        await wait_for(pilot, lambda: not view.running, timeout=120)
        passages = list(view.query(Passage))
        assert len(passages) == 4
        await wait_shown(pilot, passages[0], "pkg:pypdf")
        assert "bm25 #" in visible_text(passages[0])
        pane = view.query_one("#pane-a", ContestantPane)
        assert pane.status.startswith("done") and pane.answer.strip()
        assert not pane.has_class("-streaming"), "the answer is shown as Markdown, its sources added to it"
        assert pane.query_one(Markdown).source == pane.text
        assert "**You:** How do I install pypdf with AES support?" in pane.text
        assert "retrieved 4 passages" in str(view.query_one("#chat-status").render())
        assert view.last_session and view.chat.history["a"]
        # a new chat forgets the history, the models stay loaded
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert view.chat.history["a"] == [] and pane.text == ""
        assert not list(view.query(Passage)), "the old question's passages go too"


async def test_esc_right_after_the_first_question_cancels_it(registered, demo_collection):
    """The first retrieval loads the embedder (seconds): Esc then is not lost."""
    app = LlmbenchApp()
    async with app.run_test(size=(80, 24)) as pilot:
        view = await open_chat(pilot)
        await pilot.press(*"What is GGUF?", "enter")
        assert view.running
        await pilot.press("escape")
        await wait_for(pilot, lambda: not view.running, timeout=30)
        pane = view.query_one("#pane-a", ContestantPane)
        assert pane.status == "cancelled", pane.status
        assert view.chat.history["a"] == [], "a cancelled question is not part of the conversation"
        await pilot.press(*"What is GGUF?", "enter")  # the next question is answered
        await wait_for(pilot, lambda: not view.running, timeout=120)
        assert pane.status.startswith("done") and pane.answer.strip()


async def test_index_dialog_indexes_a_pdf_and_selects_it(registered, demo_collection, tmp_path):
    pdf = write_pdf(tmp_path / "manual.pdf", PAGES)
    app = LlmbenchApp()
    async with app.run_test(size=SIZE) as pilot:
        view = await open_chat(pilot)
        await pilot.press("f8")
        await pilot.pause()
        dialog = app.screen
        assert isinstance(dialog, IndexDialog)
        dialog.query_one("#index-name", Input).value = "pump"
        paths = dialog.query_one("#index-paths", Input)
        paths.value = str(pdf)
        paths.focus()
        await pilot.press("enter")
        await wait_for(pilot, lambda: getattr(dialog, "indexed", None) == "pump", timeout=60)
        await wait_shown(pilot, dialog.query_one("#index-status"), "5 chunks")
        await pilot.press("escape")
        await wait_for(pilot, lambda: view.ready is not None and view.ready["name"] == "pump", timeout=60)
        assert [c["name"] for c in coll.list_collections()] == ["demo", "pump"]


async def test_evaluation_screen_runs_the_question_set(registered, demo_collection, tmp_path):
    questions = tmp_path / "q.jsonl"
    questions.write_text(
        '{"id": "faiss", "question": "What is Faiss?", "answer": "A library for similarity search of dense vectors.", "source": "pkg:faiss-cpu"}\n'
        '{"id": "pypdf", "question": "How to install pypdf with AES?", "answer": "pip install pypdf[crypto]", "source": "pkg:pypdf"}\n'
    )
    app = LlmbenchApp()
    async with app.run_test(size=(80, 24)) as pilot:  # no bars there: every figure on screen
        view = await open_chat(pilot)
        view.params = view.params.replace(max_tokens=16, temperature=0.0)
        await pilot.press("f7")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, EvalScreen)
        box = screen.query_one("#eval-questions", Input)
        box.value = str(questions)
        await pilot.press("enter")
        await wait_for(pilot, lambda: screen.running)
        await wait_for(pilot, lambda: not screen.running and screen.result is not None, timeout=180)
        table = screen.query_one(DataTable)
        assert table.row_count == 2
        shown = visible_text(table)
        assert " ms " in shown and "hit" in shown and table.max_scroll_x == 0, shown
        summary = visible_text(screen.query_one("#eval-summary"))
        assert "mean cosine" in summary and "retrieval hit rate 100%" in summary
        assert screen.files["csv"].exists()
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, EvalScreen)
