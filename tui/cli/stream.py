"""Printing a stream of engine events: answers to standard output (one side at a
time, so concurrent answers never interleave), notes and errors to standard error."""

from __future__ import annotations

import sys

from llmbench.engine.runtime.events import Done, Error, Loaded, Resolved, Token, Verdict


class _Streamer:
    """Streams one side live and holds the others back until it is done, then the next
    (in side order), so concurrent answers never interleave on one terminal."""

    def __init__(self, out, labels: dict[str, str]):
        self.out, self.labels = out, labels
        self.live: str | None = None
        self.held: dict[str, list[str]] = {side: [] for side in labels}  # one side to four
        self.done: set[str] = set()
        self.shown: set[str] = set()  # whose answer is on the terminal, whole

    def _header(self, side: str) -> None:
        self.out.write(f"\n── {side.upper()}: {self.labels[side]} ──\n")

    def token(self, side: str, text: str) -> None:
        if self.live is None:
            self.live = side
            self._header(side)
        if side == self.live:
            self.out.write(text)
            self.out.flush()
        else:
            self.held[side].append(text)

    def finish(self, side: str, message: str | None = None) -> None:
        self.done.add(side)
        if message:
            self.held[side].append(f"[{message}]")
        if side != self.live:
            return
        self.out.write("\n")
        self.shown.add(side)
        self.live = None
        for other in self.held:  # the next in order: a finished one whole, else it goes live
            if other in self.shown:
                continue
            if other not in self.done:
                self.live = other
                self._header(other)
                self.out.write("".join(self.held[other]))
                self.held[other] = []
                break
            if self.held[other]:
                self._header(other)
                self.out.write("".join(self.held[other]) + "\n")
                self.held[other] = []
            self.shown.add(other)
        self.out.flush()


class EventPrinter:
    """Prints a duel's (or chat's) events as they come, one ``(side, event)`` a call:
    answers to stdout (one side at a time), notes and errors to stderr.
    ``other(side, event)`` gets the rest; ``line`` is the verdict once it came."""

    def __init__(self, labels: dict[str, str], stream: bool, other=None):
        self.labels, self.stream, self.other = labels, stream, other
        self.streamer = _Streamer(sys.stdout, labels)
        self.line = ""

    def __call__(self, item: tuple[str, object]) -> None:
        side, event = item
        if isinstance(event, Resolved):
            self.labels[side] = f"{event.model.name} ({event.model.quant or '?'})"
        elif isinstance(event, Loaded) and event.note:
            print(f"note ({side.upper()}): {event.note}", file=sys.stderr)
        elif isinstance(event, Token):
            if self.stream:
                self.streamer.token(side, event.text)
        elif isinstance(event, (Done, Error)):
            if isinstance(event, Error):
                print(f"{side.upper()}: error: {event.message}", file=sys.stderr)
            if self.stream:
                self.streamer.finish(side, event.message if isinstance(event, Error) else None)
        elif isinstance(event, Verdict):
            self.line = event.text
        elif self.other is not None:
            self.other(side, event)


def print_events(events, labels: dict[str, str], stream: bool, other=None) -> str:
    """Print every event of ``events`` (``EventPrinter``); returns the verdict line."""
    printer = EventPrinter(labels, stream, other)
    for item in events:
        printer(item)
    return printer.line
