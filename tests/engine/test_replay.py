"""Replay, export and re-run of recorded sessions, on the samples shipped in sessions/."""

import csv
import io
import json

import pytest

from llmbench.engine import paths
from llmbench.engine.errors import SessionError
from llmbench.engine.runtime.events import (
    Channel,
    Comparison,
    Done,
    EvalRecord,
    Loaded,
    Prompt,
    Resolved,
    Snapshot,
    Stats,
    Token,
    Verdict,
)
from llmbench.engine.sessions import SessionWriter, read_session
from llmbench.engine.sessions.digest import digest, matches, parse_query
from llmbench.engine.sessions.export import csv_text, json_text, markdown
from llmbench.engine.sessions.replay import RUN_GAP_S, Player, Timeline, play
from llmbench.tui.cli import main
from tests.helpers import sample


def synthetic(idle_s: float = 100.0):
    """Two runs of one side, 100 s of idle time between them."""
    w = SessionWriter("duel", "p", {"contestants": {"a": {"spec": "m", "params": {}}}})
    t0 = 1_000_000_000
    for run, start in ((1, t0), (2, t0 + int(idle_s * 1e9))):
        w.event(Channel.RUN, Prompt(run, [{"role": "user", "content": f"q{run}"}]))
        w.event(Channel.A, Loaded(0.1, 64, 1, None, t_ns=start))
        for i in range(5):
            w.event(Channel.A, Token(f"t{i}", start + int((i + 1) * 0.5e9)))
        w.event(Channel.A, Done("t0t1t2t3t4", Stats(gen_tok_s=2.0), "stop", t_ns=start + int(2.6e9)))
        w.event(Channel.DUEL, Verdict(""))
    w.close()
    return read_session(w.path)


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_timeline_keeps_recorded_pace_and_drops_idle_time():
    tl = Timeline.from_log(synthetic())
    assert [r.prompt for r in tl.runs] == ["q1", "q2"]
    tokens = [c for c in tl.cues if isinstance(c.event, Token)]
    assert [round(c.at, 3) for c in tokens[:5]] == [0.5, 1.0, 1.5, 2.0, 2.5]
    second = tl.run_starts()[1]
    assert second == pytest.approx(2.6 + RUN_GAP_S)  # not 100 s later
    assert tl.duration == pytest.approx(second + 2.6)


def test_player_speed_pause_and_seek():
    tl = Timeline.from_log(synthetic())
    clock = Clock()
    p = Player(tl, speed=1.0, clock=clock)
    p.play()
    clock.now = 1.2
    got = p.due()
    assert [c.event.text for c in got if isinstance(c.event, Token)] == ["t0", "t1"]
    p.pause()
    clock.now = 50
    assert p.due() == [] and p.position == pytest.approx(1.2)
    p.set_speed(4.0)
    p.play()
    clock.now = 50.25  # 4x: one more second of recording
    assert [c.event.text for c in p.due() if isinstance(c.event, Token)] == ["t2", "t3"]
    restart, cues = p.seek(0.6)  # backwards: start over, apply up to 0.6 s
    assert restart and [c.event.text for c in cues if isinstance(c.event, Token)] == ["t0"]
    restart, cues = p.seek(tl.run_starts()[1])  # forward: only what is new
    assert not restart and cues[0].event.text == "t1"
    assert any(isinstance(c.event, Prompt) and c.event.run == 2 for c in cues)
    p.set_speed(0)  # instant
    assert p.due()[-1].event == tl.cues[-1].event and p.finished


def test_headless_play_sleeps_the_recorded_time_divided_by_speed():
    tl = Timeline.from_log(synthetic())
    for speed in (1.0, 4.0):
        slept, clock = [], Clock()

        def sleep(s):
            slept.append(s)
            clock.now += s

        events = list(play(tl, speed, sleep=sleep, clock=clock))
        assert len(events) == len(tl.cues)
        assert sum(slept) == pytest.approx(tl.duration / speed, rel=0.05)
    slept = []
    list(play(tl, 0, sleep=slept.append))
    assert slept == []


@pytest.mark.parametrize("kind", ["duel", "chat", "eval"])
def test_samples_replay_token_for_token(kind):
    log = sample(kind)
    assert not log.warnings
    tl = Timeline.from_log(log)
    d = digest(log)
    assert d.sample and len(tl.runs) == len(d.turns) >= 2
    for turn in d.turns:
        for side, answer in turn.answers.items():
            streamed = "".join(
                c.event.text for c in tl.cues if c.run == turn.run and c.channel == side and isinstance(c.event, Token)
            )
            assert answer.text and streamed.startswith(answer.text.rstrip()[:20])
            assert answer.stats["gen_tok_s"] > 0 and answer.stats["ttft_ms"] > 0
    assert any(isinstance(c.event, Loaded) for c in tl.cues) and any(isinstance(c.event, Resolved) for c in tl.cues)
    assert sum(isinstance(c.event, Done) for c in tl.cues) == sum(len(t.answers) for t in d.turns)
    if kind == "duel":
        assert set(d.models) == {"a", "b"} and any(isinstance(c.event, Verdict) and c.event.text for c in tl.cues)
    if kind == "chat":
        assert all(t.retrieval and t.retrieval["hits"] for t in d.turns)
        assert sum(c.channel == "rag" for c in tl.cues) == len(d.turns)
    if kind == "eval":
        assert d.eval_summary and all(isinstance(c.event, EvalRecord) for c in tl.cues if c.channel == "eval")
        assert all(a.cosine is not None and -1 <= a.cosine <= 1 for t in d.turns for a in t.answers.values())
        assert all(t.reference for t in d.turns)


def test_exports_of_the_duel_sample():
    d = digest(sample("duel"))
    md = markdown(d)
    assert md.startswith("# ") and "## Stats" in md and "| A smollm2" in md and "| B gemma3-270m" in md
    for turn in d.turns:
        assert turn.prompt in md and turn.answers["a"].text.strip().splitlines()[0] in md
    rows = list(csv.DictReader(io.StringIO(csv_text(d))))
    assert len(rows) == 2 * len(d.turns)
    assert {r["side"] for r in rows} == {"a", "b"} and all(float(r["gen_tok_s"]) > 0 for r in rows)
    data = json.loads(json_text(d))
    assert data["kind"] == "duel" and data["stats"]["a"]["gen_tok_s"] > 0 and len(data["turns"]) == len(d.turns)


def test_filters():
    d = digest(sample("duel"))
    assert matches(d, **parse_query("kind:duel model:gemma capital"))
    assert not matches(d, **parse_query("kind:chat"))
    assert not matches(d, **parse_query("tag:nothing"))
    assert not matches(d, **parse_query("zebra"))
    assert not matches(d, samples=False)


def test_cli_list_show_export_replay(capsys, tmp_path):
    assert main(["sessions", "list", "--format", "json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert {s["kind"] for s in listed} >= {"duel", "chat", "eval"} and all(s["sample"] for s in listed)
    duel = next(s for s in listed if s["kind"] == "duel")
    assert main(["sessions", "replay", duel["id"], "--speed", "0"]) == 0
    out = capsys.readouterr().out
    d = digest(read_session(duel["path"]))
    assert "── A: smollm2" in out and d.turns[0].answers["b"].text.strip()[:30] in out
    assert main(["sessions", "export", duel["id"][-6:], "--format", "csv", "-o", str(tmp_path)]) == 0
    exported = tmp_path / f"{duel['id']}.csv"
    assert exported.read_text().startswith("session,kind,run,side,model")
    assert main(["sessions", "export", duel["id"][-6:], "--format", "csv", "-o", str(exported)]) == 1
    assert "already exists" in capsys.readouterr().err
    chat = next(s for s in listed if s["kind"] == "chat")
    assert main(["sessions", "replay", chat["path"], "--speed", "0"]) == 0
    assert "── passages ──" in capsys.readouterr().out
    assert main(["sessions", "rm", duel["id"], "--yes"]) == 1
    assert "sample shipped with llmbench cannot be deleted" in capsys.readouterr().err


def test_cli_bad_input(capsys, tmp_path, monkeypatch):
    broken = tmp_path / "broken.jsonl"
    broken.write_text("not a session\n")
    assert main(["sessions", "show", str(broken)]) == 1
    assert f"{broken}: not an llmbench session" in capsys.readouterr().err
    assert main(["sessions", "replay", str(tmp_path / "gone.jsonl")]) == 1
    assert "gone.jsonl: no such session file" in capsys.readouterr().err
    # a damaged middle line: a warning, and the rest still replays
    good = sample("duel")
    lines = good.path.read_text().splitlines()
    damaged = tmp_path / "damaged.jsonl"
    damaged.write_text("\n".join(lines[:5] + ["{oops"] + lines[5:]) + "\n")
    assert main(["sessions", "replay", str(damaged), "--speed", "0"]) == 0
    captured = capsys.readouterr()
    assert "1 damaged line(s) skipped (line 6)" in captured.err and "── B: gemma3-270m" in captured.out
    assert main(["sessions", "rm", str(damaged), "--yes"]) == 1
    assert "not in the sessions folder" in capsys.readouterr().err
    monkeypatch.setenv("LLMBENCH_SAMPLES", str(tmp_path / "none"))
    assert main(["sessions", "replay", "last"]) == 1
    assert "no sessions recorded yet" in capsys.readouterr().err


def test_session_of_a_model_no_longer_installed_still_replays(capsys, tmp_path):
    log = sample("duel")
    moved = tmp_path / "old.jsonl"
    moved.write_text(log.path.read_text().replace("smollm2", "vanished-model"))
    assert main(["sessions", "replay", str(moved), "--speed", "0"]) == 0
    assert "── A: vanished-model" in capsys.readouterr().out
    assert main(["sessions", "rerun", str(moved), "--a", "vanished-model", "--no-record", "--quiet"]) == 1
    assert "vanished-model" in capsys.readouterr().err


@pytest.mark.slow
def test_rerun_duel_sample_on_other_models(registered, embedder):
    from llmbench.engine.sessions.rerun import Rerun, original_params

    log = sample("duel")
    params = original_params(log).replace(max_tokens=24)
    with Rerun(log, "gemma3-270m", "smollm2", params, mode="sequential", similarity=embedder.similarity) as rr:
        events = list(rr.run())
        path = rr.session_path
    compared = events[-1][1]
    assert isinstance(compared, Comparison) and compared.note is None
    assert len(compared.rows) == 2 * len(log.of_type("prompt"))
    for r in compared.rows:
        assert r["speed_ratio"] > 0 and -1 <= r["cosine"] <= 1 and r["new_peak_rss_mib"] > 50
    a = [r for r in compared.rows if r["side"] == "a"][0]
    assert a["old_model"].startswith("smollm2") and a["new_model"].startswith("gemma3-270m")
    new = read_session(path)
    assert new.header["rerun_of"] == log.path.name and new.header["kind"] == "duel"
    d = digest(new)
    assert d.comparison and "## Against the original" in markdown(d)
    assert [t.prompt for t in d.turns] == [t.prompt for t in digest(log).turns]


@pytest.mark.slow
def test_rerun_chat_sample_reuses_the_recorded_passages(registered, embedder):
    from llmbench.engine.sessions.rerun import Rerun, original_params

    log = sample("chat")
    params = original_params(log).replace(max_tokens=16)
    with Rerun(log, "gemma3-270m", None, params, similarity=embedder.similarity) as rr:
        events = list(rr.run())
        path = rr.session_path
    new = read_session(path)
    old_prompts, new_prompts = log.of_type("prompt"), new.of_type("prompt")
    assert [p["retrieval"] for p in new_prompts] == [p["retrieval"] for p in old_prompts]
    # the follow-up carries gemma's own first answer, not SmolLM2's
    follow_up = new_prompts[1]["messages"]
    first_answer = next(e for e in new.events if e.get("type") == "done" and e.get("run") == 1)["text"]
    assert any(m["role"] == "assistant" and m["content"] == first_answer for m in follow_up)
    assert sum(1 for side, _ in events if side == "rag") == len(old_prompts)


def test_rerun_of_a_session_with_no_prompts():
    from llmbench.engine.sessions.rerun import Rerun

    w = SessionWriter("inspect", "snapshot", {})
    w.event(None, Snapshot("inspect", {"a": {"name": "x"}}))
    w.close()
    with pytest.raises(SessionError, match="no prompts recorded"):
        Rerun(read_session(w.path), "smollm2")


@pytest.mark.slow
def test_a_killed_duel_leaves_a_session_that_replays(registered, home):
    """SIGKILL of the whole `llmbench duel` process group mid-answer: the file is valid."""
    import os
    import signal
    import subprocess
    import time

    from tests.helpers import LLMBENCH

    folder = paths.sessions_dir()
    proc = subprocess.Popen(
        [
            LLMBENCH,
            "duel",
            "--a",
            "smollm2",
            "--b",
            "gemma3-270m",
            "--max-tokens",
            "400",
            "--ignore-eos",
            "--prompt",
            "Write a long story about a lighthouse.",
            "--quiet",
        ],
        env={**os.environ},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        path = None
        while time.monotonic() < deadline:
            files = list(folder.glob("*.jsonl")) if folder.exists() else []
            if files and files[0].read_text().count('"type": "token"') >= 20:
                path = files[0]
                break
            time.sleep(0.1)
        assert path is not None, "no tokens recorded"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    log = read_session(path)
    d = digest(log)
    assert len(d.turns) == 1 and len(d.turns[0].answers["a"].text) > 20  # kept from the streamed tokens
    tl = Timeline.from_log(log)
    assert sum(isinstance(c.event, Token) for c in tl.cues) >= 20


def test_a_speed_no_one_can_mean_is_refused_in_one_line():
    from llmbench.engine.errors import SessionError
    from llmbench.engine.sessions.replay import check_speed

    assert check_speed(0.0) == 0.0 and check_speed(0.05) == 0.05 and check_speed(8.0) == 8.0
    for bad in (0.0000001, float("nan"), float("inf"), -1.0):
        with pytest.raises(SessionError) as err:
            check_speed(bad)
        assert "\n" not in str(err.value) and "give 0 (instant)" in str(err.value)


def test_a_recorded_cpu_above_every_core_replays_clamped():
    """Samples recorded before they were clamped read 194-202 % on a 2-CPU host."""
    from llmbench.engine.runtime.events import Resources

    w = SessionWriter("duel", "p", {"contestants": {"a": {"spec": "m", "params": {}}}})
    w.event(Channel.RUN, Prompt(1, [{"role": "user", "content": "q"}]))
    for cpu in (150.0, 202.0, 2000.0):
        w.event(Channel.A, Resources(rss_bytes=1 << 20, cpu_percent=cpu, t_ns=1_000_000_000))
    w.close()
    log = read_session(w.path)
    log.header["host"] = {"cpu_count": 2}
    shown = [c.event.cpu_percent for c in Timeline.from_log(log).cues if isinstance(c.event, Resources)]
    assert shown == [150.0, 200.0, 200.0]
