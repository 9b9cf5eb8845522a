#!/usr/bin/env python3
"""What the TUI costs the model it measures: the app in a real pseudo-terminal beside
headless ``llmbench duel``, same model, threads and prompt, interleaved.

Each TUI run starts ``llmbench`` in a pty of the given size (TERM=xterm-256color),
types a raw-completion prompt (the model cannot stop early: end of sequence is
ruled out) and follows the session file as it is written. It samples the TUI
process's own CPU time (its model workers are other processes) against the tokens
streamed so far, and prints:

- the TUI's CPU per 100 tokens around token 100, 500, 1,000 and 2,000 (both sides);
- the TUI's CPU share of one core while streaming;
- the TUI's gen tok/s against ``llmbench duel`` with the same threads, and the TUI's
  default thread policy against the headless default; each TUI setting runs right
  beside its own headless run, first or second by turns from round to round.

Targets (issue 16): the TUI at least 0.9x of headless with the same threads and with
each one's default; at most 10 % of a core while streaming; the cost per 100 tokens at
token 2,000 within 1.2x of that at token 100.

    .venv/bin/python bench/tui_overhead.py [--model smollm2] [--tokens 2000] [--rounds 1]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repository: its tests' terminal
from tests.helpers import Terminal  # noqa: E402

PROMPT = "The old lighthouse keeper wrote in his logbook every night. On the first night of the storm he wrote"
CHECKPOINTS = (100, 500, 1000, 2000)
TARGET_SPEED, TARGET_CPU, TARGET_GROWTH = 0.9, 10.0, 1.2
LLMBENCH = str(Path(sys.executable).with_name("llmbench"))


def _params(tokens: int, threads: int | None) -> dict:
    return {"max_tokens": tokens, "n_ctx": tokens + 256, "raw": True, "ignore_eos": True, "threads": threads}


def headless(model: str, tokens: int, threads: int | None) -> list[float]:
    """gen tok/s of both sides of ``llmbench duel`` (sequential: each side alone)."""
    cmd = [LLMBENCH, "duel", "--a", model, "--b", model, "--prompt", PROMPT, "--mode", "sequential",
           "--max-tokens", str(tokens), "--n-ctx", str(tokens + 256), "--raw", "--ignore-eos",
           "--format", "json", "--no-record"] + (["--threads", str(threads)] if threads else [])  # fmt: skip
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
    if out.returncode:
        sys.exit(f"tui_overhead: llmbench duel failed: {out.stderr.strip()[-500:]}")
    return [c["gen_tok_s"] for c in json.loads(out.stdout)["contestants"]]


class Pty(Terminal):
    """``llmbench`` in a pseudo-terminal of a given size (tests/helpers.py's ``Terminal``),
    its output drained and kept for waiting on a text; ``type`` sends keys one by one."""

    def __init__(self, cols: int, rows: int, home: Path):
        super().__init__([LLMBENCH], {**os.environ, "LLMBENCH_HOME": str(home)}, cols, rows)

    def type(self, text: str) -> None:
        for ch in text:
            self.write(ch.encode())
            time.sleep(0.005)


class SessionTail:
    """The session file as it is written: tokens counted per side, the done events kept.
    Read from where it stopped, so following it costs little beside the app."""

    def __init__(self, home: Path):
        self.home, self.offset, self.rest = home, 0, b""
        self.counts, self.done = {"a": 0, "b": 0}, {}

    def poll(self) -> None:
        files = sorted((self.home / "sessions").glob("*.jsonl"))
        if not files:
            return
        with files[-1].open("rb") as fh:
            fh.seek(self.offset)
            data = self.rest + fh.read()
            self.offset = fh.tell()
        *lines, self.rest = data.split(b"\n")
        for line in lines:
            if b'"type": "token"' in line:
                side = json.loads(line).get("side")
                self.counts[side] = self.counts.get(side, 0) + 1
            elif b'"type": "done"' in line or b'"type": "error"' in line:
                record = json.loads(line)
                if record.get("side") in ("a", "b"):
                    self.done[record["side"]] = record


def tui(model: str, tokens: int, threads: int | None, cols: int, rows: int) -> dict:
    """One duel typed into the TUI: both sides' gen tok/s, (seconds, TUI CPU seconds,
    tokens of the side streaming) samples, and the TUI's CPU share while streaming."""
    home = Path(tempfile.mkdtemp(prefix="llmbench-tui-overhead-"))
    config = {"duel_a": model, "duel_b": model, "duel_mode": "sequential", "duel_params": _params(tokens, threads)}
    (home / "config.json").write_text(json.dumps(config))
    term = Pty(cols, rows, home)
    try:
        term.wait_for(b"Ask both models", 120)
        time.sleep(1.0)
        proc = psutil.Process(term.pid)
        term.type(PROMPT + "\r")
        samples: dict[str, list[tuple[float, float, int]]] = {"a": [], "b": []}
        tail = SessionTail(home)
        end = time.monotonic() + 1800
        while len(tail.done) < 2 and time.monotonic() < end:
            tail.poll()
            cpu = sum(proc.cpu_times()[:2])
            side = "a" if "a" not in tail.done else "b"
            samples[side].append((time.monotonic(), cpu, tail.counts[side]))
            time.sleep(0.25)
        done = tail.done
        return {"tok_s": [done[s].get("stats", {}).get("gen_tok_s") for s in "ab" if s in done], "samples": samples}
    finally:
        term.close()
        shutil.rmtree(home, ignore_errors=True)


def _cpu_at(samples: list[tuple[float, float, int]], n: int) -> float | None:
    """The TUI's CPU seconds when ``n`` tokens had streamed (linear between samples)."""
    for (_, c0, n0), (_, c1, n1) in zip(samples, samples[1:]):
        if n0 <= n <= n1 and n1 > n0:
            return c0 + (c1 - c0) * (n - n0) / (n1 - n0)
    return None


def _clock_at(samples: list[tuple[float, float, int]], n: int) -> float | None:
    """The wall clock when ``n`` tokens had streamed (linear between samples)."""
    for (t0, _, n0), (t1, _, n1) in zip(samples, samples[1:]):
        if n0 <= n <= n1 and n1 > n0:
            return t0 + (t1 - t0) * (n - n0) / (n1 - n0)
    return None


def _window(at: int, last: int) -> tuple[int, int]:
    """The 100 tokens that end at ``at``; at the answer's end, the 100 before its last 50,
    so that the one Markdown render of the whole answer once it is done does not count."""
    hi = min(at, last - 50) if at >= last else at
    return max(0, hi - 100), hi


def cost_per_100(samples, at: int, last: int) -> float | None:
    """CPU milliseconds the TUI spent on the 100 tokens that end at ``at``."""
    lo, hi = _window(at, last)
    a, b = _cpu_at(samples, lo), _cpu_at(samples, hi)
    return None if a is None or b is None else (b - a) * 1000


def share_at(samples, at: int, last: int) -> tuple[float, float] | None:
    """(% of a core, seconds) over the 100 tokens that end at ``at``: whether a growing cost
    per 100 tokens is the UI's drawing growing, or the model slowing as its context fills
    (a fixed cost per second then costs more per token)."""
    lo, hi = _window(at, last)
    cpu, t = (_cpu_at(samples, lo), _cpu_at(samples, hi)), (_clock_at(samples, lo), _clock_at(samples, hi))
    if None in cpu or None in t or t[1] <= t[0]:
        return None
    return 100 * (cpu[1] - cpu[0]) / (t[1] - t[0]), t[1] - t[0]


def cpu_share(samples) -> float | None:
    """The TUI's CPU, in % of one core, from the first token to the last."""
    moving = [s for s in samples if s[2] > 0]
    if len(moving) < 2 or moving[-1][0] <= moving[0][0]:
        return None
    return 100 * (moving[-1][1] - moving[0][1]) / (moving[-1][0] - moving[0][0])


def _rounded(values) -> list[float]:
    return [round(v, 1) for v in values if v is not None]


def _median(values) -> float | None:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def report(name: str, runs: list[dict], ref: list[float], checkpoints: list[int]) -> list[str]:
    """Lines for one TUI setting; returns the targets it missed."""
    missed = []
    sides = [s for r in runs for s in r["samples"].values() if s]
    costs = {n: _median(cost_per_100(s, n, checkpoints[-1]) for s in sides) for n in checkpoints}
    share = _median(cpu_share(s) for s in sides)
    speed = _median(v for r in runs for v in r["tok_s"])
    ratio = speed / statistics.median(ref) if speed and ref else None
    shown = " · ".join(f"@{n}: {c:.0f} ms" if c is not None else f"@{n}: —" for n, c in costs.items())
    print(f"{name}: TUI CPU per 100 tokens {shown}")
    windows = {n: [share_at(s, n, checkpoints[-1]) for s in sides] for n in checkpoints}
    shares = {n: (_median(w[0] for w in ws if w), _median(w[1] for w in ws if w)) for n, ws in windows.items()}
    print(f"{name}: in those windows, TUI CPU % of a core and seconds per 100 tokens: "
          + " · ".join(f"@{n}: {c:.1f}% in {t:.1f} s" for n, (c, t) in shares.items() if c is not None and t))  # fmt: skip
    first, last = costs[checkpoints[0]], costs[checkpoints[-1]]
    growth = last / first if first and last else None
    print(f"{name}: TUI CPU while streaming {share:.1f}% of a core" if share is not None else f"{name}: no CPU figure")
    if growth is not None:
        print(f"{name}: cost at token {checkpoints[-1]} / at token {checkpoints[0]}: {growth:.2f}x "
              f"(target ≤ {TARGET_GROWTH}x) {'PASS' if growth <= TARGET_GROWTH else 'MISS'}")  # fmt: skip
        missed += [] if growth <= TARGET_GROWTH else [f"{name} growth"]
    if share is not None and share > TARGET_CPU:
        missed.append(f"{name} CPU")
    if ratio is not None:
        word = "PASS" if ratio >= TARGET_SPEED else "MISS"
        print(f"{name}: gen {speed:.1f} tok/s against headless {statistics.median(ref):.1f}: ratio {ratio:.2f} "
              f"({len(ref)} headless, {sum(len(r['tok_s']) for r in runs)} TUI answers; target {TARGET_SPEED}) {word}")  # fmt: skip
        pairs = [_median(r["tok_s"]) / _median(ref[2 * i : 2 * i + 2]) for i, r in enumerate(runs) if r["tok_s"]]
        if len(pairs) > 1:  # the spread: each round's TUI run against the headless run beside it
            print(f"{name}: ratio per round {', '.join(f'{p:.2f}' for p in pairs)} "
                  f"(range {min(pairs):.2f} to {max(pairs):.2f})")  # fmt: skip
        missed += [] if ratio >= TARGET_SPEED else [f"{name} speed"]
    return missed


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="smollm2")
    ap.add_argument("--tokens", type=int, default=2000)
    ap.add_argument("--threads", type=int, default=2, help="the same threads for both (default 2)")
    ap.add_argument("--rounds", type=int, default=1)
    args = ap.parse_args()
    checkpoints = [n for n in CHECKPOINTS if n <= args.tokens] or [args.tokens]
    settings = {"80x24": (80, 24, args.threads), "200x60": (200, 60, args.threads), "80x24 auto": (80, 24, None)}
    runs: dict[str, list[dict]] = {k: [] for k in settings}
    refs: dict[str, list[float]] = {k: [] for k in settings}
    for i in range(args.rounds):
        # each setting beside its own headless run, the order flipped every round, so a
        # machine that drifts over the minutes of a round weighs on both sides alike
        for name, (cols, rows, threads) in settings.items():
            pair = ("headless", "tui") if i % 2 == 0 else ("tui", "headless")
            for side in pair:
                if side == "headless":
                    refs[name] += headless(args.model, args.tokens, threads)
                else:
                    runs[name].append(tui(args.model, args.tokens, threads, cols, rows))
            print(f"round {i + 1}: {name}: TUI {_rounded(runs[name][-1]['tok_s'])}, "
                  f"headless {_rounded(refs[name][-2:])} tok/s", flush=True)  # fmt: skip
    missed = []
    for name, got in runs.items():
        missed += report(name, got, refs[name], checkpoints)
    print("all targets met" if not missed else "MISSED: " + ", ".join(missed))
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
