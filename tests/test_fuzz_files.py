"""Seeded corpora of damaged files for the readers that take a user's files: session logs and
question sets. The promise: a result, or one line naming the file; never a traceback, a hang
or an allocation out of proportion. (GGUF headers and config.json have theirs in
test_gguf_file.py and test_inspect.py; server responses in test_remote_faults.py.)"""

import json
import random
import shutil
import time

from llmbench.engine import paths
from llmbench.engine.errors import LlmbenchError
from llmbench.engine.experiments.questions import load_questions
from llmbench.engine.rag.demo import DEMO_QUESTIONS
from llmbench.engine.sessions.digest import load_all

from .test_replay import sample

ODD = [None, 0, -1, 2**63, 1e308, "", "x" * 1000, [], [1, "a"], {}, {"a": {"b": []}}, True]


def _mutated_lines(lines: list[str], rng: random.Random) -> list[str]:
    """A few lines of a JSONL file damaged: a field given an odd value, a line cut, bytes
    flipped, a line dropped or repeated."""
    lines = list(lines)
    for _ in range(rng.randint(1, 3)):
        i = rng.randrange(len(lines))
        kind = rng.random()
        if kind < 0.5:
            try:
                record = json.loads(lines[i])
            except ValueError:
                continue
            if isinstance(record, dict) and record:
                record[rng.choice(sorted(record))] = rng.choice(ODD)
                lines[i] = json.dumps(record)
        elif kind < 0.7:
            lines[i] = lines[i][: rng.randrange(len(lines[i]) + 1)]
        elif kind < 0.85:
            raw = bytearray(lines[i].encode())
            if raw:
                raw[rng.randrange(len(raw))] = rng.randrange(256)
            lines[i] = raw.decode("utf-8", "replace")
        else:
            lines.insert(i, lines[i]) if rng.random() < 0.5 else lines.pop(i)
        if not lines:
            break
    return lines


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
        bad.write_text("\n".join(_mutated_lines(rng.choice(seeds), rng)) + "\n", encoding="utf-8")
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
            text = "\n".join(_mutated_lines(rows, rng))
        else:
            text = "\n".join(_mutated_lines(lines, rng))
        path.write_text(text, encoding="utf-8")
        start = time.perf_counter()
        try:
            questions = load_questions(path)
            assert all(q.question and isinstance(q.question, str) for q in questions), case
        except LlmbenchError as exc:
            assert str(path) in str(exc) and "\n" not in str(exc), (case, exc)
        assert time.perf_counter() - start < 2, f"case {case} took too long"
