"""The arena: ratings from battles (evalica's Bradley-Terry, bootstrap intervals), the
random draw of contestants and sides, pools, battles read back from sessions (a failed
side and a damaged record are named, never counted), KLD beside the ratings, the
Pareto front; and real blind battles between SmolLM2 twins through the CLI."""

from __future__ import annotations

import json
import random
from collections import Counter

import numpy as np
import pytest

from llmbench.engine.errors import ArenaError
from llmbench.engine.experiments.arena import pools as pools_mod
from llmbench.engine.experiments.arena.battle import Battle, draw, parse_vote
from llmbench.engine.experiments.arena.leaderboard import BATTLE, leaderboard, read_battles
from llmbench.engine.experiments.arena.pools import Pool, add_to_pool, get_pool, read_pools, remove_pool
from llmbench.engine.experiments.arena.ratings import Match, fit
from llmbench.engine.models.info import ModelInfo
from llmbench.engine.runtime.events import Channel, Done, Error, Prompt, Resolved, Stats, Vote
from llmbench.engine.runtime.params import GenParams
from llmbench.engine.runtime.record import SessionWriter, save_report
from tests.helpers import cli, one_line_error

# ---------------------------------------------------------------- ratings on made-up battles


def _battles(strengths: dict[str, float], n: int, seed: int = 0, tie_rate: float = 0.1) -> list[Match]:
    """``n`` battles between random pairs, each won by the Bradley-Terry odds of the strengths."""
    rng = np.random.default_rng(seed)
    names = list(strengths)
    out = []
    for _ in range(n):
        i, j = rng.choice(len(names), 2, replace=False)
        a, b = names[i], names[j]
        p = 1 / (1 + np.exp(strengths[b] - strengths[a]))
        u = rng.random()
        out.append(Match(a, b, "tie" if u < tie_rate else "a" if u < tie_rate + (1 - tie_rate) * p else "b"))
    return out


def test_the_order_of_known_strengths_is_recovered_and_intervals_shrink():
    strengths = {"q2": -1.0, "q4": 0.0, "q8": 1.0, "f16": 2.0}
    few = {r.model: r for r in fit(_battles(strengths, 200), resamples=200)}
    many = {r.model: r for r in fit(_battles(strengths, 3200), resamples=200)}
    assert [r.model for r in fit(_battles(strengths, 3200), resamples=50)] == ["f16", "q8", "q4", "q2"]
    for name in strengths:
        assert many[name].low <= many[name].rating <= many[name].high
        assert many[name].high - many[name].low < (few[name].high - few[name].low) / 2, name  # ~1/sqrt(16)
    assert many["f16"].rank == 1 and not many["q8"].tied_with_leader and many["q2"].rank == 4
    # one logit of strength is 400 * log10(e) = 174 points on the Elo scale
    assert many["f16"].rating - many["q8"].rating == pytest.approx(174, abs=40)


def test_two_equal_models_are_reported_tied():
    ratings = fit(_battles({"a": 0.0, "b": 0.0, "weak": -2.0}, 600, seed=3), resamples=200)
    top = {r.model: r for r in ratings}
    assert {ratings[0].model, ratings[1].model} == {"a", "b"} and top["weak"].rank == 3
    assert top["a"].tied_with_leader and top["b"].tied_with_leader and top["a"].rank == top["b"].rank == 1
    assert not top["weak"].tied_with_leader


def test_counting_by_cell_fits_what_evalica_fits_on_every_battle(monkeypatch):
    import evalica

    from llmbench.engine.experiments.arena import ratings

    monkeypatch.setattr(ratings, "PRIOR", 1e-9)  # the fit alone, without the prior's ties

    matches = _battles({"x": 0.5, "y": 0.0, "z": -0.5}, 500, seed=5)
    winners = [evalica.Winner({"a": 1, "b": 2}.get(m.vote, 0)) for m in matches]
    scores = evalica.bradley_terry([m.a for m in matches], [m.b for m in matches], winners).scores
    elo = 400 * np.log10(scores)
    ours = {r.model: r.rating for r in fit(matches, resamples=10)}
    for a, b in (("x", "y"), ("y", "z")):
        assert ours[a] - ours[b] == pytest.approx(elo[a] - elo[b], abs=0.5)
    assert sum(ours.values()) / 3 == pytest.approx(1000)
    counts = {r.model: (r.battles, r.wins, r.ties) for r in fit(matches, resamples=10)}
    assert sum(c[0] for c in counts.values()) == 2 * len(matches)
    assert sum(c[2] for c in counts.values()) == 2 * sum(m.vote == "tie" for m in matches)


def test_a_model_that_never_won_still_gets_a_finite_rating_below_the_others():
    matches = [Match("q8", "q2", "a"), Match("q8", "q4", "tie"), Match("q4", "q2", "a")] * 4
    by = {r.model: r for r in fit(matches, resamples=100)}
    assert by["q2"].rank == 3 and by["q2"].high < by["q4"].low and np.isfinite(by["q2"].rating)
    assert by["q8"].rating == pytest.approx(by["q4"].rating), "the same record against the same opponents"


def test_a_model_with_a_handful_of_battles_gets_no_interval_and_no_rank():
    """One battle resampled is that battle every time: a zero-width interval would claim a
    certainty the votes do not give."""
    matches = [Match("old", "other", "a")] * 20 + [Match("new", "old", "b")]
    by = {r.model: r for r in fit(matches, resamples=50)}
    assert by["new"].battles == 1 and by["new"].low is None and by["new"].rank is None and by["new"].tied_with_leader
    assert by["old"].low is not None and by["old"].rank == 1


# ---------------------------------------------------------------- the draw and the vote


def test_the_pair_and_the_sides_are_drawn_at_random():
    rng = random.Random(7)
    drawn = Counter(draw(["q2", "q4", "q8", "q4"], rng) for _ in range(600))
    assert set(drawn) == {(a, b) for a in ("q2", "q4", "q8") for b in ("q2", "q4", "q8") if a != b}
    assert all(70 < n < 130 for n in drawn.values()), drawn  # 100 each: every pair, either way round
    assert draw(["q2", "q4"], random.Random(1)) == draw(["q2", "q4"], random.Random(1)), "a seed draws it again"
    with pytest.raises(ArenaError, match="a battle needs two models; the pool has 1"):
        draw(["q4", "q4"], rng)


def test_votes_are_read_from_what_a_person_types():
    assert [parse_vote(v) for v in ("a", "B", "t", "tie", "x", "both-bad", "both bad")] == [
        "a", "b", "tie", "tie", "both_bad", "both_bad", "both_bad"]  # fmt: skip
    with pytest.raises(ArenaError, match="'c' is not a vote"):
        parse_vote("c")


def test_a_vote_before_both_answers_is_refused(smollm2):
    with Battle(Pool("p", [smollm2, smollm2.removeprefix("gguf:")]), GenParams(max_tokens=4), record=False) as b:
        with pytest.raises(ArenaError, match="the vote waits for both answers"):
            b.vote("a")


# ---------------------------------------------------------------- pools


def test_pools_are_added_to_listed_and_removed(home):
    add_to_pool("quants", ["q8", "q4"])
    pool, _ = add_to_pool("quants", ["q4", "q2"], reference="f32")
    assert pool.models == ["q8", "q4", "q2"] and get_pool("quants").reference == "f32"
    with pytest.raises(ArenaError, match="no arena pool named 'nope'; pools: quants"):
        get_pool("nope")
    with pytest.raises(ArenaError, match="not a usable pool name"):
        add_to_pool("../x", ["q4"])
    remove_pool("quants")
    with pytest.raises(ArenaError, match="none yet"):
        get_pool("quants")


def test_a_damaged_pools_file_is_named_and_kept_aside(home):
    path = pools_mod.pools_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("{not json")
    pools, problem = read_pools()
    assert pools == {} and str(path) in problem and "not valid JSON" in problem
    _, note = add_to_pool("p", ["a", "b"])
    assert "kept as" in note and list(path.parent.glob("arena.json.damaged-*"))


# ---------------------------------------------------------------- battles read back from sessions


SPEED = {"q2": (90.0, 200.0), "q4": (70.0, 250.0), "q8": (50.0, 300.0)}  # gen tok/s, peak RSS MiB


def _record_battle(pool: str, a: str, b: str, vote: str | None, fail_b: bool = False) -> None:
    """A battle session as the duel writes one, through the one codec."""
    meta = {"pool": pool, "blind": True, "contestants": {"a": {"spec": a}, "b": {"spec": b}}}
    w = SessionWriter(BATTLE, "Name a colour.", meta)
    w.event(Channel.RUN, Prompt(1, [{"role": "user", "content": "Name a colour."}], "sequential"))
    for side, spec in (("a", a), ("b", b)):
        w.event(side, Resolved(ModelInfo(spec, spec, "llama.cpp", f"/m/{spec}.gguf", 1000, quant="Q4_1")))
        if side == "b" and fail_b:
            w.event(side, Error("the worker died", "crash"))
            continue
        tok_s, rss = SPEED[spec]
        w.event(side, Done("Blue.", Stats(load_s=0.1, gen_tokens=8, gen_tok_s=tok_s, peak_rss_mib=rss), "stop"))
    if vote is not None:
        w.event(Channel.DUEL, Vote(vote, {"a": a, "b": b}))
    w.close()


def test_battles_count_only_when_voted_and_whole_and_a_damaged_record_is_named(home):
    for _ in range(3):
        _record_battle("quants", "q8", "q2", "a")
        _record_battle("quants", "q4", "q8", "b")
    _record_battle("quants", "q2", "q4", "tie")
    _record_battle("quants", "q8", "q4", None)  # never voted
    _record_battle("quants", "q8", "q4", "a", fail_b=True)  # a side failed
    _record_battle("quants", "q8", "q4", "maybe")  # a vote no one can read
    _record_battle("other", "q8", "q4", "a")
    (home / "sessions" / "20990101-000000-battle-broken-abcdef.jsonl").write_text('{"type": "session", "kind": ')
    battles = read_battles("quants")
    assert len(battles.matches) == 7 and len(battles.not_counted) == 1
    assert "side B failed (the worker died)" in battles.not_counted[0]
    assert any("'maybe' is not one of a, b, tie, both_bad" in p for p in battles.problems)
    assert any("broken" in p for p in battles.problems)
    assert sorted(battles.tok_s["q2"]) == [90.0] * 4 and len(read_battles().matches) == 8


def test_the_leaderboard_puts_kld_speed_and_memory_beside_the_ratings_and_finds_the_pareto_front(home):
    for _ in range(4):
        _record_battle("quants", "q8", "q2", "a")
        _record_battle("quants", "q8", "q4", "tie")
        _record_battle("quants", "q4", "q2", "a")
    figures = {"q8": 0.002, "q4": 0.02, "q2": 0.4}
    result = {
        "reference": {"spec": "f32"},
        "partial": False,
        "candidates": [{"spec": s, "kld_mean": k, "same_top_p": 1 - k, "error": None} for s, k in figures.items()],
    }
    save_report("fidelity", "f32 vs quants", result, "f32", {}, "", "")
    save_report("fidelity", "other", {**result, "reference": {"spec": "elsewhere"}}, "elsewhere", {}, "", "")
    rows, battles = leaderboard("quants", reference="f32", resamples=100)
    by = {r.rating.model: r for r in rows}
    assert [r.rating.model for r in rows][-1] == "q2" and by["q8"].kld_mean == 0.002
    assert by["q2"].same_top_p == pytest.approx(0.6) and by["q4"].gen_tok_s == 70.0 and by["q8"].peak_rss_mib == 300
    assert by["q8"].pareto and by["q2"].pareto, "the best liked; the fastest and smallest"
    assert by["q4"].pareto, "neither beats q4 on all four"
    rows2, _ = leaderboard("quants", reference="nothing-scored", resamples=20)
    assert all(r.kld_mean is None for r in rows2), "no fidelity run against that reference: —"


def test_a_model_beaten_on_every_figure_is_dominated_and_says_why(home):
    for _ in range(5):
        _record_battle("p", "q2", "q8", "a")  # q2: liked better, faster, smaller
    rows, _ = leaderboard("p", resamples=50)
    q8 = next(r for r in rows if r.rating.model == "q8")
    assert not q8.pareto and q8.dominated_by[0].startswith("q2 Q4_1: preferred")
    assert (
        "faster (90.0 tok/s vs 50.0 tok/s)" in q8.dominated_by[0]
        and "less RAM (200 MiB vs 300 MiB)" in q8.dominated_by[0]
    )


# ---------------------------------------------------------------- real battles, headless


def test_a_blind_battle_through_the_cli_hides_the_names_until_the_vote(registered, smollm2, home):
    path = smollm2.removeprefix("gguf:")
    assert cli("arena", "add", "twins", "smollm2", path, home=home).returncode == 0
    args = ("arena", "battle", "twins", "--prompt", "Name a colour.", "--max-tokens", "6", "--temperature", "0")
    proc = cli(*args, "--draw-seed", "3", home=home, input="a\n")
    assert proc.returncode == 0, proc.stderr
    before, after = proc.stdout.split("\n\nA was ", 1)
    assert "── A ──" in before and "── B ──" in before
    assert "smollm2" not in before.lower() and "tok/s" not in before and "MiB" not in before
    assert "smollm2" in after.lower() and "tok/s" in after and "peak RAM" in after
    assert "Which is better?" in proc.stderr
    for vote in ("b", "tie"):
        assert cli(*args, "--vote", vote, home=home).returncode == 0
    board = cli("arena", "leaderboard", "twins", "--format", "json", "--resamples", "50", home=home)
    data = json.loads(board.stdout)
    assert data["battles"] == 3 and {r["model"] for r in data["rows"]} == {"smollm2", path}
    assert all(r["battles"] == 3 and r["gen_tok_s"] > 0 and r["peak_rss_mib"] > 50 for r in data["rows"])
    table = cli("arena", "leaderboard", "twins", "--pareto", home=home, env={"COLUMNS": "80"})
    assert "rating (95% CI)" in table.stdout and "Pareto front" in table.stdout


def test_a_battle_rerun_against_a_new_model_is_a_new_blind_battle_with_it(registered, smollm2, home):
    path = smollm2.removeprefix("gguf:")
    cli("arena", "add", "twins", "smollm2", path, home=home)
    first = cli("arena", "battle", "twins", "--prompt", "Name a colour.", "--max-tokens", "4", "--vote", "a", home=home)
    assert first.returncode == 0, first.stderr
    proc = cli("sessions", "rerun", "last", "--a", smollm2, "--max-tokens", "4", home=home, input="t\n")
    assert proc.returncode == 0, proc.stderr
    assert "── A ──" in proc.stdout.split("A was")[0] and "Which is better?" in proc.stderr
    board = json.loads(cli("arena", "leaderboard", "twins", "--format", "json", "--resamples", "20", home=home).stdout)
    assert board["battles"] == 2 and smollm2 in {r["model"] for r in board["rows"]}, "the challenger fought"


def test_a_challenger_is_always_drawn():
    rng = random.Random(2)
    pairs = [draw(["q4", "q8"], rng, challenger="q5") for _ in range(200)]
    assert all("q5" in p for p in pairs) and {p.index("q5") for p in pairs} == {0, 1}
    assert {x for p in pairs for x in p} == {"q4", "q5", "q8"}


def test_bad_arena_input_is_one_line(registered, smollm2, tiny_gguf, home):
    one_line_error(cli("arena", "battle", "nope", "--prompt", "hi", home=home), "no arena pool named 'nope'")
    one_line_error(cli("arena", "add", "p", "no-such-model", home=home), "no-such-model")
    assert cli("arena", "add", "solo", "smollm2", home=home).returncode == 0
    one_line_error(cli("arena", "battle", "solo", "--prompt", "hi", home=home), "a battle needs two models")
    one_line_error(cli("arena", "leaderboard", "solo", home=home), "no counted battles of pool solo")
    assert cli("arena", "add", "broken", "smollm2", str(tiny_gguf), home=home).returncode == 0
    proc = cli("arena", "battle", "broken", "--prompt", "hi", "--max-tokens", "4", "--vote", "a", home=home)
    assert proc.returncode == 1 and "failed" in proc.stderr and "recorded and not counted" in proc.stderr
    one_line_error(cli("arena", "leaderboard", "broken", home=home), "no counted battles of pool broken")
    one_line_error(cli("arena", "battle", "broken", "--prompt", "hi", "--vote", "maybe", home=home), "not a vote")
