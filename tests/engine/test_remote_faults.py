"""An ``openai:`` server that misbehaves: llmbench stops at max_tokens itself, keeps a total
deadline as well as the per-read one, caps a line's length, and turns garbage, HTTP 500 and a
cut stream into one line naming the server. No model loads: the client is driven directly."""

import http.server
import json
import random
import threading
import time

import pytest

from llmbench.engine.errors import SpecError
from llmbench.engine.models.remote_spec import describe_remote, parse_remote_spec
from llmbench.engine.runtime.backends.remote import OpenAIBackend
from llmbench.engine.runtime.events import Done, Error, Token
from llmbench.engine.runtime.params import GenParams
from tests.fuzzing import DEEP, mutate_bytes, mutate_json, one_line, within

CHUNK = b'data: {"choices": [{"index": 0, "delta": {"content": "x"}, "finish_reason": null}]}\n\n'


class _Misbehaving(http.server.BaseHTTPRequestHandler):
    behaviour = "endless"
    corpus_body = b""

    def do_GET(self):
        data = json.dumps({"data": [{"id": "m"}]}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        if self.behaviour == "http500":
            self.send_error(500, "model crashed")
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        try:
            getattr(self, self.behaviour)()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client hung up, as it should

    def endless(self):  # ignores max_tokens
        while True:
            self.wfile.write(CHUNK)
            self.wfile.flush()

    def trickle(self):  # a byte at a time, inside one line: no per-read timeout ever trips
        for _ in range(600):
            self.wfile.write(b"d")
            self.wfile.flush()
            time.sleep(0.05)

    def long_line(self):
        self.wfile.write(b"data: " + b"y" * (5 << 20))
        self.wfile.flush()

    def body(self):  # a body from the fuzz corpus
        self.wfile.write(self.corpus_body)

    def garbage(self):
        self.wfile.write(b"data: {not json\n\n")

    def cut(self):  # a chunk cut in the middle, then the connection closes
        self.wfile.write(CHUNK + CHUNK[:30])
        self.wfile.flush()

    def log_message(self, *args):
        pass


@pytest.fixture
def serve():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Misbehaving)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()

    def run(behaviour: str, max_tokens: int = 16, options: str = ""):
        _Misbehaving.behaviour = behaviour
        spec = f"openai:http://127.0.0.1:{httpd.server_address[1]}/v1#m{options}"
        params = GenParams(max_tokens=max_tokens)
        start = time.monotonic()
        events = list(OpenAIBackend(describe_remote(spec), params).generate([{"role": "user", "content": "hi"}],
                                                                            params, threading.Event()))  # fmt: skip
        return events, time.monotonic() - start

    def backend() -> OpenAIBackend:
        spec = f"openai:http://127.0.0.1:{httpd.server_address[1]}/v1#m"
        return OpenAIBackend(describe_remote(spec), GenParams())

    run.backend = backend
    yield run
    httpd.shutdown()


def test_a_server_that_ignores_max_tokens_is_stopped_at_max_tokens(serve):
    events, took = serve("endless", max_tokens=16)
    assert len([e for e in events if isinstance(e, Token)]) == 16
    assert events[-1].finish_reason == "length" and isinstance(events[-1], Done)
    assert took < 10


def test_a_trickling_server_meets_the_total_deadline(serve):
    events, took = serve("trickle", max_tokens=1, options="?timeout=1")  # deadline: 1 s + 2 s per token
    assert isinstance(events[-1], Error) and "deadline" in events[-1].message
    assert 2.5 < took < 6, took


@pytest.mark.parametrize(
    "behaviour, says",
    [
        ("long_line", "a line longer than 4 MiB"),
        ("garbage", "a chunk that is not JSON"),
        ("http500", "HTTP 500"),
        ("cut", "before the answer ended"),
    ],
)
def test_garbage_errors_and_cut_streams_are_one_line_naming_the_server(serve, behaviour, says):
    events, took = serve(behaviour)
    error = events[-1]
    assert isinstance(error, Error) and says in error.message and "127.0.0.1" in error.message, events[-3:]
    assert "\n" not in error.message and took < 10


@pytest.mark.parametrize(
    "spec, says",
    [
        ("openai:http://[::1/v1#m", "not a URL"),
        ("openai:http://h:99999/v1#m", "not a URL"),
        ("openai:http://h/v1#m?timeout=0", "more than 0"),
        ("openai:http://h/v1#m?timeout=nan", "more than 0"),
    ],
)
def test_bad_urls_and_timeouts_are_spec_errors(spec, says):
    with pytest.raises(SpecError, match=says):
        parse_remote_spec(spec)


STREAM = [
    {"id": "c1", "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]},
    {"choices": [{"index": 0, "delta": {"content": "Hello"}, "finish_reason": None}]},
    {"choices": [{"index": 0, "delta": {"content": " there"}, "finish_reason": None}]},
    {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}], "usage": {"prompt_tokens": 5, "completion_tokens": 2},
     "timings": {"prompt_n": 5, "prompt_ms": 10.0, "predicted_n": 2, "predicted_ms": 20.0}},
]  # fmt: skip


def _stream(events: list, rng: random.Random) -> bytes:
    """A server-sent stream of ``events`` and [DONE], its framing sometimes damaged too."""
    body = b"".join(b"data: " + json.dumps(e).encode() + b"\n\n" for e in events) + b"data: [DONE]\n\n"
    kind = rng.random()
    if kind < 0.1:
        body = body.replace(b"\n", b"\r\n")
    elif kind < 0.2:
        body = body.replace(b"\n\n", b"\n")  # no event boundaries: one endless event
    elif kind < 0.25:
        body = b"data: " + DEEP.encode() + b"\n\n" + body
    elif kind < 0.45:
        body = mutate_bytes(body, rng)
    return body


def test_fuzzed_streams_end_in_an_answer_or_one_line_naming_the_server(serve):
    """300 damaged answer streams: chunks given odd values (choices, deltas, text, finish
    reasons, usage and timings of other types), framing cut or flipped, nesting too deep.
    Each ends in Done, at most max_tokens tokens of text, or one Error line naming the
    server, quickly; never another exception."""
    rng = random.Random(24)
    for case in range(300):
        events = list(STREAM)
        i = rng.randrange(len(events))
        events[i] = mutate_json(events[i], rng)
        _Misbehaving.corpus_body = _stream(events, rng)
        with within(5, case):
            out, _ = serve("body", max_tokens=4)
        last = out[-1]
        tokens = [e for e in out if isinstance(e, Token)]
        assert isinstance(last, Done | Error) and len(tokens) <= 4, (case, out[-2:])
        assert all(isinstance(t.text, str) for t in tokens), case
        if isinstance(last, Error):
            one_line(last.message, "127.0.0.1", case)
        else:
            assert last.text == "".join(t.text for t in tokens), case
            assert all(isinstance(v, int | float) for v in (last.stats.server or {}).get("timings", {}).values())


def test_fuzzed_logprobs_answers_are_read_or_one_line(serve):
    """200 damaged /completions logprobs answers (a fidelity candidate's): prompt logprobs
    of the right types, or one RemoteError naming the server."""
    from llmbench.engine.runtime.backends.remote import RemoteError

    good = {"choices": [{"text": "ab", "logprobs": {"tokens": ["a", "b"], "token_logprobs": [None, -0.5],
                                                    "top_logprobs": [None, {"b": -0.5, "c": -1.2}],
                                                    "text_offset": [0, 1]}}]}  # fmt: skip
    rng = random.Random(25)
    backend = serve.backend()
    _Misbehaving.behaviour = "body"
    for case in range(200):
        body = json.dumps(mutate_json(good, rng)).encode()
        _Misbehaving.corpus_body = body if rng.random() < 0.85 else mutate_bytes(body, rng)
        with within(5, case):
            try:
                lp = backend.prompt_logprobs("ab", [1, 2], 2)
                assert all(isinstance(t, str) for t in lp.tokens), case
            except RemoteError as exc:
                one_line(exc, "127.0.0.1", case)
