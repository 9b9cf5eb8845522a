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


DEPTH_ASK = "Read this background text; a question follows.\n\n"
DEPTH_ACK = "I have read it."


def with_depth(messages: Sequence[dict], depth: int, count: Callable[[list[dict]], int]) -> list[dict]:
    """``messages`` after a turn of real text (package READMEs) that puts the conversation
    ``depth`` tokens deeper into the context, as ``llmbench bench -d`` does for a test:
    the longest cut of the text whose turn costs at most ``depth`` tokens by ``count``."""
    messages = list(messages)
    if depth <= 0:
        return messages
    from ..util.readmes import filler_text

    text = filler_text(depth * 8)  # a token is rarely over 8 characters
    base = count(messages)

    def turn(n_chars: int) -> list[dict]:
        return [
            {"role": "user", "content": DEPTH_ASK + text[:n_chars]},
            {"role": "assistant", "content": DEPTH_ACK},
            *messages,
        ]

    lo, hi = 0, len(text)  # the most characters whose turn fits in ``depth`` tokens
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if count(turn(mid)) - base <= depth:
            lo = mid
        else:
            hi = mid - 1
    return turn(lo)


def fit(messages: Sequence[dict], count: Callable[[list[dict]], int], n_ctx: int, max_tokens: int):
    """``expand`` for a backend: the prompt leaves room for the answer (up to a quarter of n_ctx)."""
    reserve = min(max_tokens, n_ctx // 4)
    return expand(messages, lambda ms: count(ms) + reserve <= n_ctx)


def prepare(
    messages: Sequence[dict],
    tokenize: Callable[[list[dict]], list[int]],
    n_ctx: int,
    max_tokens: int,
    model_name: str,
    depth: int = 0,
) -> tuple[list[int], int | None, int]:
    """A backend's prompt: the messages fitted (then ``depth`` tokens of text put before
    them) and tokenized, how many passages they kept (None: not a RAG request), and how
    many tokens may follow; PromptTooLong if none may."""
    count = lambda ms: len(tokenize(ms))  # noqa: E731
    fitted, used = fit(messages, count, n_ctx, max_tokens)
    if depth and depth + count(fitted) >= n_ctx:
        raise PromptTooLong(
            f"depth {depth:,} + the prompt's {count(fitted):,} tokens is over {model_name}'s n_ctx of {n_ctx:,}: "
            "lower the depth or raise n_ctx"
        )
    ids = tokenize(with_depth(fitted, depth, count))
    if len(ids) >= n_ctx:
        raise PromptTooLong(
            f"the prompt is {len(ids)} tokens but {model_name}'s n_ctx is {n_ctx}: shorten it or raise n_ctx"
        )
    return ids, used, min(max_tokens, n_ctx - len(ids))


class StopFilter:
    """An answer's text as it streams, with the stop strings a template's turn ends with held
    back in one place: ``feed(piece)`` returns what may be shown now, never a character of a
    stop string, even one split across tokens; text that could still begin one waits for the
    next piece. ``text`` is the answer kept (up to the first stop string); ``stopped`` says a
    stop string ended it. Without stop strings every piece passes as it is."""

    def __init__(self, stops: Sequence[str] = ()):
        self.stops = tuple(s for s in stops if s)
        self.stopped = False
        self._shown: list[str] = []
        self._held = ""

    def feed(self, piece: str) -> str:
        if self.stopped:
            return ""
        text = self._held + piece
        ends = [text.find(s) for s in self.stops if s in text]
        if ends:
            self.stopped, self._held = True, ""
            out = text[: min(ends)]
        else:
            keep = self._pending(text)
            out, self._held = text[: len(text) - keep], text[len(text) - keep :]
        self._shown.append(out)
        return out

    def _pending(self, text: str) -> int:
        """The length of the longest end of ``text`` that a stop string begins with."""
        for n in range(min(len(text), max((len(s) for s in self.stops), default=1) - 1), 0, -1):
            tail = text[-n:]
            if any(s.startswith(tail) for s in self.stops):
                return n
        return 0

    @property
    def text(self) -> str:
        """The answer: what was shown, and the held end when no stop string came after it."""
        return "".join(self._shown) + self._held
