"""Cited prompts: a question with its numbered passages, and the passages an answer cites.

How the passages are laid out and trimmed to the context is the runtime's
(``runtime.prompt``): every backend fits a prompt the same way.
"""

from __future__ import annotations

import re
from collections.abc import Sequence


def request(history: Sequence[dict], question: str, passages: Sequence[dict]) -> list[dict]:
    """The message list a backend receives: history, then the question with its passages."""
    return [*history, {"role": "user", "content": question, "passages": list(passages)}]


def citations(answer: str, n_passages: int) -> list[int]:
    """Passage numbers the answer cites ([1], [2, 3]), in order of first mention."""
    seen: list[int] = []
    for m in re.finditer(r"\[([\d,\s–-]+)\]", answer):
        for part in re.findall(r"\d+", m.group(1)):
            i = int(part)
            if 1 <= i <= n_passages and i not in seen:
                seen.append(i)
    return seen
