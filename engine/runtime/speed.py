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
    kv_tokens: int | None
    tokens: int | None = None  # tokens timed, when not the test's own count (a server's usage)
    first_response_ns: int | None = None  # a server's first chunk of any kind
    engine: dict | None = None  # the engine's (server's) own timings of the run
    threads: str | None = None  # the threads the worker ran it with
    host: dict | None = None  # how busy others kept the CPUs meanwhile (util.cpus.HostLoad)


CHARS_PER_TOKEN = 4  # a prompt sized for a server, which llmbench cannot tokenize for


def remote_sample(test: SpeedTest, stats) -> BenchSample:
    """A run against a server, from its answer's ``Stats``: pp is timed to the first
    content token, tg from the first token to the last (scaled to all n_gen tokens, as
    if the first came free), pg to the last token; the prompt's size is the server's."""
    ttft = int((stats.ttft_ms or 0) * 1e6)
    gen_ns = int((stats.gen_tokens - 1) * 1e9 / stats.gen_tok_s) if stats.gen_tok_s else 0
    if test.n_prompt and not test.n_gen:
        ns, tokens = ttft, stats.prompt_tokens
    elif test.n_gen and not test.n_prompt:
        ns = int(gen_ns * stats.gen_tokens / max(stats.gen_tokens - 1, 1))
        tokens = stats.gen_tokens
    else:
        ns, tokens = int(stats.total_s * 1e9), (stats.prompt_tokens or test.n_prompt) + stats.gen_tokens
    return BenchSample(
        ns=max(ns, 1),
        first_ns=ttft,
        kv_tokens=(stats.prompt_tokens or 0) + stats.gen_tokens if stats.prompt_tokens else None,
        tokens=tokens,
        first_response_ns=int(stats.ttfr_ms * 1e6) if stats.ttfr_ms is not None else None,
        engine=stats.engine,
    )
