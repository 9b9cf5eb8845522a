"""``openai:`` candidates: the KLD approximated from a server's top-N prompt logprobs.

A server gives, per token of a prompt, the log-probability of that token and of its
``N`` most likely alternatives (``/completions`` with ``echo`` and ``logprobs``); never
the whole vocabulary. So, for an ``openai:`` candidate:

* PPL(Q), ln(PPL(Q)/PPL(base)), RMS Δp: exact (the true token's log-probability is given);
* Same top p: exact, by the text of the tokens;
* KLD: over ``N + 1`` outcomes, the reference's top ``N`` tokens and one bucket for all
  the rest. A reference token missing from the server's top ``N`` is given the
  smallest probability the server listed (an upper bound on its true probability).
  Merging outcomes can only lower a KL divergence, so this reads low against the full
  figure; it is labelled as an approximation wherever it is shown.

The chunk goes to the server as token ids where it takes them (vLLM), else as text
(llama-cpp-python's server), which the server tokenizes again: it must then read it
as the same tokens (a few differing texts, bytes of a split character, are allowed); a
chunk it splits otherwise is left out for that candidate, and a note says how many.
A server whose alternatives are one position early (llama-cpp-python's server echoes
them so: the alternatives listed at a token are for the next one, and its token
logprobs match neither) is refused.
"""

from __future__ import annotations

import numpy as np

from ...errors import FidelityError
from ...runtime.scoring import PromptLogprobs, Reference, Rows

DEFAULT_TOP_N = 20
MAX_TEXT_MISMATCH = 0.05  # share of token texts that may differ (split UTF-8 characters)
SHIFT_MARGIN = 0.2  # how much better the one-early reading must agree to be called shifted


def method(top_n: int) -> str:
    return (f"top-{top_n} approximation for openai: candidates (the reference's top {top_n} tokens and one bucket "
            "for the rest; reads low against the full KLD)")  # fmt: skip


class ChunkMisread(FidelityError):
    """The server read one chunk's text as other tokens: that chunk is left out for it."""


def offset(spec: str, server: PromptLogprobs, tokens: list, piece: dict) -> int:
    """Where the chunk's tokens start in the server's: 0 (the same tokens, its BOS echoed
    or none) or 1 (a text prompt: the server put its own BOS first and did not echo it).
    A chunk read otherwise is a ``ChunkMisread``; a server that reads the tokens as other
    texts is not the same tokenizer (a ``FidelityError``)."""
    off = len(tokens) - len(server.tokens)
    if off not in (0, 1):
        raise ChunkMisread(
            f"the server read a chunk's text as {len(server.tokens):,} tokens, the reference as {len(tokens):,}"
        )
    texts = [piece[t] for t in tokens[off:]]
    differ = [k for k, (a, b) in enumerate(zip(server.tokens, texts)) if a != b]
    if len(differ) > MAX_TEXT_MISMATCH * len(texts):
        k = differ[0]
        raise FidelityError(
            f"{spec}: the server reads token {k} as {server.tokens[k]!r}, the reference as {texts[k]!r} "
            f"({len(differ)} of {len(texts)} differ): not the same tokenizer"
        )
    return off


def _best(top: dict | None) -> str | None:
    return max(top, key=top.get) if top else None


def compare_top_n(spec: str, tokens: list, first: int, ref: Reference, piece: dict, server: PromptLogprobs) -> Rows:
    """The rows of one chunk: scored positions ``first .. len(tokens)-2``, each predicting
    the token after it, against the reference's figures (with ``ref.top``)."""
    off = offset(spec, server, tokens, piece)
    scored = range(first, len(tokens) - 1)
    ks = [j + 1 - off for j in scored]  # the server's index of the token position j predicts
    ref_best = [piece[int(t)] for t in ref.top1]
    aligned = np.mean([_best(server.top[k]) == ref_best[r] for r, k in enumerate(ks)])
    early = np.mean([_best(server.top[k - 1]) == ref_best[r] for r, k in enumerate(ks) if k >= 1])
    if early > aligned + SHIFT_MARGIN:
        raise FidelityError(
            f"{spec}: the server's top logprobs are one position early: those listed at a token are for the "
            f"token after it (same top {100 * early:.0f}% read so, {100 * aligned:.0f}% in place; "
            "llama-cpp-python's server echoes them so), and its token logprobs do not match them"
        )
    n = len(ks)
    nll, kld, same = np.empty(n), np.empty(n), np.zeros(n, dtype=bool)
    for r, k in enumerate(ks):
        top, lp = server.top[k], server.token_logprobs[k]
        if not top or lp is None:
            raise FidelityError(f"{spec}: the server gave no logprobs for token {k} of a chunk")
        nll[r] = -float(lp)
        same[r] = _best(top) == ref_best[r]
        kld[r] = _bucket_kld(ref.top.log_p[r], [piece[int(i)] for i in ref.top.ids[r]], top)
    nll_base = np.asarray(ref.nll, dtype=np.float64)
    p_diff = np.exp(-nll) - np.exp(-nll_base)
    return Rows(nll=nll, nll_base=nll_base, kld=kld, p_diff=p_diff, same_top=same)


def _bucket_kld(ref_log_p: np.ndarray, ref_texts: list[str], top: dict) -> float:
    """KL over the reference's top tokens and one bucket for the rest."""
    floor = min(top.values())
    p = np.exp(np.asarray(ref_log_p, dtype=np.float64))
    log_q = np.array([float(top.get(t, floor)) for t in ref_texts])
    q = np.exp(log_q)
    kld = float((p * (np.log(p) - log_q)).sum())
    p_rest = 1.0 - p.sum()
    if p_rest > 1e-12:
        q_rest = max(1.0 - q.sum(), 1e-10)
        kld += p_rest * (np.log(p_rest) - np.log(q_rest))
    return max(kld, 0.0)
