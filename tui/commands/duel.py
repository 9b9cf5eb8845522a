"""``llmbench duel``: both answers stream to the terminal, then the stats."""

from __future__ import annotations

import sys

from engine.duel import Duel, Resolved, Verdict
from engine.metrics import OPTIONAL_ROWS, STAT_ROWS, format_stat, server_text
from engine.types import Done, Error, Loaded, Token


class _Streamer:
    """Streams one side live and holds the other back until the first is done,
    so concurrent answers never interleave on one terminal."""

    def __init__(self, out, labels: dict[str, str]):
        self.out, self.labels = out, labels
        self.live: str | None = None
        self.held: dict[str, list[str]] = {side: [] for side in labels}  # one side or two
        self.done: set[str] = set()

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
        others = [s for s in self.held if s != side]
        if not others:
            self.live = None
            return
        other = others[0]
        self.live = other if other not in self.done else None
        if self.live or self.held[other]:
            self._header(other)
            self.out.write("".join(self.held[other]))
            self.held[other] = []
            self.live = other if other not in self.done else None
            if not self.live:
                self.out.write("\n")
            self.out.flush()


def print_events(events, labels: dict[str, str], stream: bool, other=None) -> str:
    """Print a duel's (or chat's) events as they come: answers to stdout (one side at a
    time), notes and errors to stderr. ``other(side, event)`` gets the rest. Returns the
    verdict line."""
    streamer = _Streamer(sys.stdout, labels)
    line = ""
    for side, event in events:
        if isinstance(event, Resolved):
            labels[side] = f"{event.model.name} ({event.model.quant or '?'})"
        elif isinstance(event, Loaded) and event.note:
            print(f"note ({side.upper()}): {event.note}", file=sys.stderr)
        elif isinstance(event, Token):
            if stream:
                streamer.token(side, event.text)
        elif isinstance(event, (Done, Error)):
            if isinstance(event, Error):
                print(f"{side.upper()}: error: {event.message}", file=sys.stderr)
            if stream:
                streamer.finish(side, event.message if isinstance(event, Error) else None)
        elif isinstance(event, Verdict):
            line = event.text
        elif other is not None:
            other(side, event)
    return line


def run(args, params) -> int:
    prompt = sys.stdin.read() if args.prompt == "-" else args.prompt
    stream = not args.quiet and args.format == "table"
    err = sys.stderr
    with Duel(args.spec_a, args.spec_b, params, mode=args.mode, record=not args.no_record) as duel:
        try:
            line = print_events(duel.run(prompt), {"a": args.spec_a, "b": args.spec_b}, stream)
        except KeyboardInterrupt:
            duel.cancel()
            raise
        result = duel.result(line)
    if duel.record_error:
        print(f"warning: not recorded: {duel.record_error}", file=err)
    if args.format == "json":
        from ..cli import dump_json

        dump_json(result)
    elif args.format == "md":
        print(markdown_report(result))
    elif any(not c["error"] or c["gen_tokens"] for c in result["contestants"]):
        _print_table(result)  # (when both failed before answering, stderr already said why)
    return 1 if any(c["error"] for c in result["contestants"]) else 0


def _columns(result: dict) -> list[tuple[str, str]]:
    a, b = result["contestants"]
    names = [c["model"] for c in (a, b)]
    if names[0] == names[1]:
        names = [f"{names[0]} (A)", f"{names[1]} (B)"]
    return list(zip(names, (f"{c['quant'] or ''}" if (c["quant"] or "") not in n else "" for n, c in zip(names, (a, b)))))


def stats_rows(result: dict) -> list[list[str]]:
    rows = []
    for key, label, _ in STAT_ROWS:
        values = [c.get(key) for c in result["contestants"]]
        if key in OPTIONAL_ROWS and all(v is None for v in values):
            continue
        rows.append([label, *(format_stat(key, v) for v in values)])
    if any(c.get("server") for c in result["contestants"]):
        rows.append(["server says", *((server_text(c.get("server")) or "—") for c in result["contestants"])])
    rows.append(["finish", *((c["finish_reason"] or "—") for c in result["contestants"])])
    if any(c["error"] for c in result["contestants"]):
        rows.append(["error", *((c["error"] or "") for c in result["contestants"])])
    return rows


def _print_table(result: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    table = Table(title=f"duel ({result['mode']})", title_justify="left")
    table.add_column("")
    for name, quant in _columns(result):
        table.add_column(f"{name} {quant}".strip(), justify="right", overflow="fold")
    for row in stats_rows(result):
        table.add_row(*row)
    console.print(table)
    if result["verdict"]:
        console.print(result["verdict"], style="bold", highlight=False)
    if result["session"]:
        console.print(f"session: {result['session']}", style="dim", highlight=False, soft_wrap=True)


def markdown_report(result: dict) -> str:
    cols = _columns(result)
    lines = [f"## Duel ({result['mode']})", ""]
    for (name, quant), c in zip(cols, result["contestants"]):
        lines += [f"### {c['side'].upper()}: {name} {quant}".rstrip(), ""]
        lines += [c["text"] or f"*{c['error'] or 'no answer'}*", ""]
    lines += ["| | " + " | ".join(f"{n} {q}".strip() for n, q in cols) + " |", "|---|---:|---:|"]
    lines += ["| " + " | ".join(row) + " |" for row in stats_rows(result)]
    if result["verdict"]:
        lines += ["", f"**{result['verdict']}**"]
    if result["session"]:
        lines += ["", f"Session: `{result['session']}`"]
    return "\n".join(lines)
