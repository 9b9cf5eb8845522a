"""Multiple choice from log-likelihoods, and the flips between two models.

Each choice is scored as lm-evaluation-harness scores one: the log-likelihood of
`` {choice}`` after ``Question: {question}\\nAnswer:``. The pick is the choice of the
highest log-likelihood (``acc``); ``acc_norm`` divides it by the choice's length in
bytes first. A flip is a question whose correctness differs from the reference's,
in either direction: two variants with the same accuracy can still answer different
questions right, and flips tell near-lossless quantizations apart when KLD no longer
does (Dutta et al., "Accuracy is not all you need", 2024).

Files are JSONL (``{"question", "choices": [...], "answer": "B"}``) or CSV with a
``question`` column, one column per choice (``A``, ``B``, ...) and ``answer``. The
built-in set (64 questions written for llmbench, one correct answer of four each) is
a smoke test, not a benchmark.
"""

from __future__ import annotations

import math
import string
from dataclasses import dataclass
from pathlib import Path

from ...errors import QuestionsError
from ..evaluate.questions import read_records

LETTERS = string.ascii_uppercase[:10]
BUILTIN = "builtin"


@dataclass(frozen=True)
class McQuestion:
    id: str
    question: str
    choices: tuple[str, ...]
    answer: int  # index into choices


def builtin_path() -> Path:
    return Path(__file__).parent / "data" / "mc_smoke.jsonl"


def load_mc(path: str | Path | None) -> tuple[str, list[McQuestion]]:
    """(a label, the questions) of a file, or of the built-in smoke set (None or ``builtin``)."""
    builtin = path in (None, BUILTIN)
    p = builtin_path() if builtin else Path(path).expanduser()
    out = []
    for line, rec in read_records(p, "one column per choice (A, B, ...) and 'answer'"):
        out.append(_question(p, line, rec, len(out) + 1))
    if not out:
        raise QuestionsError(f"{p}: no questions in it")
    label = f"built-in smoke set ({len(out)} questions; a smoke test, not a benchmark)" if builtin else str(p)
    return label, out


def _question(p: Path, line: int, rec: dict, number: int) -> McQuestion:
    where = f"{p}:{line}"
    question = str(rec.get("question") or "").strip()
    choices = rec.get("choices")
    if choices is None:  # CSV: one column per letter
        choices = [rec[k] for k in LETTERS if str(rec.get(k) or "").strip()]
    if not question:
        raise QuestionsError(f"{where}: missing question")
    if not isinstance(choices, list) or len(choices) < 2 or not all(str(c).strip() for c in choices):
        raise QuestionsError(f"{where}: needs at least two non-empty choices (a 'choices' list, or columns A, B, ...)")
    answer = str(rec.get("answer") or "").strip().upper()
    if len(answer) != 1 or answer not in LETTERS[: len(choices)]:
        raise QuestionsError(
            f"{where}: answer must be one letter of {LETTERS[: len(choices)]}, got {rec.get('answer')!r}"
        )
    texts = tuple(str(c).strip() for c in choices)
    return McQuestion(str(rec.get("id") or number), question, texts, LETTERS.index(answer))


def pairs(questions: list[McQuestion]) -> list[tuple[str, str]]:
    """Every (context, continuation) to score, question by question, choice by choice."""
    return [(f"Question: {q.question}\nAnswer:", f" {c}") for q in questions for c in q.choices]


def picks(questions: list[McQuestion], values: list[float]) -> dict:
    """A model's answers from its log-likelihoods (in ``pairs`` order)."""
    chosen, chosen_norm, at = [], [], 0
    for q in questions:
        lls = values[at : at + len(q.choices)]
        at += len(q.choices)
        chosen.append(max(range(len(lls)), key=lls.__getitem__))
        norm = [ll / len(f" {c}".encode()) for ll, c in zip(lls, q.choices)]
        chosen_norm.append(max(range(len(norm)), key=norm.__getitem__))
    n = len(questions)
    correct = [c == q.answer for c, q in zip(chosen, questions)]
    acc = sum(correct) / n
    return {
        "questions": n,
        "acc": acc,
        "acc_err": math.sqrt(acc * (1 - acc) / (n - 1)) if n > 1 else 0.0,
        "acc_norm": sum(c == q.answer for c, q in zip(chosen_norm, questions)) / n,
        "picks": [LETTERS[c] for c in chosen],
        "correct": correct,
    }


def flips(reference: dict, candidate: dict) -> dict:
    """Questions whose correctness changed against the reference: lost (right → wrong) and gained."""
    lost = sum(r and not c for r, c in zip(reference["correct"], candidate["correct"]))
    gained = sum(c and not r for r, c in zip(reference["correct"], candidate["correct"]))
    changed = sum(a != b for a, b in zip(reference["picks"], candidate["picks"]))
    return {"flips": lost + gained, "flips_lost": lost, "flips_gained": gained, "answers_changed": changed}
