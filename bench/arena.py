#!/usr/bin/env python3
"""The arena's leaderboard fit beside the reference: evalica's own ``bootstrap``.

It writes ``--battles`` battles (default 10,000) among ``--models`` models (default 20)
of known strengths, as battle sessions in a temporary llmbench home (through the one
session writer), then, alternately, ``--rounds`` times:

- llmbench's leaderboard from those sessions (read, counted, fitted, ``--resamples``
  bootstrap resamples of 1,000 by default), and its fit alone on the same battles;
- ``evalica.bootstrap(evalica.bradley_terry, …)`` on the same battles, with the same
  number of resamples and percentile intervals (the library's own resampling, one
  battle at a time).

It prints each round, the medians, the ratio of the fits (with its range over the
rounds), whether the ratings agree (the same order, the largest gap in Elo points)
and whether the intervals of the two agree in width. Target (issue 29): fitting the
leaderboard of 10,000 recorded battles among 20 models, 1,000 resamples, in under 2 s:
PASS or MISS; the whole leaderboard (reading the sessions too) is printed beside it.
Never a timing assertion in the test suite.

    .venv/bin/python bench/arena.py [--battles 10000] [--models 20] [--resamples 1000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

import numpy as np

TARGET_S = 2.0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--battles", type=int, default=10_000)
    ap.add_argument("--models", type=int, default=20)
    ap.add_argument("--resamples", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    home = tempfile.mkdtemp(prefix="llmbench-arena-bench-")
    os.environ["LLMBENCH_HOME"] = home  # before llmbench is imported: nothing lands in the real home
    from llmbench.engine.experiments.arena.leaderboard import leaderboard, read_battles
    from llmbench.engine.experiments.arena.ratings import fit

    t0 = time.perf_counter()
    truth = write_battles(args.battles, args.models)
    print(f"wrote {args.battles:,} battles among {args.models} models as sessions in {time.perf_counter() - t0:.1f} s "
          f"({home})")  # fmt: skip
    matches = read_battles("bench").matches
    assert len(matches) == args.battles, len(matches)
    ours, alone, theirs = [], [], []
    for r in range(1, args.rounds + 1):
        t = time.perf_counter()
        rows, _ = leaderboard("bench", resamples=args.resamples)
        ours.append(time.perf_counter() - t)
        t = time.perf_counter()
        ratings = fit(matches, args.resamples, seed=r)
        alone.append(time.perf_counter() - t)
        t = time.perf_counter()
        boot = evalica_bootstrap(matches, args.resamples, seed=r)
        theirs.append(time.perf_counter() - t)
        print(f"round {r}: llmbench leaderboard {ours[-1]:.2f} s (fit alone {alone[-1]:.2f} s) · "
              f"evalica.bootstrap {theirs[-1]:.2f} s")  # fmt: skip
    ratios = sorted(t / o for t, o in zip(theirs, alone))
    print(f"\nmedians: llmbench leaderboard {statistics.median(ours):.2f} s, fit alone {statistics.median(alone):.2f} s, "
          f"evalica.bootstrap {statistics.median(theirs):.2f} s; evalica.bootstrap / llmbench fit "
          f"{statistics.median(ratios):.1f}x (range {ratios[0]:.1f}-{ratios[-1]:.1f}, {len(ratios)} rounds)")  # fmt: skip
    compare(ratings, boot, truth)
    fit_s, whole_s = statistics.median(alone), statistics.median(ours)
    verdict = "PASS" if fit_s < TARGET_S else "MISS"
    print(f"target: the fit in under {TARGET_S:.0f} s: {verdict} ({fit_s:.2f} s); the whole leaderboard, reading "
          f"{args.battles:,} session files too: {whole_s:.2f} s")  # fmt: skip
    print(f"host: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at the end (busy if near or above it)")
    return 0 if verdict == "PASS" else 1


def write_battles(n: int, models: int, seed: int = 0) -> dict[str, float]:
    """``n`` battle sessions among ``models`` models of strengths spread over 3 logits."""
    from llmbench.engine.experiments.arena.leaderboard import BATTLE
    from llmbench.engine.models.info import ModelInfo
    from llmbench.engine.runtime.events import Channel, Done, Prompt, Resolved, Stats, Vote
    from llmbench.engine.runtime.record import SessionWriter

    rng = np.random.default_rng(seed)
    truth = {f"m{i:02d}": s for i, s in enumerate(np.linspace(-1.5, 1.5, models))}
    names = list(truth)
    for _ in range(n):
        i, j = rng.choice(models, 2, replace=False)
        a, b = names[i], names[j]
        p = 1 / (1 + np.exp(truth[b] - truth[a]))
        u = rng.random()
        vote = "tie" if u < 0.1 else "a" if u < 0.1 + 0.9 * p else "b"
        w = SessionWriter(BATTLE, "bench", {"pool": "bench", "contestants": {"a": {"spec": a}, "b": {"spec": b}}})
        w.event(Channel.RUN, Prompt(1, [{"role": "user", "content": "bench"}]))
        for side, spec in (("a", a), ("b", b)):
            w.event(side, Resolved(ModelInfo(spec, spec, "llama.cpp", f"/m/{spec}.gguf", 1)))
            w.event(side, Done("x", Stats(gen_tokens=1, gen_tok_s=50.0, peak_rss_mib=200.0), "stop"))
        w.event(Channel.DUEL, Vote(vote, {"a": a, "b": b}))
        w.close()
    return truth


def evalica_bootstrap(matches, resamples: int, seed: int):
    import evalica

    winners = [evalica.Winner({"a": 1, "b": 2}.get(m.vote, 0)) for m in matches]
    return evalica.bootstrap(evalica.bradley_terry, [m.a for m in matches], [m.b for m in matches], winners,
                             n_resamples=resamples, bootstrap_method="percentile", random_state=seed)  # fmt: skip


def compare(ratings, boot, truth: dict[str, float]) -> None:
    """Do the two agree: the order, the ratings on the Elo scale, the widths of the intervals."""
    ours = {r.model: r for r in ratings}
    scores = boot.result.scores
    logs = np.log10(scores.to_numpy(dtype=float))
    centre = logs.mean()
    theirs = {str(m): 1000 + 400 * (v - centre) for m, v in zip(scores.index, logs)}
    widths = {str(m): 400 * (np.log10(h) - np.log10(lo)) for m, lo, h in zip(boot.low.index, boot.low, boot.high)}
    gap = max(abs(ours[m].rating - theirs[m]) for m in ours)
    width_ratio = statistics.median((ours[m].high - ours[m].low) / widths[m] for m in ours)
    true_order = sorted(truth, key=lambda m: -truth[m])
    swaps = sum(1 for x, y in zip(true_order, true_order[1:]) if ours[x].rating < ours[y].rating)
    print(
        f"agreement: the largest rating gap {gap:.1f} Elo points; interval widths llmbench/evalica "
        f"{width_ratio:.2f} (median over models); neighbours out of their true order: {swaps} of {len(truth) - 1}"
    )


if __name__ == "__main__":
    sys.exit(main())
