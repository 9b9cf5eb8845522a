"""Generation driven by llama.cpp's low-level API, sampling with its own C samplers.

No vocabulary-sized array is copied into Python per token: the logits are read as a
view of llama.cpp's buffer, reduced to the top-k candidates in numpy, and llama.cpp's
sampler chain picks among those; Python only fills a one-token batch and reads the
token's piece. That is what lets the Duel measure the model rather than the loop around it
(issue 15: greedy at least 0.95x, sampled at least 0.92x of llama-bench's tg).
Imported only inside a worker process.
"""

from __future__ import annotations

import collections
import contextlib
import ctypes
from collections.abc import Iterator

from ..params import GenParams

PENALTY_LAST_N = 64  # llama.cpp's default window for the repeat penalty
MIN_P = 0.05  # llama.cpp's (and llama-cpp-python's) default min-p


class _Picker:
    """Picks the next token from the last decoded position; reads a token's bytes."""

    def __init__(self, vocab, n_vocab: int, params: GenParams, banned: list[int] = ()):
        import llama_cpp
        import numpy as np

        self._api, self._np = llama_cpp, np
        self.vocab, self.n_vocab, self.params = vocab, n_vocab, params
        self.banned = np.asarray(banned, dtype=np.int64)
        self.recent: collections.deque[int] = collections.deque(maxlen=PENALTY_LAST_N)
        self._buf = ctypes.create_string_buffer(256)

    def logits(self, ctx):
        """The last position's logits as a view of llama.cpp's buffer (never a copy), with
        the repeat penalty (llama.cpp's rule) and the banned ids applied in place."""
        np = self._np
        logits = np.ctypeslib.as_array(self._api.llama_get_logits_ith(ctx, -1), shape=(self.n_vocab,))
        penalty = self.params.repeat_penalty
        if penalty != 1.0 and self.recent:
            ids = np.fromiter(set(self.recent), dtype=np.int64)
            seen = logits[ids]
            logits[ids] = np.where(seen <= 0, seen * penalty, seen / penalty)
        if self.banned.size:
            logits[self.banned] = -np.inf
        return logits

    def sample(self, ctx) -> int:
        token = self.pick(ctx)
        self.recent.append(token)
        return token

    def piece(self, token: int) -> bytes:
        api = self._api
        n = api.llama_token_to_piece(self.vocab, token, self._buf, len(self._buf), 0, False)
        if n < 0:  # longer than the buffer: grow it once
            self._buf = ctypes.create_string_buffer(-n)
            n = api.llama_token_to_piece(self.vocab, token, self._buf, len(self._buf), 0, False)
        return self._buf.raw[:n]

    def close(self) -> None:
        pass


class Argmax(_Picker):
    """Greedy: argmax of the penalized logits, the token llama.cpp's penalties → greedy
    chain picks, without building its vocabulary-sized candidate array (1.4 ms a token on
    a 262k vocabulary, 6 % of Gemma-3-270M's decode)."""

    def pick(self, ctx) -> int:
        return int(self.logits(ctx).argmax())


class TopK(_Picker):
    """Sampling: the top-k candidates found in numpy on the penalized logits, then llama.cpp's
    own top-p → min-p → temperature → dist chain (C) over those k alone. Top-k comes first
    in llama.cpp's order too, so the result is the chain's; it only skips the full-vocabulary
    candidate array. ``top_k = 0`` (all tokens) goes to ``FullChain``."""

    def __init__(self, vocab, n_vocab: int, params: GenParams, banned: list[int] = ()):
        super().__init__(vocab, n_vocab, params, banned)
        api, np = self._api, self._np
        self.chain = api.llama_sampler_chain_init(api.llama_sampler_chain_default_params())
        for sampler in (
            api.llama_sampler_init_top_p(params.top_p, 1),
            api.llama_sampler_init_min_p(MIN_P, 1),
            api.llama_sampler_init_temp(params.temperature),
            api.llama_sampler_init_dist(params.seed),
        ):
            api.llama_sampler_chain_add(self.chain, sampler)
        self.k = min(params.top_k, n_vocab)
        self.cand = np.zeros(self.k, dtype=[("id", "<i4"), ("logit", "<f4"), ("p", "<f4")])
        data = self.cand.ctypes.data_as(api.llama_token_data_p)
        self.array = api.llama_token_data_array(data=data, size=self.k, selected=-1, sorted=False)

    def pick(self, ctx) -> int:
        np = self._np
        logits = self.logits(ctx)
        near = np.flatnonzero(logits >= logits.max() - 12.0)  # cheap: the top k are almost always here
        ids = near if near.size >= self.k else np.arange(self.n_vocab)
        ids = ids[np.argpartition(logits[ids], -self.k)[-self.k :]]
        self.cand["id"], self.cand["logit"], self.cand["p"] = ids, logits[ids], 0.0
        self.array.size, self.array.selected, self.array.sorted = self.k, -1, False
        self._api.llama_sampler_apply(self.chain, ctypes.byref(self.array))
        return int(self.cand["id"][self.array.selected])

    def close(self) -> None:
        if self.chain is not None:
            self._api.llama_sampler_free(self.chain)
            self.chain = None


class FullChain(TopK):
    """Sampling over every token (``top_k = 0``): llama.cpp's chain on the whole vocabulary."""

    def __init__(self, vocab, n_vocab: int, params: GenParams, banned: list[int] = ()):
        super().__init__(vocab, n_vocab, params.replace(top_k=n_vocab), banned)

    def pick(self, ctx) -> int:
        logits = self.logits(ctx)
        self.cand["id"], self.cand["logit"], self.cand["p"] = self._np.arange(self.n_vocab), logits, 0.0
        self.array.size, self.array.selected, self.array.sorted = self.k, -1, False
        self._api.llama_sampler_apply(self.chain, ctypes.byref(self.array))
        return int(self.cand["id"][self.array.selected])


def picker_for(vocab, n_vocab: int, params: GenParams, banned: list[int] = ()) -> _Picker:
    kind = Argmax if params.temperature <= 0 else TopK if params.top_k > 0 else FullChain
    return kind(vocab, n_vocab, params, banned)


def generate(backend, tokens: list[int], params: GenParams, banned: list[int]) -> Iterator[tuple[int, bytes]]:
    """(token, piece) for each generated token: the prompt decoded in batches, then
    one token per decode. Stops only when the caller stops iterating or the context is full."""
    h = backend.h
    chain = picker_for(h.vocab, backend.llm.n_vocab(), params, banned)
    try:
        h.clear()
        backend._decode(tokens, 0)
        pos = len(tokens)
        while True:
            token = chain.sample(h.ctx)
            yield token, chain.piece(token)
            if pos >= backend.n_ctx:
                return
            backend._decode((token,), pos)
            pos += 1
    finally:
        chain.close()


def perf(backend) -> dict | None:
    """llama.cpp's own counters since the last reset: prompt eval and eval, ms and tokens."""
    import llama_cpp

    data = llama_cpp.llama_perf_context(backend.h.ctx)
    if not data.n_eval and not data.n_p_eval:
        return None
    return {
        "source": "llama.cpp",
        "prompt_ms": round(data.t_p_eval_ms, 3),
        "prompt_n": int(data.n_p_eval),
        "gen_ms": round(data.t_eval_ms, 3),
        "gen_n": int(data.n_eval),
    }


def reset_perf(backend) -> None:
    import llama_cpp

    ctx = backend.h.ctx
    llama_cpp.llama_synchronize(ctx)  # a decode still queued would count into the next answer
    llama_cpp.llama_perf_context_reset(ctx)


@contextlib.contextmanager
def captured_log(lines: list[str]):
    """llama.cpp's log lines while the block runs (its buffer sizes, for the memory
    split), then llama-cpp-python's own logger back."""
    import llama_cpp
    from llama_cpp import _logger

    @llama_cpp.llama_log_callback
    def keep(level, text, user_data):
        lines.append(text.decode("utf-8", "replace"))

    llama_cpp.llama_log_set(keep, ctypes.c_void_p(0))
    try:
        yield lines
    finally:
        llama_cpp.llama_log_set(_logger.llama_log_callback, ctypes.c_void_p(0))
