"""Question sets with reference answers (JSONL or CSV), shared by the evaluation and
the quantization matrix."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

from ...errors import QuestionsError
from ...util.files import json_lines


@dataclass(frozen=True)
class Question:
    id: str
    question: str
    answer: str
    source: str | None = None
    page: int | None = None


def read_records(path: str | Path, required: str = "an 'answer' column") -> list[tuple[int, dict]]:
    """The records of a JSONL or CSV file, each with its line number."""
    p = Path(path).expanduser()
    try:
        text = p.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise QuestionsError(f"{p}: no such question file") from None
    except UnicodeDecodeError:
        raise QuestionsError(f"{p}: is not UTF-8 text") from None
    except IsADirectoryError:
        raise QuestionsError(f"{p}: a folder, not a question file") from None
    except OSError as exc:
        raise QuestionsError(f"{p}: cannot read it ({exc.strerror})") from None
    if p.suffix.lower() in (".csv", ".tsv"):
        return _csv_records(p, text, required)
    records = []
    for i, obj, why in json_lines(text):
        if why:
            raise QuestionsError(f"{p}:{i}: {why}")
        records.append((i, obj))
    return records


def load_questions(path: str | Path) -> list[Question]:
    """A JSONL or CSV question set: ``question`` and ``answer`` required; ``id``, ``source``, ``page`` optional."""
    p = Path(path).expanduser()
    records = read_records(p)
    questions = []
    for line, rec in records:
        missing = [f for f in ("question", "answer") if not str(rec.get(f) or "").strip()]
        if missing:
            raise QuestionsError(
                f"{p}:{line}: missing {' and '.join(missing)} (fields: question, answer, id, source, page)"
            )
        page = rec.get("page")
        if page not in (None, ""):
            try:
                page = int(page)
            except (TypeError, ValueError):
                raise QuestionsError(f"{p}:{line}: page must be a number, got {page!r}") from None
        else:
            page = None
        questions.append(
            Question(
                str(rec.get("id") or len(questions) + 1),
                str(rec["question"]).strip(),
                str(rec["answer"]).strip(),
                rec.get("source") or None,
                page,
            )
        )
    if not questions:
        raise QuestionsError(f"{p}: no questions in it")
    return questions


def _csv_records(p: Path, text: str, required: str) -> list[tuple[int, dict]]:
    try:
        dialect = csv.Sniffer().sniff(text.split("\n", 1)[0], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.DictReader(io.StringIO(text), dialect=dialect)
    if not reader.fieldnames or "question" not in reader.fieldnames:
        raise QuestionsError(f"{p}: the CSV header must name a 'question' column and {required}")
    return [(i, row) for i, row in enumerate(reader, 2)]
