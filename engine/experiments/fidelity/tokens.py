"""Where a quantization goes wrong, token by token: the token view.

One passage (at most ``ctx`` tokens of a text, or a prompt and an answer) runs
through the reference and one candidate, each in its worker; every position is
scored. Per token: the KLD of the two models' predictions of it, the probability each
gave it, and each model's most likely tokens there. The TUI colours the text by KLD;
``llmbench fidelity --tokens`` lists the worst positions.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from ...errors import FidelityError
from ...runtime.scoring import Pieces, Scored, ScoreRequest
from ...util.files import scratch_dir
from .run import Fidelity, Text

TOP_K = 5


@dataclass(frozen=True)
class TokenCell:
    text: str
    kld: float | None  # None for the first token: nothing predicted it
    p_ref: float | None
    p_cand: float | None
    ref_top: list  # [(text, probability)], best first
    cand_top: list


def token_view(reference: str, candidate: str, text: Text, *, ctx: int = 256, threads: int | None = None) -> dict:
    """The token view of ``text``'s first ``ctx`` tokens: ``{"reference", "candidate",
    "kld_mean", "same_top_p", "tokens": [TokenCell as a dict]}``."""
    view = _TokenView(reference, [candidate], text, ctx=ctx, threads=threads, record=False, top_k=TOP_K)
    try:
        return view.cells()
    finally:
        view.close()


class _TokenView(Fidelity):
    def cells(self) -> dict:
        self._load_and_tokenize([self.ref, *self.cands])
        ref_tokens = self._reference_tokens()
        cand = self.cands[0]
        if cand.error is None and cand.tokens is not None:
            self._check(cand, ref_tokens)
        if cand.error is not None or cand.tokens is None:
            raise FidelityError(f"{cand.spec}: {cand.error or 'it could not tokenize the text'}")
        tokens = list(ref_tokens.ids[: self.ctx])
        if len(tokens) < 2:
            raise FidelityError(f"{self.text.label}: fewer than two tokens; nothing to compare")
        self._scratch = scratch_dir("tokens")
        ref = self._reference_chunk(0, tokens, first=0)
        if ref is None:
            raise FidelityError(f"the reference failed: {self.ref.error}")
        cand.worker.score(ScoreRequest(0, tokens, 0, reference=ref, top_k=self.top_k))
        scored = self._reply(cand, Scored)
        if scored is None:
            raise FidelityError(f"{cand.spec}: {cand.error}")
        rows = scored.rows
        wanted = sorted({*tokens, *ref.top.ids.ravel().tolist(), *rows.top.ids.ravel().tolist()})
        self.ref.worker.pieces(wanted)
        got = self._reply(self.ref, Pieces)
        if got is None:
            raise FidelityError(f"the reference could not name its tokens: {self.ref.error}")
        piece = dict(zip(got.ids, got.texts))

        def top(t, i: int) -> list:
            return [(piece[int(k)], float(np.exp(lp))) for k, lp in zip(t.ids[i], t.log_p[i])]

        cells = [TokenCell(piece[tokens[0]], None, None, None, [], [])]
        for i, tok in enumerate(tokens[1:]):
            cells.append(TokenCell(piece[tok], float(rows.kld[i]), float(np.exp(-rows.nll_base[i])),
                                   float(np.exp(-rows.nll[i])), top(ref.top, i), top(rows.top, i)))  # fmt: skip
        return {
            "reference": self.ref.spec,
            "candidate": cand.spec,
            "text": self.text.label,
            "kld_mean": float(rows.kld.mean()),
            "same_top_p": float(rows.same_top.mean()),
            "tokens": [asdict(c) for c in cells],
        }


def worst(view: dict, n: int = 10) -> list[tuple[int, dict]]:
    """The ``n`` positions of the largest KLD, largest first, with their index."""
    scored = [(i, c) for i, c in enumerate(view["tokens"]) if c["kld"] is not None]
    return sorted(scored, key=lambda ic: -ic[1]["kld"])[:n]
