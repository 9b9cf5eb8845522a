"""The session log: written as it happens, never overwritten, readable after a crash."""

import errno
import json
import os

import pytest

from llmbench.engine import paths, sessions
from llmbench.engine.errors import SessionError
from llmbench.engine.runtime.events import Channel, Prompt, Token
from llmbench.engine.runtime.record import slug
from llmbench.engine.sessions import SCHEMA_VERSION, SessionWriter, read_session


def test_write_and_read_back():
    w = SessionWriter("duel", "What is 2+2?", {"mode": "sequential"})
    w.event(Channel.A, Token("4", 1))
    w.close()
    assert w.path.parent == paths.sessions_dir()
    log = read_session(w.path)
    assert log.header["schema"] == SCHEMA_VERSION and log.header["kind"] == "duel"
    assert log.header["mode"] == "sequential" and log.header["host"]["cpu_count"] >= 1
    assert log.events == [{"type": "token", "side": "a", "text": "4", "t_ns": 1}]
    assert not log.warnings


def test_names_are_unique_and_safe():
    a = SessionWriter("duel", "../../etc/passwd", {})
    b = SessionWriter("duel", "../../etc/passwd", {})
    assert a.path != b.path
    for w in (a, b):
        assert w.path.parent == paths.sessions_dir() and ".." not in w.path.name
    assert slug("Héllo, World!/..") == "h-llo-world"
    assert slug("???") == "untitled"


def test_cut_short_last_line_is_tolerated(tmp_path):
    w = SessionWriter("duel", "p", {})
    w.event(Channel.A, Token("x", 1))
    w.close()
    with open(w.path, "a") as fh:
        fh.write('{"type": "token", "si')  # a crash mid-write
    log = read_session(w.path)
    assert len(log.events) == 1
    assert "cut short" in log.warnings[0]


def test_corrupt_middle_line_and_newer_schema_are_read_with_warnings(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(
        '{"type": "session", "schema": 2}\nnot json\n{"type": "token", "side": "a", "text": "x"}\n[1]\n'
        '{"type": "token", "side": "a", "text": "y"}\n'
    )
    log = read_session(bad)
    assert [e["text"] for e in log.events] == ["x", "y"]
    assert log.warnings == [f"{bad}: 2 damaged line(s) skipped (line 2, 4); the rest replays"]
    newer = tmp_path / "newer.jsonl"
    newer.write_text(
        json.dumps({"type": "session", "schema": SCHEMA_VERSION + 1, "kind": "duel"})
        + "\n"
        + json.dumps({"type": "token", "side": "a", "text": "z", "t_ns": 5, "future": True})
        + "\n"
    )
    log = read_session(newer)
    assert "newer than this llmbench understands" in log.warnings[0] and log.events[0]["text"] == "z"
    with pytest.raises(SessionError, match="absent.jsonl: no such session file"):
        read_session(tmp_path / "absent.jsonl")
    headless = tmp_path / "headless.jsonl"
    headless.write_text('{"type": "token"}\n')
    with pytest.raises(SessionError, match="headless.jsonl: not an llmbench session"):
        read_session(headless)
    binary = tmp_path / "binary.jsonl"
    binary.write_bytes(b"\x00\xff\xfe garbage")
    with pytest.raises(SessionError, match="binary.jsonl: not an llmbench session"):
        read_session(binary)


def test_schema_1_files_are_migrated(tmp_path):
    """A file as schema 1 wrote it: no run numbers on events, no clock name."""
    old = tmp_path / "v1.jsonl"
    lines = [
        {"type": "session", "schema": 1, "kind": "duel", "title": "hi"},
        {"type": "prompt", "run": 1, "messages": [{"role": "user", "content": "hi"}]},
        {"type": "token", "side": "a", "text": "a", "t_ns": 10},
        {"type": "done", "side": "a", "text": "a", "stats": {}, "finish_reason": "stop", "t_ns": 11},
        {"type": "prompt", "run": 2, "messages": [{"role": "user", "content": "again"}]},
        {"type": "token", "side": "a", "text": "b", "t_ns": 20},
    ]
    old.write_text("".join(json.dumps(x) + "\n" for x in lines))
    log = read_session(old)
    assert log.header["schema"] == SCHEMA_VERSION and log.header["clock"] == "monotonic_ns"
    assert [e["run"] for e in log.events] == [1, 1, 1, 2, 2]
    assert [v for v, _ in sessions.MIGRATIONS] == list(range(1, SCHEMA_VERSION))


def test_runs_are_stamped_and_secrets_never_written(monkeypatch):
    monkeypatch.setenv("MY_SERVICE_TOKEN", "tok-1234567890")
    meta = {
        "contestants": {
            "a": {
                "spec": "openai:https://api.example.com/v1?api_key=sk-abcdefghijklmnopqrstuv",
                "params": {"max_tokens": 9},
                "api_key": "sk-zzzzzzzzzzzzzzzzzzzzzz",
            }
        },
        "headers": {"Authorization": "Bearer abcdef123456"},
        "url": "https://bob:hunter2@example.com/v1",
    }
    w = SessionWriter("duel", "key hf_abcdefghijklmnopqrstuvwx", meta)
    w.event(Channel.RUN, Prompt(1, [{"role": "user", "content": "use tok-1234567890 please"}]))
    w.event(Channel.A, Token("ok", 1))
    w.close()
    raw = w.path.read_text()
    for secret in (
        "sk-abcdefghijklmnopqrstuv",
        "sk-zzzz",
        "abcdef123456",
        "hunter2",
        "tok-1234567890",
        "hf_abcdefghijklmnopqrstuvwx",
    ):
        assert secret not in raw, secret
    assert "hf_" not in w.path.name
    log = read_session(w.path)
    assert log.header["contestants"]["a"]["params"] == {"max_tokens": 9}  # only secrets go
    assert "api.example.com" in log.header["contestants"]["a"]["spec"]
    assert log.events[1] == {"type": "token", "side": "a", "text": "ok", "t_ns": 1, "run": 1}


def test_rename_tag_find_and_remove(home):
    w = SessionWriter("duel", "What is 2+2?", {})
    w.close()
    path = w.path
    sessions.write_meta(path, title="arithmetic  check", tags=["Math", "math", "../x"])
    assert sessions.read_meta(path) == {"title": "arithmetic check", "tags": ["math", "x"]}
    assert read_session(path).events == []  # the log itself is untouched
    assert sessions.find("last") == path
    assert sessions.find(path.name[-12:-6]) == path  # the random suffix
    assert sessions.find(str(path)) == path
    with pytest.raises(SessionError, match="not a session name"):
        sessions.find("../../etc/passwd")
    with pytest.raises(SessionError, match="no session with that name"):
        sessions.find("nothing-like-it")
    with pytest.raises(SessionError, match="cannot be empty"):
        sessions.write_meta(path, title="   ")
    outside = home / "elsewhere.jsonl"
    outside.write_text(path.read_text())
    with pytest.raises(SessionError, match="not in the sessions folder"):
        sessions.remove(outside)
    sessions.remove(path)
    assert not path.exists() and not path.with_name(path.name.replace(".jsonl", ".meta.json")).exists()
    assert outside.exists()


def test_samples_are_read_only():
    samples = sessions.samples_dir()
    assert samples is not None and samples.name == "sessions"
    sample = sorted(samples.glob("*.jsonl"))[0]
    with pytest.raises(SessionError, match="sample shipped with llmbench cannot be deleted"):
        sessions.remove(sample)
    with pytest.raises(SessionError, match="cannot be renamed"):
        sessions.write_meta(sample, title="mine")


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_unwritable_sessions_folder(tmp_path, monkeypatch):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    monkeypatch.setenv("LLMBENCH_SESSIONS", str(locked / "sessions"))
    with pytest.raises(SessionError, match="cannot create the sessions folder"):
        SessionWriter("duel", "p", {})


def test_sessions_folder_that_is_a_file(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("LLMBENCH_SESSIONS", str(blocker))
    with pytest.raises(SessionError, match="cannot create the sessions folder"):
        SessionWriter("duel", "p", {})


def _bench_session(model: str, samples: list[float], threads: int = 2):
    """A bench session as ``llmbench bench`` records it (its result's shape), with given t/s samples."""
    from llmbench.engine.runtime.record import save_report
    from llmbench.engine.util.stats import mean_std

    avg, std = mean_std(samples)
    row = {"spec": model, "model": model, "test": "tg128", "avg_ts": avg, "stddev_ts": std, "samples_ts": samples,
           "n_threads": threads}  # fmt: skip
    result = {"rows": [row], "build": {"llama-cpp-python": "0.3.36"}}
    path, why = save_report("bench", model, result, model, {}, "", f"{model} tg128")
    assert why is None
    return path.stem  # a session's file name names it in a command


def test_sessions_compare_flags_a_2x_difference_and_not_the_noise(home):
    from tests.helpers import cli

    base = _bench_session("smollm2", [110.0, 104.0, 114.0])
    same = _bench_session("smollm2", [107.0, 113.0, 102.0])
    half = _bench_session("smollm2-slow", [55.0, 52.0, 57.0], threads=1)
    proc = cli("sessions", "compare", base, half, "--format", "json", home=home)
    assert proc.returncode == 0, proc.stderr
    (c,) = json.loads(proc.stdout)["changes"]
    assert c["change"] == pytest.approx(-0.5, abs=0.01) and c["verdict"].startswith("worse: 0.50x (95% CI 0.4")
    assert c["what"] == "smollm2 → smollm2-slow tg128"
    assert "1 threads" in json.loads(proc.stdout)["notes"][1]
    (c,) = json.loads(cli("sessions", "compare", base, same, "--format", "json", home=home).stdout)["changes"]
    assert c["verdict"].startswith("no change shown (95% CI 0.")
    table = cli("sessions", "compare", base, half, home=home)
    assert "-50.0%" in table.stdout and "worse" in table.stdout


def test_sessions_compare_refuses_two_different_kinds(home):
    from llmbench.engine.sessions.compare import compare
    from llmbench.engine.sessions.digest import digest

    w = SessionWriter("duel", "a duel", {})
    w.event(Channel.RUN, Prompt(1, [{"role": "user", "content": "hi"}]))
    w.close()
    bench = sessions.find(_bench_session("smollm2", [100.0, 101.0]))
    with pytest.raises(SessionError, match="compare two of a kind"):
        compare(digest(read_session(w.path)), digest(read_session(bench)))


class _FullDisk:
    """A session file on a disk that fills up after ``room`` bytes (ENOSPC from there)."""

    def __init__(self, real, room: int):
        self.real, self.room = real, room

    def write(self, text: str) -> int:
        if len(text) > self.room:
            raise OSError(errno.ENOSPC, "No space left on device")
        self.room -= len(text)
        return self.real.write(text)

    def __getattr__(self, name):
        return getattr(self.real, name)


def test_a_full_disk_at_the_start_leaves_no_file_and_says_so(monkeypatch):
    from llmbench.engine.runtime import record

    monkeypatch.setattr(record, "open", lambda path, mode, **kw: _FullDisk(open(path, mode, **kw), 0), raising=False)
    with pytest.raises(SessionError, match="disk full"):
        SessionWriter("duel", "p", {})
    assert not list(paths.sessions_dir().glob("*.jsonl")), "no 0-byte session to break the listings"


def test_a_full_disk_mid_run_keeps_what_was_written_and_says_so():
    w = SessionWriter("duel", "p", {})
    w.event(Channel.A, Token("kept", 1))
    w._fh = _FullDisk(w._fh, 60)  # room for one more token line, not two
    for i in range(5):
        w.event(Channel.A, Token("more", 2 + i))  # no exception: the run goes on
    w.close()
    assert w.error and "disk full" in w.error and str(w.path) in w.error
    log = read_session(w.path)
    assert [e["text"] for e in log.events] == ["kept", "more"]


@pytest.mark.slow
def test_a_duel_on_a_disk_that_fills_up_answers_and_says_not_recorded(smollm2, monkeypatch):
    from llmbench.engine.runtime.duel import Duel
    from llmbench.engine.runtime.events import Done
    from llmbench.engine.runtime.params import GenParams

    real_event = SessionWriter.event

    def filling(self, channel, event):
        if isinstance(event, Token) and not isinstance(self._fh, _FullDisk):
            self._fh = _FullDisk(self._fh, 0)
        real_event(self, channel, event)

    monkeypatch.setattr(SessionWriter, "event", filling)
    with Duel(smollm2, smollm2, GenParams(max_tokens=8, temperature=0), mode="sequential") as duel:
        events = list(duel.run("Name three colours."))
    assert {s for s, e in events if isinstance(e, Done)} == {"a", "b"}, "both sides answered"
    assert duel.record_error and "disk full" in duel.record_error
    assert read_session(duel.session_path).events, "what fitted is kept and readable"


def test_one_session_of_wrong_field_types_is_named_and_the_others_listed(home):
    from llmbench.engine.sessions.digest import load_all

    good = SessionWriter("duel", "a good one", {})
    good.event(Channel.RUN, Prompt(1, [{"role": "user", "content": "hi"}], "sequential"))
    good.close()
    bad = paths.sessions_dir() / "20260101-000000-duel-bad-abcdef.jsonl"
    bad.write_text(json.dumps({"type": "session", "schema": 2, "kind": "duel", "title": 5, "created": 7,
                               "contestants": "x", "tags": 3}) + "\n")  # fmt: skip
    found, problems = load_all()
    assert good.path.name in {os.path.basename(d.path) for d in found}
    assert len(problems) == 1 and str(bad) in problems[0] and "\n" not in problems[0]
