"""One blind battle: two contestants drawn at random from a pool, placed on sides at
random, answer one prompt; the judge votes without knowing who is who, and the vote
reveals them. A battle is a duel of kind ``battle`` (its session holds the prompt,
both answers, their stats, the sides and the vote); it counts on the leaderboard only
when both sides answered to the end."""

from __future__ import annotations

import random
from collections.abc import Sequence

from ...errors import ArenaError
from ...runtime.duel import Duel, DuelRun
from ...runtime.events import Channel, Vote
from ...runtime.params import GenParams
from .leaderboard import BATTLE
from .pools import Pool
from .ratings import OUTCOMES

VOTE_WORDS = {"a": "A is better", "b": "B is better", "tie": "a tie", "both_bad": "both are bad"}


def draw(specs: Sequence[str], rng: random.Random, challenger: str | None = None) -> tuple[str, str]:
    """Two different contestants, in random order: every pair and every order alike likely.
    ``challenger`` (a re-run against a new model) is always one of the two."""
    unique = list(dict.fromkeys([*specs, *([challenger] if challenger else [])]))
    if len(unique) < 2:
        raise ArenaError(f"a battle needs two models; the pool has {len(unique)}: add another with "
                         "`llmbench arena add POOL SPEC`")  # fmt: skip
    if challenger is None:
        a, b = rng.sample(unique, 2)
        return a, b
    pair = [challenger, rng.choice([s for s in unique if s != challenger])]
    rng.shuffle(pair)
    return pair[0], pair[1]


def parse_vote(text: str) -> str:
    """``a``, ``b``, ``tie`` or ``both_bad`` from what a person types (``t``, ``x``, ``both-bad``…)."""
    word = text.strip().lower().replace("-", "_").replace(" ", "_")
    vote = {"t": "tie", "=": "tie", "x": "both_bad", "bad": "both_bad", "both": "both_bad"}.get(word, word)
    if vote not in OUTCOMES:
        raise ArenaError(f"{text.strip()!r} is not a vote: a (A is better), b, t (a tie) or x (both are bad)")
    return vote


class Battle:
    """A duel between two models drawn from ``pool``, recorded as a battle. ``job(prompt)``
    runs it; ``vote(winner)`` records the verdict once both answers are done."""

    def __init__(self, pool: Pool, params: GenParams | None = None, mode: str | None = None,
                 rng: random.Random | None = None, record: bool = True, reserve_cores: int = 0,
                 challenger: str | None = None):  # fmt: skip
        self.pool = pool
        self.specs = draw(pool.models, rng or random.Random(), challenger)
        meta = {"pool": pool.name, "blind": True, "reference": pool.reference}
        self.duel = Duel(*self.specs, params, mode=mode, record=record, kind=BATTLE, meta=meta,
                         reserve_cores=reserve_cores)  # fmt: skip
        self.voted: str | None = None

    def job(self, prompt: str) -> DuelRun:
        self.voted = None
        return self.duel.job(prompt, closes=False)  # the vote comes after the answers: the session stays open

    def unfinished(self) -> str | None:
        """Why a vote cannot be taken now (an answer still coming, a side that failed or
        was cancelled), or None."""
        for side, c in self.duel.sides.items():
            who = side.upper()
            if c.error:
                return f"side {who} failed ({c.error}): this battle is recorded and not counted"
            if c.finish_reason == "cancelled":
                return f"side {who} was cancelled: this battle is recorded and not counted"
            if not c.finished or c.stats is None:
                return "the vote waits for both answers"
        return None

    def vote(self, winner: str) -> dict:
        """Record the verdict and reveal the sides: ``{side: {spec, model, stats}}``."""
        winner = parse_vote(winner)
        if why := self.unfinished():
            raise ArenaError(why)
        if self.voted is not None:
            raise ArenaError(f"this battle has its vote already ({VOTE_WORDS[self.voted]})")
        recorder = self.duel.recorder
        if recorder is not None:
            recorder.event(Channel.DUEL, Vote(winner, {str(s): c.spec for s, c in self.duel.sides.items()}))
            recorder.sync()
        self.voted = winner
        return self.reveal()

    def reveal(self) -> dict:
        return {str(side): c.result() for side, c in self.duel.sides.items()}

    def close(self) -> None:
        self.duel.close()

    def __enter__(self) -> Battle:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
