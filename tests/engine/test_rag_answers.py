"""Answers over documents with real models: chat, RAG duel, context fitting, evaluation."""

from __future__ import annotations

import csv
import json

import pytest

from llmbench.engine.experiments.evaluate.questions import Question, load_questions
from llmbench.engine.experiments.evaluate.run import Evaluation, write_reports
from llmbench.engine.rag import collection as coll
from llmbench.engine.rag.chat import RagChat
from llmbench.engine.rag.retrieve import Retrieval, Retriever
from llmbench.engine.runtime.events import Done, Error, Started, Token
from llmbench.engine.runtime.params import GenParams
from llmbench.engine.sessions import read_session
from tests.helpers import PAGES, write_pdf

pytestmark = pytest.mark.slow  # the embedder and the models

FAST = GenParams(max_tokens=24, temperature=0.0)


@pytest.fixture
def pump(home, tmp_path, embedder):
    write_pdf(tmp_path / "manual.pdf", PAGES)
    coll.index_add("pump", [tmp_path / "manual.pdf"], embedder=embedder)
    return Retriever.open("pump", embedder)


def test_chat_streams_an_answer_from_the_retrieved_passages(pump, smollm2):
    with RagChat("pump", smollm2, params=FAST, retriever=pump, k=2) as chat:
        events = list(chat.ask("How long is the pump's warranty?"))
        assert isinstance(events[0][1], Retrieval) and events[0][0] == "rag"
        assert events[0][1].hits[0].page == 1
        started = [e for s, e in events if isinstance(e, Started)][0]
        assert started.context_used == 2
        assert [e for s, e in events if isinstance(e, Token)]
        done = [e for s, e in events if isinstance(e, Done)][0]
        assert done.text and done.stats.gen_tokens > 0
        assert chat.history["a"][0]["content"] == "How long is the pump's warranty?"
        # a follow-up sees the first turn: the prompt grows by it
        second = [e for s, e in chat.ask("And the filter?") if isinstance(e, Started)][0]
        assert second.prompt_tokens > started.prompt_tokens
        path = chat.duel.session_path
    log = read_session(path)
    assert log.header["kind"] == "chat" and log.header["collection"] == "pump"
    prompts = [e for e in log.events if e["type"] == "prompt"]
    assert prompts[0]["question"] == "How long is the pump's warranty?"
    assert prompts[0]["retrieval"]["hits"][0]["page"] == 1


def test_passages_are_trimmed_to_fit_a_small_context(pump, smollm2):
    params = GenParams(max_tokens=16, temperature=0.0, n_ctx=160)
    with RagChat("pump", smollm2, params=params, retriever=pump, k=5) as chat:
        events = list(chat.ask("What does error E42 mean?"))
    started = [e for s, e in events if isinstance(e, Started)][0]
    assert 0 <= started.context_used < 5 and started.prompt_tokens + 16 <= 160
    assert [e for s, e in events if isinstance(e, Done)]


def test_a_question_longer_than_the_context_is_a_clear_error(pump, smollm2):
    params = GenParams(max_tokens=16, n_ctx=64)
    with RagChat("pump", smollm2, params=params, retriever=pump, k=2) as chat:
        events = list(chat.ask("Explain the warranty terms in detail please. " * 20))
    errors = [e for s, e in events if isinstance(e, Error)]
    assert errors and "question alone is longer than the model's context" in errors[0].message


def test_rag_duel_sends_the_same_passages_to_both(pump, smollm2, gemma):
    with RagChat("pump", smollm2, gemma, params=FAST, retriever=pump, k=2, mode="sequential") as chat:
        events = list(chat.ask("How do I reset the controller?"))
        path = chat.duel.session_path
    done = {s: e for s, e in events if isinstance(e, Done)}
    assert set(done) == {"a", "b"}
    started = {s: e for s, e in events if isinstance(e, Started)}
    assert started["a"].context_used == started["b"].context_used == 2
    log = read_session(path)
    assert log.header["kind"] == "rag-duel"
    prompt = [e for e in log.events if e["type"] == "prompt"][0]
    assert prompt["messages"][-1]["passages"] == prompt.get("messages_b", prompt["messages"])[-1]["passages"]
    assert any(e["type"] == "verdict" and e["text"] for e in log.events)


def test_evaluation_scores_answers_and_writes_reports(pump, smollm2, tmp_path):
    questions = [
        Question(
            "warranty", "How many years does the warranty cover?", "The warranty covers five years.", "manual.pdf", 1
        ),
        Question("e42", "What does error code E42 mean?", "The water inlet is blocked.", "manual.pdf", 4),
        Question("nowhere", "What does error code E42 mean?", "The water inlet is blocked.", "manual.pdf", 2),
    ]
    with Evaluation("pump", questions, smollm2, params=FAST, retriever=pump, k=1) as ev:
        events = list(ev.run())
        result = ev.result().to_json()
    rows = result["rows"]
    assert [r["retrieval_hit"] for r in rows] == [True, True, False]
    assert all(r["answer"] and -1 <= r["cosine"] <= 1 and r["resp_time"] > 0 for r in rows)
    summary = result["summary"]["models"]["SmolLM2-135M-Instruct.Q4_1"]
    assert summary["hit_rate"] == pytest.approx(2 / 3) and summary["answered"] == 3
    assert events[-1][1].result.questions == 3
    files = write_reports(result, tmp_path / "out")
    with open(files["csv"], newline="") as fh:
        table = list(csv.reader(fh, delimiter=";"))
    assert table[0][:4] == ["model", "question", "cosine", "resp_time"]
    assert len(table) == 4 and float(table[1][2]) == pytest.approx(rows[0]["cosine"], abs=1e-3)
    assert json.loads(files["json"].read_text())["summary"] == json.loads(json.dumps(result["summary"]))
    assert "| SmolLM2-135M-Instruct.Q4_1 |" in files["md"].read_text()


def test_cosine_similarity_ranks_a_right_answer_above_a_wrong_one(embedder):
    right, wrong = embedder.similarity(
        [
            ("The warranty lasts five years.", "The warranty covers five years."),
            ("Bananas are yellow.", "The warranty covers five years."),
        ]
    )
    assert right > 0.8 > 0.3 > wrong


def test_two_model_evaluation_reports_the_speed_ratio(demo_collection, embedder, smollm2, gemma):
    questions = load_questions_head(2)
    r = Retriever.open(demo_collection, embedder)
    with Evaluation(demo_collection, questions, smollm2, gemma, FAST, retriever=r, k=2, mode="sequential") as ev:
        list(ev.run())
        result = ev.result().to_json()
    assert len(result["rows"]) == 4 and result["models"] == ["SmolLM2-135M-Instruct.Q4_1", "gemma-3-270m-q4_k_m"]
    speed = result["summary"]["speed"]
    assert speed["ratio"] >= 1 and speed["faster"] in result["models"] and "faster than" in speed["text"]


def test_retrieval_only_evaluation(demo_collection, embedder):
    questions = load_questions_head(12)
    with Evaluation(
        demo_collection, questions, retriever=Retriever.open(demo_collection, embedder), retrieval_only=True
    ) as ev:
        list(ev.run())
        result = ev.result().to_json()
    s = result["summary"]["models"]["(retrieval)"]
    assert s["hit_rate"] >= 0.9 and s["retrieval_p50_ms"] > 0 and s["mean_cosine"] is None


def load_questions_head(n: int) -> list[Question]:
    from llmbench.engine.rag.demo import DEMO_QUESTIONS

    return load_questions(DEMO_QUESTIONS)[:n]


def test_a_cancel_during_the_retrieval_ends_the_question_before_any_model_loads(pump, smollm2):
    """Esc while the first retrieval loads the embedder: no answer starts, each side says
    so, nothing joins the history; the next question is answered."""

    class SlowStart:
        def search(self, question, **kw):
            chat.cancel()  # the user's Esc, while the retrieval runs
            return pump.search(question, **kw)

    with RagChat("pump", smollm2, params=FAST, retriever=SlowStart(), k=2) as chat:
        events = list(chat.ask("How long is the pump's warranty?"))
        assert isinstance(events[0][1], Retrieval)
        assert [(s, type(e).__name__, e.code) for s, e in events[1:]] == [("a", "Error", "cancelled")]
        assert chat.sides["a"].worker is None and chat.history["a"] == []
        chat.retriever = pump
        chat.cancel()  # before the question begins (the TUI: Esc while the collection loaded)
        assert [type(e).__name__ for s, e in chat.ask("And the filter?")] == ["Error"]
        assert [e for s, e in chat.ask("And the filter?") if isinstance(e, Done)], "the next one is answered"
