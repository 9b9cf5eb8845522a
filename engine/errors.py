"""Typed errors. Every message is meant for the user: one line, naming the file or value."""

from __future__ import annotations


class LlmbenchError(Exception):
    """Base class; ``code`` travels across process boundaries with the message."""

    code = "error"

    def __str__(self) -> str:  # one line, always
        return " ".join(super().__str__().split())


class SpecError(LlmbenchError):
    """A model spec that names no known model."""

    code = "spec"


class ModelFileError(LlmbenchError):
    """A model file that is missing, not a GGUF, truncated or unloadable."""

    code = "model_file"


class ParamError(LlmbenchError):
    """A generation parameter out of range."""

    code = "param"


class PromptTooLong(LlmbenchError):
    """The prompt does not fit the context window."""

    code = "prompt_too_long"


class BackendUnavailable(LlmbenchError):
    """The library a backend needs is not installed or cannot run here."""

    code = "backend_unavailable"


class WorkerDied(LlmbenchError):
    """A worker process ended without saying why (killed, out of memory, crashed)."""

    code = "worker_died"


class PullError(LlmbenchError):
    """A model download or verification failed."""

    code = "pull"


class SessionError(LlmbenchError):
    """A session file that cannot be written or read."""

    code = "session"


def first_line(exc: BaseException) -> str:
    """The first line of a library's exception message (its class name when empty), for one-line errors."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class DocumentError(LlmbenchError):
    """A document that cannot be indexed: corrupt, encrypted, no text, binary, not UTF-8."""

    code = "document"


class CollectionError(LlmbenchError):
    """A document collection that is missing, damaged or built with another embedder."""

    code = "collection"


class QuestionsError(LlmbenchError):
    """A question set (JSONL or CSV) with a missing field or a malformed line."""

    code = "questions"


class FidelityError(LlmbenchError):
    """A quality comparison that cannot run: a text too short or unreadable, tokenizers
    that differ, a saved reference made for another model, text or context."""

    code = "fidelity"


class QuantizeError(LlmbenchError):
    """A quantization that cannot run: an unknown type, a target that exists, llama.cpp's refusal."""

    code = "quantize"


class BenchError(LlmbenchError):
    """A speed test that cannot run as asked: a context too small, no repetitions."""

    code = "bench"


class ArenaError(LlmbenchError):
    """A battle or leaderboard that cannot be had: an unknown pool, a pool of one model,
    a vote before both answers are done or on a side that failed."""

    code = "arena"
