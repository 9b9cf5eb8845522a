"""Next-token distributions compared position by position: what ``llmbench fidelity``
asks of a model's worker. NumPy only; the backends give the logits.

A chunk of ``n`` token ids is run through a model in one pass; the positions
``first .. n-2`` are scored, each predicting the token after it (llama-perplexity's
second half of a chunk). The reference's worker keeps its raw logits in a file
(``Reference.path``) that each candidate's worker maps and compares against its own,
over the whole vocabulary:

    KLD   = sum_i p_i (x_i - y_i) - (lse_x - lse_y)        p = softmax(x), x the reference's logits
    nll   = lse_y - y[target]                             (the candidate's; nll_base likewise from x)
    Δp    = exp(-nll) - exp(-nll_base)                     same top: argmax x == argmax y

Sums run in float64 over float32 logits. A model compared with itself gives exactly 0.

A saved reference (``--save-ref``) is llama-perplexity's ``--kl-divergence-base``
file: per position the log-probabilities of the whole vocabulary as uint16 steps
between the top logit and 16 nats below it (``encode_log_probs``); a candidate is
compared with it as llama-perplexity compares one (``compare_log_probs``).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

import numpy as np

BLOCK_ROWS = 16  # positions handled at once: bounded temporaries at any vocabulary size


class Reply:
    """A worker's one answer to a tokenize or score request (it ends the request)."""


@dataclass(frozen=True)
class TextTokens(Reply):
    """How a model's tokenizer reads a text: BOS first when the model adds one, special
    tokens in the text read as text (as llama-perplexity tokenizes)."""

    ids: list
    bos: int | None  # the id put at the start of every chunk, when the model adds one
    n_vocab: int
    n_ctx_train: int | None  # the context the model was trained for, when it says
    tokenizer: str  # a label for messages: the model's name and tokenizer kind
    vocab: str  # SHA-256 of the vocabulary's token strings, in id order


def vocab_digest(pieces) -> str:
    """What identifies a vocabulary: its token strings (bytes or str) in id order."""
    import hashlib

    h = hashlib.sha256()
    for piece in pieces:
        h.update(piece if isinstance(piece, bytes) else str(piece).encode("utf-8"))
        h.update(b"\0")
    return h.hexdigest()


@dataclass(frozen=True)
class Stored:
    """Rows of uint16 log-probabilities in a file (llama-perplexity's base format)."""

    path: str
    offset: int  # bytes from the start of the file
    rows: int
    n_vocab: int

    @property
    def width(self) -> int:
        """uint16 values per row: two float32 (scale, min log-prob), then the vocabulary, padded to even."""
        return 2 * ((self.n_vocab + 1) // 2) + 4

    def open(self, mode: str = "r") -> np.ndarray:
        return np.memmap(self.path, dtype=np.uint16, mode=mode, offset=self.offset, shape=(self.rows, self.width))


@dataclass(frozen=True)
class Top:
    """Per position the ``k`` most likely tokens and their log-probabilities, best first."""

    ids: np.ndarray  # [positions, k]
    log_p: np.ndarray


def top_tokens(x: np.ndarray, lse: np.ndarray, k: int) -> Top:
    k = min(k, x.shape[1])
    idx = np.argpartition(-x, k - 1, axis=1)[:, :k]
    vals = np.take_along_axis(x, idx, axis=1)
    order = np.argsort(-vals, axis=1, kind="stable")
    ids = np.take_along_axis(idx, order, axis=1)
    return Top(ids, np.take_along_axis(vals, order, axis=1).astype(np.float64) - lse[:, None])


@dataclass(frozen=True)
class Reference:
    """The reference's side of one chunk: per scored position its log-sum-exp, its
    negative log-likelihood of the true next token and its top token, with the file of
    its raw logits (``path``); or its stored log-probabilities (``stored``)."""

    lse: np.ndarray | None = None
    nll: np.ndarray | None = None
    top1: np.ndarray | None = None
    path: str | None = None
    stored: Stored | None = None
    top: Top | None = None  # its most likely tokens, when asked for


@dataclass(frozen=True)
class ScoreRequest:
    """Run ``tokens`` and score positions ``first ..``. As the reference: write the raw
    logits to ``write_path`` and the log-probabilities to ``store`` (when given). As a
    candidate: compare with ``reference``."""

    chunk: int
    tokens: list
    first: int
    write_path: str | None = None
    store: Stored | None = None
    reference: Reference | None = None
    top_k: int = 0  # also give each position's k most likely tokens


@dataclass(frozen=True)
class ChoicesRequest:
    """Score each ``(context, continuation)`` pair: log P(continuation | context)."""

    pairs: list


@dataclass(frozen=True)
class Likelihoods(Reply):
    """Per pair: the continuation's log-likelihood (nats) and its length in tokens."""

    values: list
    tokens: list


@dataclass(frozen=True)
class PromptLogprobs(Reply):
    """A server's view of a prompt, in OpenAI's convention: per token its text, its
    log-probability given the tokens before it, and the top alternatives there."""

    tokens: list  # str
    token_logprobs: list  # float, or None for the first
    top: list  # {text: log-probability}, or None


@dataclass(frozen=True)
class Pieces(Reply):
    """The text of each id asked for."""

    ids: list
    texts: list


@dataclass
class Rows:
    """Per scored position: what one chunk measured."""

    nll: np.ndarray
    nll_base: np.ndarray | None = None
    kld: np.ndarray | None = None
    p_diff: np.ndarray | None = None
    same_top: np.ndarray | None = None
    top: Top | None = None


@dataclass(frozen=True)
class Scored(Reply):
    """One chunk scored: the reference's figures, or a candidate's rows."""

    chunk: int
    reference: Reference | None = None
    rows: Rows | None = None
    threads: str | None = None  # the threads the worker scored it with
    host: dict | None = None  # how busy others kept the CPUs meanwhile (util.cpus.HostLoad)


def _blocks(n: int) -> list[slice]:
    return [slice(i, min(n, i + BLOCK_ROWS)) for i in range(0, n, BLOCK_ROWS)]


def _parallel(fn, n: int, threads: int) -> None:
    """``fn(slice)`` over row blocks; NumPy releases the GIL, so threads share the cores."""
    blocks = _blocks(n)
    if threads <= 1 or len(blocks) == 1:
        for s in blocks:
            fn(s)
        return
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(fn, blocks))


def log_sum_exp(x: np.ndarray, threads: int = 1) -> np.ndarray:
    """Row-wise log-sum-exp of float32 logits, accumulated in float64."""
    out = np.empty(x.shape[0], dtype=np.float64)

    def block(s: slice) -> None:
        xb = x[s]
        m = xb.max(axis=1, keepdims=True)
        out[s] = m[:, 0] + np.log(np.exp(xb - m).sum(axis=1, dtype=np.float64))

    _parallel(block, x.shape[0], threads)
    return out


def reference_rows(x: np.ndarray, targets: np.ndarray, threads: int = 1) -> Reference:
    """The reference's per-position figures from its logits ``x`` [positions, vocab]."""
    lse = log_sum_exp(x, threads)
    rows = np.arange(len(targets))
    nll = lse - x[rows, targets].astype(np.float64)
    return Reference(lse=lse, nll=nll, top1=x.argmax(axis=1))


def encode_log_probs(x: np.ndarray, out: np.ndarray, threads: int = 1) -> None:
    """llama-perplexity's base rows: per position the float32 pair (scale, min log-prob),
    then each logit as round((x - min) / scale) with min = max(lowest logit, top - 16)."""
    n_vocab = x.shape[1]

    def block(s: slice) -> None:
        xb = x[s]
        top = xb.max(axis=1)
        low = np.maximum(xb.min(axis=1), top - 16).astype(np.float32)
        lse = np.log(np.exp(xb - top[:, None]).sum(axis=1, dtype=np.float64)).astype(np.float32)
        head = np.empty((len(top), 2), dtype=np.float32)
        head[:, 0] = (top - low) / np.float32(65535)
        head[:, 1] = low - top - lse
        out[s, :4] = head.view(np.uint16)
        inv = np.where(head[:, 0] > 0, 1 / np.where(head[:, 0] > 0, head[:, 0], 1), 0).astype(np.float32)
        q = np.rint((xb - low[:, None]) * inv[:, None])
        out[s, 4 : 4 + n_vocab] = np.where(xb > low[:, None], q, 0).astype(np.uint16)

    _parallel(block, x.shape[0], threads)


def compare_log_probs(y: np.ndarray, targets: np.ndarray, base: np.ndarray, threads: int = 1) -> Rows:
    """A candidate's logits ``y`` against stored base rows, as llama-perplexity's
    ``--kl-divergence`` does (terms of base probability below e^-16 left out)."""
    n, n_vocab = y.shape
    lse_y = log_sum_exp(y, threads)
    kld, nll_base, top1 = np.empty(n), np.empty(n), np.empty(n, dtype=np.int64)

    def block(s: slice) -> None:
        head = np.ascontiguousarray(base[s, :4]).view(np.float32)
        lp = base[s, 4 : 4 + n_vocab] * head[:, :1] + head[:, 1:2]
        lq = y[s] - lse_y[s, None].astype(np.float32)
        p = np.where(lp > -16, np.exp(lp), 0)
        kld[s] = (p * (lp - lq)).sum(axis=1, dtype=np.float64)
        nll_base[s] = -lp[np.arange(len(lp)), targets[s]]
        top1[s] = lp.argmax(axis=1)

    _parallel(block, n, threads)
    nll = lse_y - y[np.arange(n), targets].astype(np.float64)
    return _finish(nll, Reference(nll=nll_base, top1=top1), np.maximum(kld, 0.0), y.argmax(axis=1))


def compare_full(y: np.ndarray, targets: np.ndarray, ref: Reference, x: np.ndarray, threads: int = 1) -> Rows:
    """A candidate's logits ``y`` against the reference's logits ``x``, over the whole vocabulary."""
    n = len(targets)
    lse_y = log_sum_exp(y, threads)
    kld = np.empty(n, dtype=np.float64)

    def block(s: slice) -> None:
        xb = x[s]
        p = np.exp(xb - ref.lse[s, None].astype(np.float32))
        kld[s] = (p * (xb - y[s])).sum(axis=1, dtype=np.float64) - (ref.lse[s] - lse_y[s])

    _parallel(block, n, threads)
    rows = np.arange(n)
    nll = lse_y - y[rows, targets].astype(np.float64)
    return _finish(nll, ref, np.maximum(kld, 0.0), y.argmax(axis=1))


def _finish(nll: np.ndarray, ref: Reference, kld: np.ndarray, top1: np.ndarray) -> Rows:
    nll_base = np.asarray(ref.nll, dtype=np.float64)
    p_diff = np.exp(-nll) - np.exp(-nll_base)
    return Rows(nll=nll, nll_base=nll_base, kld=kld, p_diff=p_diff, same_top=top1 == np.asarray(ref.top1))


def chunk_targets(tokens: list, first: int) -> np.ndarray:
    """The true next token of each scored position."""
    return np.asarray(tokens[first + 1 :], dtype=np.int64)


def serve(backend, request: ScoreRequest, threads: int) -> Scored:
    """A score request in a worker: the backend's ``logits`` scored as asked."""
    reference, rows = score(backend.logits, request, threads)
    return Scored(request.chunk, reference, rows)


def likelihoods(backend, request: ChoicesRequest) -> Likelihoods:
    """log P(continuation | context) for each pair, as lm-evaluation-harness scores a
    choice: the context and the whole text tokenized, the continuation being the ids
    after the context's (its own tokens when the two disagree at the seam)."""
    values, counts = [], []
    for context, continuation in request.pairs:
        ctx_ids = backend.encode(context)
        whole = backend.encode(context + continuation)
        if whole[: len(ctx_ids)] == ctx_ids and len(whole) > len(ctx_ids):
            cont_ids = whole[len(ctx_ids) :]
        else:
            cont_ids = backend.encode(continuation, bos=False)
        if not ctx_ids or not cont_ids:
            raise ValueError(f"nothing to score in {context + continuation!r}")
        tokens = ctx_ids + cont_ids
        x = backend.logits(tokens, len(ctx_ids) - 1)
        lse = log_sum_exp(x)
        values.append(float((x[np.arange(len(cont_ids)), cont_ids] - lse).sum()))
        counts.append(len(cont_ids))
    return Likelihoods(values, counts)


def score(logits_of, request: ScoreRequest, threads: int = 1) -> tuple[Reference | None, Rows | None]:
    """One chunk in a worker: ``logits_of(tokens, first)`` gives float32 logits for the
    scored positions; the result is the reference's figures, or the candidate's rows."""
    x = logits_of(request.tokens, request.first)
    targets = chunk_targets(request.tokens, request.first)
    if request.reference is None:
        if request.write_path:
            np.save(request.write_path, x, allow_pickle=False)
        if request.store is not None:
            rows = request.store.open("r+")
            encode_log_probs(x, rows, threads)
            rows.flush()
        ref = reference_rows(x, targets, threads)
        if request.top_k:
            ref = replace(ref, top=top_tokens(x, ref.lse, request.top_k))
        return ref, None
    ref = request.reference
    if ref.stored is not None:
        if ref.stored.n_vocab != x.shape[1]:
            raise ValueError(
                f"the reference stored {ref.stored.n_vocab} logits per position, this model gives {x.shape[1]}"
            )
        rows = compare_log_probs(x, targets, ref.stored.open(), threads)
    else:
        base = np.load(ref.path, mmap_mode="r", allow_pickle=False)
        if base.shape != x.shape:
            raise ValueError(f"the reference gave {base.shape[1]} logits per position, this model gives {x.shape[1]}")
        rows = compare_full(x, targets, ref, base, threads)
    if request.top_k:
        rows.top = top_tokens(x, log_sum_exp(x, threads), request.top_k)
    return None, rows
