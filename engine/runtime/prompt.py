"""Prompts that fit the model's context, passages included.

A request is a message list. For chat over documents its last user message also
carries ``passages`` (their labels and texts, best first). The backend, which owns
the tokenizer, calls ``fit``: passages are dropped from the lowest-ranked up, then
the oldest turns, and never the question, leaving room for the answer. If the
question alone does not fit, ``PromptTooLong`` says so.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ..errors import PromptTooLong

SYSTEM = (
    "You answer questions about the user's documents. Use only the numbered passages. "
    "Cite the passages you use with their numbers in brackets, like [1] or [2]. "
    "If the passages do not contain the answer, say that they do not."
)


def passage_block(passages: Sequence[dict]) -> str:
    return "\n\n".join(f"[{i}] ({p['where']})\n{p['text']}" for i, p in enumerate(passages, 1))


def rag_user_message(question: str, passages: Sequence[dict]) -> str:
    if not passages:
        return question
    return f"Passages:\n\n{passage_block(passages)}\n\nQuestion: {question}"


def expand(messages: Sequence[dict], fits: Callable[[list[dict]], bool]) -> tuple[list[dict], int | None]:
    """Plain chat messages that fit, and how many passages they kept (None: not a RAG request)."""
    if not messages or "passages" not in messages[-1]:
        return [{k: v for k, v in m.items() if k in ("role", "content")} for m in messages], None
    *history, last = messages
    question, passages = last["content"], list(last["passages"])
    system = [{"role": "system", "content": SYSTEM}]
    history = [m for m in history if m.get("role") != "system"]

    def build(n: int, turns: list[dict]) -> list[dict]:
        return [*system, *turns, {"role": "user", "content": rag_user_message(question, passages[:n])}]

    turns = list(history)
    while True:
        if fits(build(0, turns)):
            lo, hi = 0, len(passages)  # the most of the best passages that fit
            while lo < hi:
                mid = (lo + hi + 1) // 2
                if fits(build(mid, turns)):
                    lo = mid
                else:
                    hi = mid - 1
            if lo > 0 or not passages or not turns:
                return build(lo, turns), lo
        elif not turns:
            raise PromptTooLong(
                "the question alone is longer than the model's context (n_ctx): shorten it or raise n_ctx"
            )
        turns = turns[2:]  # the oldest question and answer


def fit(messages: Sequence[dict], count: Callable[[list[dict]], int], n_ctx: int, max_tokens: int):
    """``expand`` for a backend: the prompt leaves room for the answer (up to a quarter of n_ctx)."""
    reserve = min(max_tokens, n_ctx // 4)
    return expand(messages, lambda ms: count(ms) + reserve <= n_ctx)


def prepare(
    messages: Sequence[dict], tokenize: Callable[[list[dict]], list[int]], n_ctx: int, max_tokens: int, model_name: str
) -> tuple[list[int], int | None, int]:
    """A backend's prompt: the messages fitted and tokenized, how many passages they kept
    (None: not a RAG request), and how many tokens may follow; PromptTooLong if none may."""
    fitted, used = fit(messages, lambda ms: len(tokenize(ms)), n_ctx, max_tokens)
    ids = tokenize(fitted)
    if len(ids) >= n_ctx:
        raise PromptTooLong(
            f"the prompt is {len(ids)} tokens but {model_name}'s n_ctx is {n_ctx}: shorten it or raise n_ctx"
        )
    return ids, used, min(max_tokens, n_ctx - len(ids))


def cut_at_stop(text: str, stops: Sequence[str]) -> str:
    """The answer up to the first stop string a template's turn ends with."""
    for s in stops:
        if s in text:
            text = text[: text.index(s)]
    return text
