"""Speed tests as llama-bench runs them, asked of a model's worker (``llmbench bench``).

A test fills the KV cache with ``depth`` tokens of real text (not timed), then times
``n_prompt`` tokens decoded as one prompt (pp), ``n_gen`` tokens decoded one at a time
(tg), or both (pg), continuing the same text. Its name is llama-bench's: ``pp512``,
``tg128``, ``pp512+tg128``, with `` @ d4096`` at a depth.
"""

from __future__ import annotations

from dataclasses import dataclass

from .scoring import Reply


@dataclass(frozen=True)
class SpeedTest:
    n_prompt: int
    n_gen: int
    depth: int = 0

    @property
    def name(self) -> str:
        parts = [f"pp{self.n_prompt}"] * bool(self.n_prompt) + [f"tg{self.n_gen}"] * bool(self.n_gen)
        return "+".join(parts) + (f" @ d{self.depth}" if self.depth else "")

    @property
    def tokens(self) -> int:
        """The tokens a run of it times (llama-bench's t/s counts these)."""
        return self.n_prompt + self.n_gen

    @property
    def context(self) -> int:
        return self.depth + self.n_prompt + self.n_gen


@dataclass(frozen=True)
class BenchRequest:
    test: SpeedTest
    text_ids: list  # real text, at least test.context tokens; BOS first when the model adds one


@dataclass(frozen=True)
class BenchSample(Reply):
    """One timed run: all of it, and up to the logits of the prompt's last token (or of
    the first generated token, for a tg test); the tokens in the KV cache after it."""

    ns: int
    first_ns: int
    kv_tokens: int
