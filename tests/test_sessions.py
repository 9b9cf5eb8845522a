"""The session log: written as it happens, never overwritten, readable after a crash."""

import json
import os

import pytest

from engine import paths
from engine.errors import SessionError
from engine.sessions import SCHEMA_VERSION, SessionWriter, read_session, slug


def test_write_and_read_back():
    w = SessionWriter("duel", "What is 2+2?", {"mode": "sequential"})
    w.write("token", side="a", text="4", t_ns=1)
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
    w.write("token", side="a", text="x", t_ns=1)
    w.close()
    with open(w.path, "a") as fh:
        fh.write('{"type": "token", "si')  # a crash mid-write
    log = read_session(w.path)
    assert len(log.events) == 1
    assert "cut short" in log.warnings[0]


def test_corrupt_middle_line_and_newer_schema(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"type": "session", "schema": 1}\nnot json\n{"type": "x"}\n')
    with pytest.raises(SessionError, match=r"bad\.jsonl: line 2 is not valid JSON"):
        read_session(bad)
    newer = tmp_path / "newer.jsonl"
    newer.write_text(json.dumps({"type": "session", "schema": SCHEMA_VERSION + 1}) + "\n")
    with pytest.raises(SessionError, match="newer than this llmbench understands"):
        read_session(newer)
    with pytest.raises(SessionError, match="no such session file"):
        read_session(tmp_path / "absent.jsonl")


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
