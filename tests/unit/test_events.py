"""One event protocol: every event type round-trips through the codec, the shipped
samples decode whole, and a record that cannot be an event is skipped, not fatal."""

import json
from dataclasses import fields

import pytest

from llmbench.engine.models.info import ModelInfo
from llmbench.engine.runtime.events import (
    TYPES,
    Channel,
    Comparison,
    Done,
    Error,
    EvalRecord,
    EvalSummary,
    Loaded,
    Prompt,
    Resolved,
    Resources,
    Snapshot,
    Started,
    Stats,
    Token,
    Verdict,
    Vote,
    decode,
    encode,
)
from llmbench.engine.sessions import read_session, samples_dir

MODEL = ModelInfo("smollm2", "smollm2", "llama.cpp", "/m.gguf", 98, "Q4_1", "llama", True, "b179")
EXAMPLES = [
    (Channel.RUN, Prompt(2, [{"role": "user", "content": "hi"}], "sequential", "q?", {"hits": []}, None)),
    (Channel.A, Resolved(MODEL)),
    (Channel.B, Loaded(0.25, 2048, 2, "fallback template", 11)),
    (Channel.A, Started(42, 256, 3, 12)),
    (Channel.A, Started(None, 16, None, 12)),  # a remote model: the server counts the prompt
    (Channel.B, Token("Paris", 13)),
    (Channel.A, Done("Paris.", Stats(load_s=0.2, gen_tokens=7, gen_tok_s=98.5, server={"usage": {}}), "stop", 14)),
    (Channel.B, Error("killed", "worker_died", 15)),
    (Channel.A, Resources(200 * 2**20, 95.5, None, 16)),
    (Channel.DUEL, Verdict("gemma3-270m: 1.9x slower than smollm2")),
    (Channel.DUEL, Vote("both_bad", {"a": "smollm2", "b": "gguf:/m/smollm2.Q8_0.gguf"})),
    (Channel.EVAL, EvalRecord(1, [{"side": "a", "cosine": 0.9}])),
    (Channel.EVAL, EvalSummary({"models": {}}, 3)),
    (Channel.RERUN, Comparison([{"run": 1}], {"a": {}}, None)),
]


def test_every_event_type_has_an_example_here():
    assert {type(e) for _, e in EXAMPLES} == set(TYPES.values())


@pytest.mark.parametrize("channel, event", EXAMPLES, ids=lambda x: type(x).__name__ if not isinstance(x, str) else x)
def test_encode_then_decode_gives_the_event_back(channel, event):
    record = json.loads(json.dumps(encode(channel, event)))  # what a session file holds
    assert record["type"] == event.KIND
    assert ("side" in record) == (channel != event.CHANNEL)
    assert set(record) - {"type", "side"} == {f.name for f in fields(event)}
    decoded = decode({"run": 4, **record})  # the writer stamps the run (a Prompt carries its own)
    assert decoded == (channel, record.get("run", 4), event)


def test_snapshots_keep_their_kind_as_the_record_type():
    record = encode(None, Snapshot("inspect", {"a": {"name": "x"}}))
    assert record == {"type": "inspect", "a": {"name": "x"}}
    assert decode({**record, "run": 0}).event == Snapshot("inspect", {"a": {"name": "x"}})


def test_records_that_are_not_events_are_skipped():
    assert decode({"type": "session", "schema": 2}) is None  # the header
    assert decode({"type": "from-the-future", "side": "a"}) is None
    assert decode({"type": "token", "side": "e", "text": "x", "t_ns": 1}) is None  # no such channel
    assert decode({"type": "token", "side": "a", "text": ["not", "text"], "t_ns": 1}) is None
    assert decode({"type": "done", "side": "a", "text": "x", "stats": "fast", "finish_reason": "stop"}) is None
    assert decode("not a record") is None


def test_older_records_with_missing_fields_still_decode():
    """Missing required values become their type's zero; a missing time is 0 (no time),
    never the moment of reading."""
    token = decode({"type": "token", "side": "a", "text": "x"}).event
    assert token == Token("x", 0)
    loaded = decode({"type": "loaded", "side": "b", "load_s": 1}).event
    assert loaded.load_s == 1.0 and isinstance(loaded.load_s, float) and loaded.t_ns == 0 and loaded.note is None
    done = decode({"type": "done", "side": "a", "text": "x", "stats": {"gen_tok_s": 3}, "finish_reason": "stop"})
    assert done.event.stats == Stats(gen_tok_s=3.0)


def test_every_record_of_the_shipped_samples_decodes():
    for path in sorted(samples_dir().glob("*.jsonl")):
        log = read_session(path)
        assert len(log.decoded()) == len(log.events), path.name
        for channel, _run, event in log.decoded():
            assert encode(channel, event)["type"] in (event.KIND, getattr(event, "kind", None))
