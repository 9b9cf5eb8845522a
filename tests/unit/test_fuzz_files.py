"""Seeded corpora of damaged files for the readers that take a user's files: session logs and
question sets. The promise: a result, or one line naming the file; never a traceback, a hang
or an allocation out of proportion. (GGUF headers and config.json have theirs in
test_gguf_file.py and test_inspect.py; server responses in test_remote_faults.py.)"""

import json
import random
import shutil
import time

import pytest

from llmbench.engine import paths
from llmbench.engine.errors import LlmbenchError
from llmbench.engine.experiments.evaluate.questions import load_questions
from llmbench.engine.rag.demo import DEMO_QUESTIONS
from llmbench.engine.sessions.digest import load_all
from tests.fuzzing import DEEP, mutate_bytes, mutate_json, mutated_lines, one_line, within
from tests.helpers import FIXTURES, sample, write_pdf

FIXTURES = FIXTURES


def test_damaged_sessions_are_named_and_never_hide_the_others(home):
    """120 damaged copies of the shipped duel, chat and evaluation, each beside one good
    session: the good one is always listed, the damaged one listed or named in one line."""
    folder = paths.ensure(paths.sessions_dir())
    good = sample("duel")
    shutil.copy(good.path, folder / good.path.name)
    rng = random.Random(18)
    seeds = [sample(kind).path.read_text(encoding="utf-8").splitlines() for kind in ("duel", "chat", "eval")]
    bad = folder / "20300101-000000-duel-mutated-abcdef.jsonl"
    for case in range(120):
        bad.write_text("\n".join(mutated_lines(rng.choice(seeds), rng)) + "\n", encoding="utf-8")
        start = time.perf_counter()
        found, problems = load_all()
        assert good.path.name in {p.split("/")[-1] for p in (d.path for d in found)}, case
        for problem in problems:
            assert str(bad) in problem and "\n" not in problem, (case, problem)
        assert time.perf_counter() - start < 5, f"case {case} took too long"


def test_damaged_question_sets_give_questions_or_one_line(tmp_path):
    lines = DEMO_QUESTIONS.read_text(encoding="utf-8").splitlines()
    rng = random.Random(19)
    for case in range(300):
        path = tmp_path / ("q.jsonl" if case % 2 else "q.csv")
        if path.suffix == ".csv":  # the same questions as CSV, then damaged like the JSONL
            rows = ["question;answer;source"] + [
                ";".join(str(json.loads(x).get(k, "")) for k in ("question", "answer", "source")) for x in lines
            ]
            text = "\n".join(mutated_lines(rows, rng))
        else:
            text = "\n".join(mutated_lines(lines, rng))
        path.write_text(text, encoding="utf-8")
        start = time.perf_counter()
        try:
            questions = load_questions(path)
            assert all(q.question and isinstance(q.question, str) for q in questions), case
        except LlmbenchError as exc:
            assert str(path) in str(exc) and "\n" not in str(exc), (case, exc)
        assert time.perf_counter() - start < 2, f"case {case} took too long"


def test_damaged_registries_and_settings_never_stop_the_demos_or_reach_a_widget(registered):
    """200 damaged registries and settings files: the demo models still resolve, a setting
    of the wrong type is left out and named, and a problem is one line naming the file."""
    from llmbench.engine import models
    from llmbench.engine.config import TYPES, read_settings

    registry = {"models": {"tiny": {"path": "/data/tiny.gguf", "added": "2026-11-30T10:00:00"}}}
    settings = {"duel_a": "smollm2", "duel_params": {"max_tokens": 64}, "duel_repeat": 3, "chat_k": 4, "theme": "x"}
    rng = random.Random(20)
    for case in range(200):
        for path, seed in ((paths.registry_path(), registry), (paths.config_path(), settings)):
            damaged = mutate_json(seed, rng)
            text = json.dumps(damaged) if rng.random() < 0.8 else mutate_bytes(json.dumps(seed).encode(), rng)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(text.encode() if isinstance(text, str) else text)
        with within(2, case):
            good, problem = models.read_registry()
            assert models.resolve("smollm2").name == "smollm2", case
            assert all(isinstance(e["path"], str) for e in good.values()), case
            if problem:
                one_line(problem, str(paths.registry_path()), case)
            config, problem = read_settings()
            for key, kind in TYPES.items():
                assert key not in config or isinstance(config[key], kind), (case, key, config[key])
            if problem:
                one_line(problem, str(paths.config_path()), case)


def _safetensors(folder) -> bytes:
    """A real safetensors file (three small tensors), as the safetensors library writes it."""
    import numpy as np
    from safetensors.numpy import save_file

    tensors = {
        "model.embed_tokens.weight": np.zeros((8, 4), np.float16),
        "model.layers.0.self_attn.q_proj.weight": np.ones((4, 4), np.float32),
        "model.norm.weight": np.ones(4, np.float32),
    }
    save_file(tensors, str(folder / "model.safetensors"), metadata={"format": "pt"})
    return (folder / "model.safetensors").read_bytes()


def test_damaged_safetensors_headers_give_a_summary_or_one_line(tmp_path):
    """300 damaged safetensors headers beside a good config.json: the header's JSON given odd
    values, its length prefix changed, bytes flipped, the file cut, nesting too deep. Each
    gives a summary or one line naming the file, quickly."""
    import struct

    from llmbench.engine.inspect.source import inspect_source

    folder = tmp_path / "model"
    folder.mkdir()
    shutil.copy(FIXTURES / "configs" / "meta-llama-3-8b.json", folder / "config.json")
    seed = _safetensors(folder)
    (n,) = struct.unpack("<Q", seed[:8])
    header, data = json.loads(seed[8 : 8 + n]), seed[8 + n :]
    rng = random.Random(21)
    for case in range(300):
        kind = rng.random()
        if kind < 0.5:
            text = json.dumps(mutate_json(header, rng)).encode()
            raw = struct.pack("<Q", len(text)) + text + data
        elif kind < 0.6:
            raw = struct.pack("<Q", rng.choice([0, 1, n + 1, 2**31, 2**63, 2**64 - 1])) + seed[8:]
        elif kind < 0.65:
            raw = struct.pack("<Q", len(DEEP)) + DEEP.encode() + data
        else:
            raw = mutate_bytes(seed, rng)
        (folder / "model.safetensors").write_bytes(raw)
        with within(2, case):
            try:
                summary = inspect_source(str(folder), meta=False)
                types = summary.tensor_types  # (an empty header is a valid file of no tensors)
                assert all(isinstance(t, str) and n >= 1 for t, n in types.items()), (case, types)
            except LlmbenchError as exc:
                one_line(exc, str(folder), case)


def test_damaged_documents_are_read_or_refused_in_one_line(tmp_path):
    """300 damaged PDFs, Markdown, HTML and text files (and a FIFO): each is read into
    sections or refused in one line naming it, quickly."""
    import os

    from llmbench.engine.rag.documents import find_files, read_document

    pdf = write_pdf(tmp_path / "seed.pdf", ["The pump warranty lasts two years.", "Press the red button."])
    seeds = {
        ".pdf": pdf.read_bytes(),
        ".md": b"# Pumps\n\nThe pump warranty lasts two years.\n\n## Reset\n\nPress the red button.\n",
        ".html": b"<!doctype html><html><body><h1>Pumps</h1><p>Two years.</p><script>x()</script></body></html>",
        ".txt": "Caf\u00e9 pumps: two years.\n".encode(),
    }
    rng = random.Random(22)
    for case in range(300):
        suffix = rng.choice(sorted(seeds))
        path = tmp_path / f"doc{suffix}"
        raw = mutate_bytes(seeds[suffix], rng)
        if suffix == ".html" and rng.random() < 0.1:
            raw = b"<div>" * 20_000 + b"deep" + rng.choice([b"", b"</div>" * 20_000])
        path.write_bytes(raw)
        with within(3, case):
            try:
                doc = read_document(path)
                assert doc.sections and all(isinstance(s.text, str) and s.text for s in doc.sections), case
            except LlmbenchError as exc:
                one_line(exc, str(path), case)
    fifo = tmp_path / "pipe.md"
    os.mkfifo(fifo)
    with within(2, "fifo"), pytest.raises(LlmbenchError, match="not a regular file"):
        read_document(fifo)
    with within(2, "fifo"), pytest.raises(LlmbenchError, match="pipe.md: not a regular file or a folder"):
        find_files([fifo])  # as `index add NAME pipe.md` gives it


@pytest.mark.slow
def test_damaged_collections_are_named_and_never_break_a_search(home, tmp_path, embedder):
    """200 damages to one version of a real collection, a file at a time: the manifest or a
    chunk given odd values, the embeddings, BM25 arrays or vocabulary flipped or cut. The
    other collection is always listed; the damaged one is listed, or named as damaged, and
    either loads and answers a search or is refused in one line naming its folder."""
    from llmbench.engine.rag import collection as coll
    from llmbench.engine.rag.retrieve import Retriever

    (tmp_path / "a.md").write_text("# Pumps\n\nThe pump warranty lasts two years.\n\n## Reset\n\nPress red.\n")
    pdf = write_pdf(tmp_path / "b.pdf", ["The valve is rated for ten bar.", "Service it every year."])
    for name in ("good", "bad"):
        coll.index_add(name, [tmp_path / "a.md", pdf], embedder=embedder)
    folder = coll.Collection.load("bad").folder
    originals = {f.name: f.read_bytes() for f in folder.iterdir()}
    rng = random.Random(23)
    for case in range(200):
        for name, raw in originals.items():
            (folder / name).write_bytes(raw)
        name = rng.choice(sorted(originals))
        raw = originals[name]
        if name.endswith(".json") and rng.random() < 0.7:
            raw = json.dumps(mutate_json(json.loads(raw), rng)).encode()
        elif name.endswith(".jsonl") and rng.random() < 0.7:
            raw = "\n".join(mutated_lines(raw.decode().splitlines(), rng)).encode()
        else:
            raw = mutate_bytes(raw, rng)
        (folder / name).write_bytes(raw)
        with within(3, (case, name)):
            listed = {c["name"]: c for c in coll.list_collections()}
            assert listed["good"]["files"] == 2 and "bad" in listed, (case, name)
            try:
                hits = Retriever(coll.Collection.load("bad"), embedder).search("pump warranty", k=3).hits
                assert all(isinstance(h.text, str) for h in hits), (case, name)
            except LlmbenchError as exc:
                one_line(exc, str(folder), (case, name))
