"""Re-run a session's prompts on other models and compare with the original.

The prompts are the recorded ones; a chat or an evaluation also reuses its recorded
passages (no collection or embedder is needed to ask, only to score), and each new
model keeps its own chat history. The result is a new session whose header names
the original (``rerun_of``) and which ends with a ``comparison`` record: per run and
side, tok/s before and after (the speed ratio), TTFT, peak RAM, and the cosine
similarity between the old and the new answer.
"""

from __future__ import annotations

from collections.abc import Iterator

from ..errors import LlmbenchError, SessionError
from ..rag.embed import Similarity, default_similarity
from ..runtime.duel import Duel
from ..runtime.events import Channel, Comparison, Prompt
from ..runtime.params import GenParams
from ..util.stats import mean
from .digest import Digest, digest
from .log import SessionLog
from .replay import Timeline, retrieval_of


def original_params(log: SessionLog, side: str = "a") -> GenParams:
    """The generation parameters the session was recorded with (threads re-chosen here)."""
    contestants = log.header.get("contestants") or {}
    data = (contestants.get(side) or contestants.get("a") or {}).get("params") or {}
    try:
        return GenParams.from_dict({**data, "threads": None}).validate()
    except (TypeError, LlmbenchError):
        return GenParams()


class Rerun:
    def __init__(
        self,
        log: SessionLog,
        spec_a: str,
        spec_b: str | None = None,
        params: GenParams | None = None,
        *,
        mode: str | None = None,
        record: bool = True,
        reserve_cores: int = 0,
        similarity: Similarity | None = None,
    ):
        self.log = log
        self.original: Digest = digest(log)
        self.turns: list[Prompt] = Timeline.from_log(log).runs
        if not self.turns:
            raise SessionError(
                f"{log.path.name}: no prompts recorded ({self.original.kind} session); nothing to re-run"
            )
        self.retrievals = {e.get("run"): e.get("retrieval") for e in log.of_type("prompt") if e.get("retrieval")}
        params = params or original_params(log)
        header = log.header
        meta = {"rerun_of": log.path.name, "rerun_of_title": self.original.title}
        for key in ("collection", "k", "weights", "mmr", "questions"):
            if key in header:
                meta[key] = header[key]
        kind = self.original.kind if self.original.kind != "rag-duel" or spec_b else "chat"
        if kind == "chat" and spec_b:
            kind = "rag-duel"
        self.duel = Duel(
            spec_a, spec_b, params, mode=mode, record=record, reserve_cores=reserve_cores, kind=kind, meta=meta
        )
        self.similarity = similarity
        self.history: dict[str, list[dict]] = {side: [] for side in self.duel.sides}
        self.answers: dict[tuple[int, str], dict] = {}  # (run, side) -> the new answer
        self.compared: Comparison | None = None
        self._cancelled = False

    @property
    def session_path(self):
        return self.duel.session_path

    def run(self) -> Iterator[tuple[str, object]]:
        """The new run's events (each turn opens with the duel's ``Prompt``, then a chat's
        recorded passages), then ``(Channel.RERUN, Comparison)``."""
        for turn in self.turns:
            if self._cancelled:
                break
            yield from self._turn(turn)
        self.compared = self.compare()
        if self.duel.recorder:
            self.duel.recorder.event(Channel.RERUN, self.compared)
            self.duel.recorder.sync()
        yield Channel.RERUN, self.compared

    def _turn(self, turn: Prompt) -> Iterator[tuple[str, object]]:
        from ..rag.chat import passages
        from ..rag.prompt import request

        remember = self.original.kind in ("chat", "rag-duel")
        retrieval = retrieval_of(self.retrievals.get(turn.run))
        if retrieval is not None and turn.question:
            found = passages(retrieval)
            msgs = {
                side: request(self.history[side] if remember else [], turn.question, found) for side in self.duel.sides
            }
            extra = {"question": turn.question, "retrieval": self.retrievals[turn.run]}
            events = self.duel.run(msgs["a"], msgs.get("b"), extra=extra)
            yield next(events)  # the run's Prompt, then the passages it was asked with
            yield Channel.RAG, retrieval
        else:
            events = self.duel.run(turn.messages, turn.messages_b if "b" in self.duel.sides else None)
        yield from events
        for side, c in self.duel.sides.items():
            self.answers[(turn.run, side)] = c.result()
            answer = "".join(c.text)
            if remember and turn.question and answer and not c.error:
                self.history[side] += [
                    {"role": "user", "content": turn.question},
                    {"role": "assistant", "content": answer},
                ]

    def compare(self) -> Comparison:
        rows = []
        old_sides = list(self.original.models)
        for t in self.original.turns:
            for side in self.duel.sides:
                new = self.answers.get((t.run, side))
                old_side = side if side in t.answers else (old_sides[0] if old_sides else None)
                old = t.answers.get(old_side) if old_side else None
                if new is None or old is None:
                    continue
                old_tok, new_tok = old.stats.get("gen_tok_s"), new.get("gen_tok_s")
                rows.append(
                    {
                        "run": t.run,
                        "side": side,
                        "old_side": old_side,
                        "old_model": old.model,
                        "new_model": f"{new['model']} {new['quant'] or ''}".strip(),
                        "old_tok_s": old_tok,
                        "new_tok_s": new_tok,
                        "speed_ratio": new_tok / old_tok if old_tok and new_tok else None,
                        "old_ttft_ms": old.stats.get("ttft_ms"),
                        "new_ttft_ms": new.get("ttft_ms"),
                        "old_peak_rss_mib": old.stats.get("peak_rss_mib"),
                        "new_peak_rss_mib": new.get("peak_rss_mib"),
                        "old_text": old.text,
                        "new_text": new.get("text") or "",
                        "new_error": new.get("error"),
                        "cosine": None,
                    }
                )
        note = None
        pairs = [(r["old_text"], r["new_text"]) for r in rows if r["old_text"].strip() and r["new_text"].strip()]
        if pairs:
            try:
                similarity = self.similarity or default_similarity()
                scores = iter(similarity(pairs))
                for r in rows:
                    if r["old_text"].strip() and r["new_text"].strip():
                        r["cosine"] = next(scores)
            except (ImportError, LlmbenchError, OSError) as exc:
                note = f"no cosine similarity: the embedder is unavailable ({exc})"
        summary = {}
        for side in self.duel.sides:
            rs = [r for r in rows if r["side"] == side]
            if rs:
                summary[side] = {
                    "old_model": rs[0]["old_model"],
                    "new_model": rs[0]["new_model"],
                    "speed_ratio": mean(r["speed_ratio"] for r in rs),
                    "cosine": mean(r["cosine"] for r in rs),
                    "old_peak_rss_mib": max((r["old_peak_rss_mib"] or 0) for r in rs) or None,
                    "new_peak_rss_mib": max((r["new_peak_rss_mib"] or 0) for r in rs) or None,
                }
        return Comparison(rows, summary, note)

    def cancel(self) -> None:
        self._cancelled = True
        self.duel.cancel()

    def close(self) -> None:
        self.duel.close()

    def __enter__(self) -> Rerun:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
