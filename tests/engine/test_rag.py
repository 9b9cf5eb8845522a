"""Chat over documents, engine side: reading, chunking, BM25, FAISS, fusion, collections."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from llmbench.engine.errors import CollectionError, DocumentError, PromptTooLong
from llmbench.engine.rag import collection as coll
from llmbench.engine.rag.bm25 import BM25, tokenize
from llmbench.engine.rag.chunk import split_text
from llmbench.engine.rag.documents import find_files, read_document
from llmbench.engine.rag.prompt import citations, request
from llmbench.engine.rag.retrieve import Retriever, mmr, rrf
from llmbench.engine.runtime.prompt import expand
from tests.helpers import PAGES, write_pdf

# ---------------------------------------------------------------- reading documents


def test_pdf_is_read_page_by_page(tmp_path):
    doc = read_document(write_pdf(tmp_path / "manual.pdf", PAGES))
    assert doc.kind == "pdf" and doc.pages == 5
    assert [s.page for s in doc.sections] == [1, 2, 3, 4, 5]
    assert "blue button" in doc.sections[1].text
    assert len(doc.sha256) == 64


def test_markdown_sections_follow_headings(tmp_path):
    md = tmp_path / "guide.md"
    md.write_text("# Guide\nintro\n## Install\npip it\n### GPU\nuse CUDA\n## Use\nrun it\n```\n# not a heading\n```\n")
    doc = read_document(md)
    assert [s.section for s in doc.sections] == ["Guide", "Guide > Install", "Guide > Install > GPU", "Guide > Use"]
    assert "# not a heading" in doc.sections[-1].text


def test_html_drops_scripts_and_keeps_headings(tmp_path):
    page = tmp_path / "page.html"
    page.write_text(
        "<html><head><title>t</title><script>var x=1;</script></head><body>"
        "<h1>Pump</h1><p>Hello &amp; welcome.</p><h2>Reset</h2><p>Hold the button.</p></body></html>"
    )
    doc = read_document(page)
    assert doc.kind == "html"
    assert [s.section for s in doc.sections] == ["Pump", "Pump > Reset"]
    assert "Hello & welcome." in doc.sections[0].text
    assert "var x" not in " ".join(s.text for s in doc.sections)


@pytest.mark.parametrize(
    "name, content, needle",
    [
        ("empty.txt", b"", "is empty"),
        ("blank.md", b"  \n\n ", "only whitespace"),
        ("data.bin", bytes(range(256)) * 4, "binary file"),
        ("latin1.txt", "caf\xe9 cr\xe8me".encode("latin-1"), "is not UTF-8"),
        ("broken.pdf", b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog", "not a readable PDF"),
    ],
)
def test_bad_files_get_one_line_naming_the_file(tmp_path, name, content, needle):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(DocumentError) as err:
        read_document(path)
    assert str(path) in str(err.value) and needle in str(err.value)
    assert "\n" not in str(err.value)


def test_truncated_pdf(tmp_path):
    good = write_pdf(tmp_path / "good.pdf", PAGES).read_bytes()
    cut = tmp_path / "cut.pdf"
    cut.write_bytes(good[: len(good) // 3])
    with pytest.raises(DocumentError, match="cut.pdf"):
        read_document(cut)


def test_encrypted_pdf_says_it_needs_a_password(tmp_path):
    path = write_pdf(tmp_path / "secret.pdf", PAGES, user_password="s3cret")
    with pytest.raises(DocumentError, match="encrypted with a password"):
        read_document(path)


def test_image_only_pdf_says_it_has_no_text_layer(tmp_path):
    path = write_pdf(tmp_path / "scan.pdf", ["", "", ""])
    with pytest.raises(DocumentError, match=r"3 page\(s\) but no text layer"):
        read_document(path)


def test_pdf_with_some_image_pages_warns_and_keeps_the_rest(tmp_path):
    doc = read_document(write_pdf(tmp_path / "mixed.pdf", [PAGES[0], "", PAGES[1]]))
    assert [s.page for s in doc.sections] == [1, 3]
    assert any("1 of 3 pages have no text" in w for w in doc.warnings)


def test_folders_are_walked_and_unknown_files_noted(tmp_path):
    (tmp_path / "docs" / ".git").mkdir(parents=True)
    (tmp_path / "docs" / "a.md").write_text("# A\ntext")
    (tmp_path / "docs" / "b.txt").write_text("text")
    (tmp_path / "docs" / "c.png").write_bytes(b"\x89PNG")
    (tmp_path / "docs" / ".git" / "config").write_text("x")
    files, notes = find_files([tmp_path / "docs"])
    assert [f.name for f in files] == ["a.md", "b.txt"]
    assert "skipped 1 file" in notes[0]
    with pytest.raises(DocumentError, match="no such file or folder"):
        find_files([tmp_path / "missing"])


# ---------------------------------------------------------------- chunking


def test_chunks_overlap_and_respect_the_size():
    sentences = [f"Sentence number {i} talks about topic {i % 7}." for i in range(200)]
    chunks = split_text(" ".join(sentences) + "\n\n" + "x" * 2500, size=300, overlap=80)
    assert all(len(c) <= 300 for c in chunks)
    assert sum("x" * 50 in c for c in chunks) >= 8  # a run-on word is cut, not lost
    first, second = chunks[0], chunks[1]
    assert second.split(". ")[0] in first  # the next chunk starts with the end of the previous
    text = " ".join(chunks)
    assert all(s in text for s in sentences)


# ---------------------------------------------------------------- BM25


def test_bm25_scores_equal_rank_bm25():
    from rank_bm25 import BM25Okapi

    docs = [tokenize(p) for p in PAGES] + [tokenize("the the the pump pump"), tokenize("")]
    ours, ref = BM25.build(docs), BM25Okapi(docs)
    for query in ("pump warranty", "the the", "error code e42", "blue button reset", "nothing matches"):
        q = tokenize(query)
        np.testing.assert_allclose(ours.scores(q), ref.get_scores(q), rtol=1e-5, atol=1e-6)


def test_bm25_tokenizer_lowercases_and_strips_punctuation():
    assert tokenize("Llama.cpp's GPU-offload, Café!") == ["llama", "cpp", "s", "gpu", "offload", "cafe"]


def test_bm25_save_and_load(tmp_path):
    bm = BM25.build([tokenize(p) for p in PAGES])
    bm.save(tmp_path)
    again = BM25.load(tmp_path)
    q = tokenize("filter cartridge litres")
    np.testing.assert_array_equal(bm.scores(q), again.scores(q))
    ids, scores = again.top(q, 3)
    assert ids[0] == 2 and len(ids) == 1  # only the page with the words scores


# ---------------------------------------------------------------- fusion


def test_weighted_rrf_is_langchains_formula():
    fused = rrf([[10, 20, 30], [20, 40]], [0.3, 0.7], c=60)
    assert fused[20] == pytest.approx(0.3 / 62 + 0.7 / 61)
    assert fused[10] == pytest.approx(0.3 / 61)
    assert fused[40] == pytest.approx(0.7 / 62)
    assert max(fused, key=fused.get) == 20


def test_mmr_prefers_a_diverse_second_pick():
    q = np.array([1.0, 0.0, 0.0])
    cands = np.array([[0.99, 0.14, 0.0], [0.98, 0.19, 0.0], [0.8, 0.0, 0.6]])
    cands /= np.linalg.norm(cands, axis=1, keepdims=True)
    assert mmr(q, cands, 2, 0.5) == [0, 2]
    assert mmr(q, cands, 2, 1.0) == [0, 1]


# ---------------------------------------------------------------- prompts


def test_passages_are_dropped_before_the_question():
    passages = [{"where": f"f p.{i}", "text": "word " * 50} for i in range(6)]
    history = [{"role": "user", "content": "earlier"}, {"role": "assistant", "content": "answer " * 30}]
    msgs = request(history, "What now?", passages)
    size = lambda ms: sum(len(m["content"]) for m in ms)  # noqa: E731
    full, n = expand(msgs, lambda ms: True)
    assert n == 6 and full[-1]["content"].endswith("Question: What now?") and "[6] (f p.5)" in full[-1]["content"]
    _, n = expand(msgs, lambda ms: size(ms) <= size(full) - 300)
    assert 0 < n < 6
    small, n = expand(msgs, lambda ms: size(ms) <= 700)
    assert n >= 1 and not any(m["content"] == "earlier" for m in small)  # old turns go before the last passage
    with pytest.raises(PromptTooLong, match="question alone"):
        expand(msgs, lambda ms: False)


def test_citations_are_read_from_the_answer():
    assert citations("Use the pump [2]. See also [1, 3] and [9].", 4) == [2, 1, 3]


# ---------------------------------------------------------------- collections


@pytest.fixture
def manual(tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    write_pdf(folder / "manual.pdf", PAGES)
    (folder / "notes.md").write_text("# Notes\n## Cleaning\nWipe the housing with a damp cloth only.\n")
    return folder


@pytest.mark.slow
def test_index_then_retrieve_the_right_page(home, manual, embedder):
    report = coll.index_add("pump", [manual], embedder=embedder)
    assert len(report.added) == 2 and report.chunks == 6 and report.index == "flat"
    r = Retriever.open("pump", embedder)
    for question, page in (
        ("How long is the warranty?", 1),
        ("how do I reset the controller", 2),
        ("What does error E42 mean?", 4),
        ("power consumption in standby", 5),
    ):
        hits = r.search(question, k=2).hits
        assert hits[0].source.endswith("manual.pdf") and hits[0].page == page, (question, hits[0])
        assert hits[0].score > hits[1].score
    top = r.search("wipe the housing", k=1).hits[0]
    assert top.source.endswith("notes.md") and top.section == "Notes > Cleaning"
    assert top.bm25_rank == 1 and top.dense_rank == 1
    listed = coll.list_collections()
    assert listed[0]["name"] == "pump" and listed[0]["chunks"] == 6


@pytest.mark.slow
def test_reindex_reuses_unchanged_files_and_drops_deleted_ones(home, manual, embedder):
    coll.index_add("pump", [manual], embedder=embedder)
    again = coll.index_add("pump", [manual], embedder=embedder)
    assert again.new_chunks == 0 and len(again.unchanged) == 2
    (manual / "notes.md").write_text("# Notes\n## Storage\nKeep the pump above 5 degrees.\n")
    changed = coll.index_add("pump", [manual], embedder=embedder)
    assert [os.path.basename(p) for p in changed.updated] == ["notes.md"] and changed.new_chunks == 1
    assert Retriever.open("pump", embedder).search("storage temperature", k=1).hits[0].section == "Notes > Storage"
    (manual / "notes.md").unlink()
    gone = coll.index_add("pump", [manual], embedder=embedder)
    assert [os.path.basename(p) for p in gone.removed] == ["notes.md"] and gone.chunks == 5


@pytest.mark.slow
def test_an_interrupted_index_run_leaves_the_collection_as_it_was(home, manual, embedder, tmp_path):
    coll.index_add("pump", [manual], embedder=embedder)
    before = Retriever.open("pump", embedder).collection.folder
    extra = tmp_path / "more.txt"
    extra.write_text("Brand new text about solar panels. " * 40)
    calls = {"n": 0}

    def cancel_while_embedding():
        calls["n"] += 1
        return calls["n"] > 2

    with pytest.raises(CollectionError, match="cancelled"):
        coll.index_add("pump", [extra], embedder=embedder, cancelled=cancel_while_embedding)
    after = coll.Collection.load("pump")
    assert after.folder == before and len(after) == 6
    assert [p.name for p in (home / "collections" / "pump").iterdir() if p.name.startswith("v-")] == [before.name]


@pytest.mark.slow
def test_a_bad_file_is_reported_and_the_others_indexed(home, manual, embedder):
    (manual / "empty.txt").write_text("")
    report = coll.index_add("pump", [manual], embedder=embedder)
    assert len(report.added) == 2 and report.failed == [f"{manual / 'empty.txt'}: the file is empty"]
    with pytest.raises(CollectionError, match="nothing could be indexed"):
        coll.index_add("other", [manual / "empty.txt"], embedder=embedder)
    assert [c["name"] for c in coll.list_collections()] == ["pump"]


@pytest.mark.slow
def test_hnsw_above_the_threshold(home, manual, embedder, monkeypatch):
    monkeypatch.setattr(coll, "HNSW_THRESHOLD", 3)
    report = coll.index_add("pump", [manual], embedder=embedder)
    assert report.index == "hnsw"
    r = Retriever.open("pump", embedder)
    assert hasattr(r.collection.dense, "hnsw")
    assert r.search("error code E42", k=1).hits[0].page == 4


@pytest.mark.slow
def test_collection_names_and_missing_collections(home, embedder):
    with pytest.raises(CollectionError, match="not a valid collection name"):
        coll.index_add("../escape", ["x"], embedder=embedder)
    with pytest.raises(CollectionError, match="no collection named 'nope'"):
        coll.Collection.load("nope")


@pytest.mark.slow
def test_two_index_runs_on_one_collection_keep_both_runs_files(home, tmp_path, embedder):
    """The second run waits for the first (it says so), then builds on its version: before,
    the later swap silently dropped the other run's files."""
    import threading

    (tmp_path / "a.md").write_text("# Pumps\n\nThe pump warranty lasts two years.\n")
    (tmp_path / "c.md").write_text("# Filters\n\nReplace the filter every month.\n")
    second_waits, errors = threading.Event(), []

    def second() -> None:
        try:
            coll.index_add("t", [tmp_path / "c.md"], embedder=embedder,
                           progress=lambda p: p.stage == "wait" and second_waits.set())  # fmt: skip
        except Exception as exc:  # the test fails on it below
            errors.append(exc)

    other = threading.Thread(target=second)

    def first_progress(p) -> None:
        if p.stage == "embed" and not other.is_alive() and not second_waits.is_set():
            other.start()  # the second run starts while the first one embeds
            assert second_waits.wait(20), "the second run did not wait for the first"

    coll.index_add("t", [tmp_path / "a.md"], embedder=embedder, progress=first_progress)
    other.join(60)
    assert not errors, errors
    [entry] = coll.list_collections()
    assert entry["files"] == 2, entry
    assert {Path(key).name for key in coll.Collection.load("t").manifest["files"]} == {"a.md", "c.md"}


@pytest.mark.slow
def test_one_damaged_manifest_is_listed_as_such_and_the_others_still_are(home, tmp_path, embedder):
    (tmp_path / "a.md").write_text("# Pumps\n\nThe pump warranty lasts two years.\n")
    for name in ("good", "bad"):
        coll.index_add(name, [tmp_path / "a.md"], embedder=embedder)
    manifest = coll.Collection.load("bad").folder / "manifest.json"
    manifest.write_text(json.dumps({"files": 3, "n_chunks": "x", "embedder": []}))  # valid JSON, wrong types
    listed = {c["name"]: c for c in coll.list_collections()}
    assert listed["bad"]["error"].startswith("damaged manifest (") and listed["good"]["files"] == 1


@pytest.mark.slow
def test_a_damaged_collection_is_a_clear_error(home, manual, embedder):
    coll.index_add("pump", [manual], embedder=embedder)
    folder = coll.Collection.load("pump").folder
    (folder / "chunks.jsonl").write_text("{not json\n")
    with pytest.raises(CollectionError, match="damaged"):
        coll.Collection.load("pump")
    report = coll.index_add("pump", [manual], embedder=embedder)  # "index it again" works on it
    assert any("damaged" in w and "rebuilt" in w for w in report.warnings)
    assert len(coll.Collection.load("pump")) > 0


@pytest.mark.slow
def test_a_3000_page_pdf_indexes_with_progress(home, tmp_path, embedder):
    pages = [f"Page {i} of the big manual. Part number P-{i:05d} is described here." for i in range(1, 3001)]
    big = write_pdf(tmp_path / "big.pdf", pages)
    seen = []
    report = coll.index_add("big", [big], embedder=embedder, progress=seen.append)
    assert report.chunks == 3000
    read = [p for p in seen if p.stage == "read" and p.total]
    embed = [p for p in seen if p.stage == "embed" and p.rate]
    assert read[-1].done == 3000 and len(read) >= 100  # progress while reading, not only at the end
    assert embed[-1].done == 3000 and embed[-1].rate > 0
    # pages that differ only by an identifier: BM25 finds it; the dense side cannot tell them apart
    hit = Retriever.open("big", embedder).search("part number P-02718", k=1, weights=(1.0, 0.0)).hits[0]
    assert hit.page == 2718 and hit.bm25_rank == 1


# ---------------------------------------------------------------- the demo corpus


@pytest.mark.slow
def test_demo_corpus_retrieval_finds_the_right_package(demo_collection, embedder):
    from llmbench.engine.experiments.evaluate.questions import load_questions
    from llmbench.engine.experiments.evaluate.run import retrieval_hit
    from llmbench.engine.rag.demo import DEMO_QUESTIONS

    r = Retriever.open(demo_collection, embedder)
    questions = load_questions(DEMO_QUESTIONS)
    hits = [retrieval_hit(q, r.search(q.question, k=4).hits) for q in questions]
    assert sum(hits) / len(hits) >= 0.9, [q.id for q, h in zip(questions, hits) if not h]


@pytest.mark.slow
def test_demo_is_current_after_build(demo_collection):
    from llmbench.engine.rag.demo import demo_is_current, ensure_demo

    assert demo_is_current() and ensure_demo() is False


def test_questions_files_are_validated(tmp_path):
    from llmbench.engine.errors import QuestionsError
    from llmbench.engine.experiments.evaluate.questions import load_questions

    good = tmp_path / "q.csv"
    good.write_text("id;question;answer;source;page\n1;What?;That.;manual.pdf;3\n")
    q = load_questions(good)[0]
    assert (q.id, q.question, q.answer, q.source, q.page) == ("1", "What?", "That.", "manual.pdf", 3)
    bad = tmp_path / "q.jsonl"
    bad.write_text(json.dumps({"question": "x", "answer": "y"}) + "\n" + json.dumps({"question": "z"}) + "\n")
    with pytest.raises(QuestionsError, match=r"q.jsonl:2: missing answer"):
        load_questions(bad)
    bad.write_text("{oops\n")
    with pytest.raises(QuestionsError, match=r"q.jsonl:1: not valid JSON"):
        load_questions(bad)
    with pytest.raises(QuestionsError, match="no such question file"):
        load_questions(tmp_path / "none.jsonl")


@pytest.mark.slow
def test_a_full_disk_while_indexing_is_one_line_and_the_collection_is_unchanged(home, manual, embedder, monkeypatch):
    coll.index_add("pump", [manual], embedder=embedder)
    before = coll.Collection.load("pump").folder

    def full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(coll.np, "save", full)
    with pytest.raises(CollectionError) as err:
        coll.index_add("pump", [manual], embedder=embedder, chunk_size=500)
    assert str(err.value).startswith(f"{before.parent}: the disk is full, v-")  # the folder to free, named
    assert str(err.value).endswith("; the collection is unchanged") and "\n" not in str(err.value)
    assert coll.Collection.load("pump").folder == before
    assert [p.name for p in before.parent.iterdir() if p.name.startswith("v-")] == [before.name], "no half version"
