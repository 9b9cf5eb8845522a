"""``llmbench arena``: pools of contestants, blind battles, and the leaderboard."""

from __future__ import annotations

import sys

from llmbench.engine.experiments.arena.leaderboard import BATTLE
from llmbench.engine.experiments.arena.report import FORMATS
from llmbench.engine.runtime.duel import MODES

from ..render.tables import rich_table
from .jobs import drive, exit_code
from .output import console, dump_json
from .params import add_param_arguments, params_from_args, prompt_text

NAME = "arena"
VOTE_PROMPT = "Which is better? a: A · b: B · t: a tie · x: both are bad > "


def add_parser(sub) -> None:
    p = sub.add_parser(NAME, help="blind battles between the models of a pool, and their leaderboard")
    asub = p.add_subparsers(dest="arena_command", metavar="ACTION", required=True)
    add = asub.add_parser("add", help="create a pool or add models to it")
    add.add_argument("pool", metavar="POOL")
    add.add_argument("specs", nargs="+", metavar="SPEC", help="models: names, .gguf paths, hf: or openai: specs")
    add.add_argument("--reference", default=None, metavar="SPEC",
                     help="the full-precision model its KLD is measured against (llmbench fidelity REF SPEC...)")  # fmt: skip
    ls = asub.add_parser("list", help="the pools and their models")
    ls.add_argument("--format", choices=("table", "json"), default="table")
    rm = asub.add_parser("rm", help="forget a pool (its battles stay in the sessions)")
    rm.add_argument("pool", metavar="POOL")
    b = asub.add_parser("battle", help="one blind battle: two models of POOL drawn at random answer; you vote")
    b.add_argument("pool", metavar="POOL")
    b.add_argument("--prompt", required=True, help="the prompt ('-' reads standard input; then give --vote)")
    b.add_argument("--vote", default=None, metavar="VOTE",
                   help="a, b, tie or both-bad (default: asked on standard input once both answers are in)")  # fmt: skip
    b.add_argument("--draw-seed", type=int, default=None, metavar="N", help="draws the same pair and sides again")
    b.add_argument("--mode", choices=MODES, default=None, help="default: concurrent with 4+ cores, else sequential")
    b.add_argument("--format", choices=("table", "json"), default="table")
    b.add_argument(
        "--no-record", action="store_true", help="do not write a session file (the vote then counts nowhere)"
    )
    add_param_arguments(b)
    lb = asub.add_parser("leaderboard", help="ratings with 95 %% intervals beside KLD, speed and memory")
    lb.add_argument("pool", nargs="?", default=None, metavar="POOL", help="one pool (default: every battle recorded)")
    lb.add_argument("--format", choices=FORMATS, default="table")
    lb.add_argument("--pareto", action="store_true", help="the models no other beats on all four figures, and why")
    lb.add_argument("--resamples", type=int, default=1000, metavar="N", help="bootstrap resamples (default 1000)")


def run(args) -> int:
    return {"add": _add, "list": _list, "rm": _rm, "battle": _battle, "leaderboard": _leaderboard}[args.arena_command](
        args
    )


def _add(args) -> int:
    from llmbench.engine import models
    from llmbench.engine.experiments.arena.pools import add_to_pool

    for spec in [*args.specs, *([args.reference] if args.reference else [])]:
        models.resolve(spec)  # a name or path that cannot be found is refused now, not mid-battle
    pool, note = add_to_pool(args.pool, args.specs, args.reference)
    if note:
        print(f"warning: {note}", file=sys.stderr)
    ref = f"; reference {pool.reference}" if pool.reference else ""
    n = len(pool.models)
    print(f"pool {pool.name}: {n} model{'s' if n != 1 else ''} ({', '.join(pool.models)}){ref}")
    return 0


def _list(args) -> int:
    from llmbench.engine.experiments.arena.pools import read_pools

    pools, problem = read_pools()
    if problem:
        print(f"warning: {problem}", file=sys.stderr)
    if args.format == "json":
        dump_json({name: p.to_dict() for name, p in pools.items()})
        return 0
    if not pools:
        print("no pools yet: `llmbench arena add POOL SPEC SPEC...`")
        return 0
    rows = [(p.name, len(p.models), ", ".join(p.models), p.reference or "—") for p in pools.values()]
    console().print(rich_table("arena pools", ("pool", "models", "specs", "reference"), rows, right=("models",)))
    return 0


def _rm(args) -> int:
    from llmbench.engine.experiments.arena.pools import remove_pool

    remove_pool(args.pool)
    print(f"removed pool {args.pool} (its battles stay in the sessions)")
    return 0


def _battle(args) -> int:
    import random

    from llmbench.engine.errors import ArenaError
    from llmbench.engine.experiments.arena.battle import parse_vote
    from llmbench.engine.experiments.arena.pools import get_pool

    pool = get_pool(args.pool)
    vote = parse_vote(args.vote) if args.vote else None
    prompt = prompt_text(args.prompt)
    if vote is None and args.prompt == "-":
        raise ArenaError("--prompt - reads standard input: give the vote with --vote")
    rng = random.Random(args.draw_seed) if args.draw_seed is not None else None
    return blind_battle(pool, prompt, params_from_args(args), args.mode, args.format, vote=vote, rng=rng,
                        record=not args.no_record)  # fmt: skip


def blind_battle(pool, prompt: str, params, mode: str | None, fmt: str, *, vote: str | None = None, rng=None,
                 record: bool = True, challenger: str | None = None) -> int:  # fmt: skip
    """One blind battle, headless: both answers once both are done, the vote (given, or
    asked on standard input), then who was who (also ``sessions rerun`` of a battle)."""
    from llmbench.engine.errors import ArenaError
    from llmbench.engine.experiments.arena.battle import Battle, parse_vote

    with Battle(pool, params, mode=mode, rng=rng, record=record, challenger=challenger) as battle:
        if fmt == "table":
            print("both answers are shown once both are done (blind: no names, no speeds)", file=sys.stderr)
        result = drive(battle.job(prompt), False, "the battle is recorded and not counted")
        if result.interrupted:
            return exit_code(result)
        if fmt == "table":
            for c in result.contestants:
                print(f"\n── {c['side'].upper()} ──\n{c['text'] if not c['error'] else '[' + c['error'] + ']'}")
        if why := battle.unfinished():
            print(f"llmbench: {why}", file=sys.stderr)
            return 1
        if vote is None:
            print(VOTE_PROMPT, end="", file=sys.stderr, flush=True)
            line = sys.stdin.readline()
            if not line.strip():
                raise ArenaError("no vote given: the battle is recorded and not counted")
            vote = parse_vote(line)
        revealed = battle.vote(vote)
        session = battle.duel.session_path
    if fmt == "json":
        dump_json({"pool": pool.name, "vote": vote, "sides": revealed, "session": str(session) if session else None})
        return 0
    print()
    for side, c in revealed.items():
        quant = f" ({c['quant']})" if c.get("quant") and c["quant"] not in c["spec"] else ""
        print(f"{side.upper()} was {c['spec']}{quant}: {_stats(c)}")
    if session:
        print(f"session: {session}", file=sys.stderr)
    return 0


def _stats(c: dict) -> str:
    parts = [
        f"{c['gen_tok_s']:.1f} tok/s" if c.get("gen_tok_s") else None,
        f"TTFT {c['ttft_ms']:.0f} ms" if c.get("ttft_ms") is not None else None,
        f"peak RAM {c['peak_rss_mib']:.0f} MiB" if c.get("peak_rss_mib") else None,
        f"{c['gen_tokens']} tokens" if c.get("gen_tokens") else None,
    ]
    return ", ".join(p for p in parts if p) + " (one answer: one sample)"


def _leaderboard(args) -> int:
    from llmbench.engine.errors import ArenaError
    from llmbench.engine.experiments.arena.leaderboard import leaderboard
    from llmbench.engine.experiments.arena.pools import get_pool
    from llmbench.engine.experiments.arena.report import render

    if args.resamples < 10:
        raise ArenaError(f"--resamples {args.resamples}: at least 10")
    reference = get_pool(args.pool).reference if args.pool else None
    rows, battles = leaderboard(args.pool, reference, resamples=args.resamples)
    for problem in battles.problems:
        print(f"warning: {problem}", file=sys.stderr)
    if not rows:
        where = f"pool {args.pool}" if args.pool else "any pool"
        raise ArenaError(f"no counted battles of {where} yet: `llmbench arena battle POOL --prompt ...` "
                         f"(sessions of kind {BATTLE})")  # fmt: skip
    if args.format != "table":
        print(render(rows, battles, args.format, args.resamples, args.pareto), end="")
        return 0
    from ..render.arena_table import leaderboard_notes, leaderboard_table

    out = console()
    out.print(leaderboard_table(rows, battles, f"arena leaderboard · {args.pool or 'every pool'}"))
    for line in leaderboard_notes(rows, battles, args.resamples, args.pareto):
        out.print(line, highlight=False, markup=False, soft_wrap=True)
    return 0
