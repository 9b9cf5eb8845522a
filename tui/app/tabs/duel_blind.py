"""What the Duel tab holds back during a blind battle (issue 29).

Nothing that gives a contestant away reaches the screen while the answers come: no
name, no live text (its pace is speed), no load time, RAM, stats or verdict. Both
answers appear at once when both are over; the vote (a, b, t, x) then reveals the
names and every figure, replayed from the events kept here. A battle whose side
failed or was cancelled is revealed at once: it is recorded and never counted. A
recorded battle replays the same way: blind until its vote comes."""

from __future__ import annotations

from dataclasses import dataclass, field

from llmbench.engine.runtime.events import Done, Error, Verdict

HIDDEN = "hidden until the vote"
VOTE_HINT = "both answers are in · vote: a (A better) · b · t (a tie) · x (both bad)"
REPLAY_HINT = "both answers are in · the recorded vote comes next"


@dataclass
class BlindRound:
    pool: str
    texts: dict[str, list[str]] = field(default_factory=lambda: {"a": [], "b": []})
    counts: dict[str, int] = field(default_factory=lambda: {"a": 0, "b": 0})
    events: dict[str, list] = field(default_factory=lambda: {"a": [], "b": []})
    ends: dict[str, object] = field(default_factory=dict)  # side -> its Done or Error
    verdict: str = ""
    voted: str | None = None
    revealed: bool = False
    outcome: str = ""  # what the reveal says: the vote, or why there is none
    replay: bool = False  # a recorded battle: its own vote reveals it, none is taken

    def token(self, side: str, text: str, count: int) -> None:
        self.texts[side].append(text)
        self.counts[side] += count

    def event(self, side: str, event: object) -> bool:
        """Keep one event; True when it is the second side's end (both answers are in)."""
        if isinstance(event, Verdict):
            self.verdict = event.text
            return False
        self.events.setdefault(side, []).append(event)
        if isinstance(event, Done | Error) and side not in self.ends:
            self.ends[side] = event
            return len(self.ends) == 2
        return False

    @property
    def both_in(self) -> bool:
        return len(self.ends) == 2

    def not_countable(self) -> str | None:
        """Why this battle gets no vote (a side failed or was cancelled), or None."""
        for side, end in sorted(self.ends.items()):
            if isinstance(end, Error):
                return f"{side.upper()} {'was cancelled' if end.code == 'cancelled' else 'failed'}"
            if isinstance(end, Done) and end.finish_reason == "cancelled":
                return f"{side.upper()} was cancelled"
        return None

    def text(self, side: str) -> str:
        return "".join(self.texts[side])
