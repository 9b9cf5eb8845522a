"""An OpenAI-compatible server as a contestant: llama-server, vLLM, Ollama, LM Studio.

Spec: ``openai:BASE_URL#MODEL`` (``#MODEL`` may be left out when the server lists
one model). Answers stream as server-sent events from ``/chat/completions`` (or
``/completions`` for plain completion); TTFT and tok/s are measured here, on the
client, and what the server reports itself (``usage``, llama-server's ``timings``)
is kept beside them in ``Stats.server``.

The API key comes from ``LLMBENCH_API_KEY``, ``OPENAI_API_KEY`` or the config's
``openai_api_key``: it goes into a request header and nowhere else, so no session
ever holds it. Only the standard library is used (``urllib``).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import math
import os
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence

from ...errors import LlmbenchError, first_line
from ...models.info import ModelInfo
from ...models.remote_spec import parse_remote_spec
from ...util.files import loads_json
from ..events import Done, Event, Loaded, Started, Token, now_ns
from ..metrics import answer_stats, engine_from_server
from ..params import GenParams
from ..prompt import fit, with_depth
from ..scoring import PromptLogprobs
from .base import Generating, Message

KEY_VARIABLES = ("LLMBENCH_API_KEY", "OPENAI_API_KEY")
CONNECT_TIMEOUT_S = 10.0
CHARS_PER_TOKEN = 4  # prompt budgeting only: the client has no tokenizer
MAX_LINE_BYTES = 4 << 20  # one server-sent line (a chunk): far more than any token
SECONDS_PER_TOKEN = 2.0  # the total deadline of an answer, per token asked for, beyond the first wait
MAX_LOGPROBS_BYTES = 256 << 20  # one chunk's prompt logprobs: about 2 KB a token at top-20
LOGPROB_KEYS = ("tokens", "token_logprobs", "top_logprobs")
OLLAMA_KEYS = ("prompt_eval_count", "prompt_eval_duration", "eval_count", "eval_duration")


class RemoteError(LlmbenchError):
    """A server that is unreachable, refuses the request, or breaks off an answer."""

    code = "remote"


def api_key() -> str | None:
    for name in KEY_VARIABLES:
        if os.environ.get(name):
            return os.environ[name]
    from ...config import load_config

    return load_config().get("openai_api_key") or None


class OpenAIBackend(Generating):
    def __init__(self, model: ModelInfo, params: GenParams):
        self.model = model
        self.params = params.validate()
        self.remote = parse_remote_spec(model.spec)
        self.key = api_key()
        self.served: str | None = self.remote.model
        self._text_only = False  # the server refused a prompt of token ids

    # ------------------------------------------------------------ http

    def _request(self, path: str, body: dict | None = None, timeout: float = CONNECT_TIMEOUT_S):
        url = self.remote.base_url + path
        headers = {"Accept": "text/event-stream" if body and body.get("stream") else "application/json"}
        if self.key:
            headers["Authorization"] = f"Bearer {self.key}"
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        req = urllib.request.Request(url, data=data, headers=headers, method="POST" if body is not None else "GET")
        try:
            return urllib.request.urlopen(req, timeout=timeout)
        except urllib.error.HTTPError as exc:
            raise RemoteError(self._http_message(url, exc)) from None
        except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
            reason = getattr(exc, "reason", exc)
            raise RemoteError(
                f"{self.remote.base_url}: server unreachable ({first_line(reason) if isinstance(reason, BaseException) else reason})"
            ) from None

    def _http_message(self, url: str, exc: urllib.error.HTTPError) -> str:
        try:
            detail = exc.read().decode("utf-8", "replace")
            detail = loads_json(detail).get("error", detail) if detail.startswith("{") else detail
            if isinstance(detail, dict):
                detail = detail.get("message") or json.dumps(detail)
        except (OSError, ValueError):
            detail = ""
        detail = " ".join(str(detail).split())[:160]
        if exc.code == 401:
            hint = (
                "the key was refused"
                if self.key
                else f"the server wants an API key: set {KEY_VARIABLES[0]} or {KEY_VARIABLES[1]}"
            )
            return f"{url}: 401 Unauthorized ({hint})"
        if exc.code == 404:
            return f"{url}: 404 Not Found (is the base URL right? it usually ends in /v1)" + (
                f": {detail}" if detail else ""
            )
        return f"{url}: HTTP {exc.code} {exc.reason}" + (f": {detail}" if detail else "")

    # ------------------------------------------------------------ load

    def load(self) -> Loaded:
        """Reach the server and check that it serves the model: the 'load' of a remote model."""
        t0 = time.perf_counter()
        try:
            with self._request("/models") as resp:
                raw = resp.read(MAX_LINE_BYTES + 1)  # (a model list, not an unbounded download)
            data = loads_json(raw) if len(raw) <= MAX_LINE_BYTES else {}
            data = data.get("data") if isinstance(data, dict) else None
            listed = [m.get("id") for m in data if isinstance(m, dict)] if isinstance(data, list) else []
        except RemoteError as exc:
            if "404 Not Found" not in str(exc):
                raise
            listed = []  # some servers have no /models: the first answer tells
        except ValueError:
            listed = []
        note = None
        if self.served is None:
            if not listed:
                raise RemoteError(
                    f"{self.remote.base_url}: the server lists no models; name one: {self.model.spec}#MODEL"
                )
            self.served = listed[0]
            note = f"the server's model: {self.served}" + (f" (of {len(listed)})" if len(listed) > 1 else "")
        elif listed and self.served not in listed:
            note = f"{self.served} is not among the server's models ({', '.join(map(str, listed[:5]))}); asking anyway"
        return Loaded(load_s=time.perf_counter() - t0, n_ctx=self.params.n_ctx, threads=0, note=note)

    # ------------------------------------------------------------ generate

    def body(self, messages: Sequence[Message], params: GenParams) -> tuple[str, dict]:
        body: dict = {
            "model": self.served or "",
            "stream": True,
            "max_tokens": params.max_tokens,
            "temperature": params.temperature,
            "top_p": params.top_p,
            "seed": params.seed,
            "stream_options": {"include_usage": True},
        }
        if not self.remote.strict:  # llama-server's and vLLM's own fields
            body.update(top_k=params.top_k, repeat_penalty=params.repeat_penalty)
            if params.ignore_eos:
                body["ignore_eos"] = True
        if params.raw:
            return "/completions", {**body, "prompt": "".join(m["content"] for m in messages)}
        return "/chat/completions", {**body, "messages": list(messages)}

    def _generate(self, messages, params: GenParams, cancel: threading.Event) -> Iterator[Event]:
        t_request = now_ns()
        budget = lambda ms: sum(len(m["content"]) for m in ms) // CHARS_PER_TOKEN + 4 * len(ms)  # noqa: E731
        messages, used = fit(messages, budget, params.n_ctx, params.max_tokens)
        messages = with_depth(messages, params.depth, budget)  # by its estimate: the client has no tokenizer
        path, body = self.body(messages, params)
        yield Started(prompt_tokens=None, max_tokens=params.max_tokens, context_used=used, t_ns=t_request)
        resp = self._request(path, body, timeout=self.remote.timeout_s)
        times: list[int] = []
        out: list[str] = []
        server: dict = {}
        finish: str | None = None
        first_response: int | None = None  # the first chunk of any kind (a server may send empty ones first)
        ended = False
        # A total deadline beside the per-read timeout (a server trickling a byte a second never
        # trips that one): the first chunk's wait, then a generous second per token asked for.
        with _cut_at(resp, self.remote.timeout_s + params.max_tokens * SECONDS_PER_TOKEN) as deadline:
            try:
                for payload in _events(resp, self.remote.base_url, deadline):
                    if payload == "[DONE]":
                        ended = True
                        break
                    first_response = first_response or now_ns()
                    pieces, finish = self._chunk(loads_json(payload), server, finish)
                    overrun = params.max_tokens and len(times) + len(pieces) > params.max_tokens
                    for piece in pieces[: params.max_tokens - len(times)] if overrun else pieces:
                        times.append(now_ns())
                        out.append(piece)
                        yield Token(piece, times[-1])
                    if cancel.is_set() or overrun:  # past max_tokens: the server ignores it, the client stops
                        finish = "cancelled" if cancel.is_set() else "length"
                        break
            except (TimeoutError, OSError, http.client.HTTPException) as exc:
                if time.monotonic() > deadline:  # the cut at the deadline can read as a reset
                    raise _late(self.remote.base_url) from None
                raise RemoteError(
                    f"{self.remote.base_url}: the server broke off the answer after {len(times)} "
                    f"tokens ({type(exc).__name__}: {first_line(exc)})"
                ) from None
            except ValueError as exc:
                what = "of another shape than OpenAI's" if isinstance(exc, BadShape) else "that is not JSON"
                raise RemoteError(f"{self.remote.base_url}: the server sent a chunk {what} ({exc})") from None
            finally:
                resp.close()
        if not ended and finish is None:
            raise RemoteError(f"{self.remote.base_url}: the server closed the stream after {len(times)} tokens, "
                              "before the answer ended")  # fmt: skip
        usage = server.get("usage") or {}
        stats = answer_stats(t_request, usage.get("prompt_tokens"), times, now_ns())
        yield Done(
            text="".join(out),
            stats=stats.replace(
                server=server or None,
                engine=engine_from_server(server),
                ttfr_ms=(first_response - t_request) / 1e6 if first_response else None,
            ),
            finish_reason={"stop": "stop", "length": "length", "cancelled": "cancelled"}.get(finish, "stop"),
        )

    def _chunk(self, chunk: object, server: dict, finish: str | None) -> tuple[list[str], str | None]:
        """A chunk's text pieces and the finish reason so far; what it says of the server, kept.
        A chunk of another shape than OpenAI's is a ``BadShape``, never a TypeError later on."""
        _shape(isinstance(chunk, dict), "not a JSON object")
        self._reported(chunk, server)
        choices = chunk.get("choices") or []
        _shape(isinstance(choices, list), "its choices are not a list")
        pieces = []
        for choice in choices:
            _shape(isinstance(choice, dict), "a choice is not an object")
            delta = choice.get("delta") or {}
            piece = (delta.get("content") if isinstance(delta, dict) else None) or choice.get("text") or ""
            reason = choice.get("finish_reason")
            _shape(isinstance(piece, str), f"its text is a {type(piece).__name__}")
            _shape(reason is None or isinstance(reason, str), f"its finish_reason is {str(reason)[:40]}")
            if piece:
                pieces.append(piece)
            finish = reason or finish
        return pieces, finish

    def _reported(self, chunk: dict, server: dict) -> None:
        """What a chunk says of the server itself, kept in ``server``; its error raised."""
        if "error" in chunk:
            err = chunk["error"]
            raise RemoteError(
                f"{self.remote.base_url}: the server reported an error mid-answer: "
                f"{err.get('message', err) if isinstance(err, dict) else err}"
            )
        for key in ("usage", "timings"):  # counts and times: only finite numbers are kept
            if isinstance(chunk.get(key), dict) and _numbers(chunk[key]):
                server[key] = _numbers(chunk[key])
        if chunk.get("eval_duration"):  # Ollama's own counters, where a proxy passes them on
            server["ollama"] = _numbers({k: chunk.get(k) for k in OLLAMA_KEYS})

    # ------------------------------------------------------------ prompt logprobs (fidelity)

    def prompt_logprobs(self, text: str, ids: list[int], top_n: int) -> PromptLogprobs:
        """What the server's model predicted at every token of a prompt: the legacy
        ``/completions`` with ``echo`` and ``logprobs`` (vLLM, llama-cpp-python's server;
        OpenAI's own models no longer echo). The prompt goes as token ``ids`` where the
        server takes them (vLLM does: no tokenizing again), else as ``text``. Only the
        prompt's tokens are kept."""
        if not self._text_only:
            try:
                return self._prompt_logprobs(ids, len(ids), top_n)
            except RemoteError as exc:
                if ": HTTP " not in str(exc):  # unreachable, 401, 404: text fares no better
                    raise
                self._text_only = True  # it refused the ids (llama-cpp-python's: HTTP 500, "a valid string")
        return self._prompt_logprobs(text, None, top_n)

    def _prompt_logprobs(self, prompt: str | list[int], n_ids: int | None, top_n: int) -> PromptLogprobs:
        body = {"model": self.served, "prompt": prompt, "max_tokens": 1, "echo": True, "logprobs": top_n,
                "temperature": 0, "stream": False}  # fmt: skip
        resp = self._request("/completions", body, timeout=self.remote.timeout_s)
        try:
            raw = resp.read(MAX_LOGPROBS_BYTES + 1)
        except (TimeoutError, OSError, http.client.HTTPException) as exc:
            raise RemoteError(
                f"{self.remote.base_url}: the server broke off its logprobs ({first_line(exc)})"
            ) from None
        finally:
            resp.close()
        if len(raw) > MAX_LOGPROBS_BYTES:
            raise RemoteError(f"{self.remote.base_url}: the logprobs answer is over {MAX_LOGPROBS_BYTES >> 20} MiB")
        try:
            answer = loads_json(raw)
        except ValueError:
            answer = None
        choices = answer.get("choices") if isinstance(answer, dict) else None
        if not isinstance(choices, list):
            raise RemoteError(f"{self.remote.base_url}: the logprobs answer is not the JSON of a completion")
        lp = choices[0].get("logprobs") if choices and isinstance(choices[0], dict) else None
        if not isinstance(lp, dict) or not all(isinstance(lp.get(k), list) for k in LOGPROB_KEYS):
            raise RemoteError(
                f"{self.remote.base_url}: the server returned no logprobs for the prompt (a fidelity candidate "
                "needs /completions with echo and logprobs, as vLLM and llama-cpp-python's server give)"
            )
        n = len(lp["tokens"])
        offsets = lp.get("text_offset")
        if n_ids is not None:
            n = min(n, n_ids)  # the generated token comes after the prompt's
        elif isinstance(offsets, list) and len(offsets) == n:
            n = sum(1 for o in offsets if isinstance(o, int) and o < len(prompt))
        tokens, logprobs, top = lp["tokens"][:n], lp["token_logprobs"][:n], lp["top_logprobs"][:n]
        if not (
            len(tokens) == len(logprobs) == len(top)
            and all(isinstance(t, str) for t in tokens)
            and all(x is None or _real(x) for x in logprobs)
            and all(x is None or (isinstance(x, dict) and all(map(_real, x.values()))) for x in top)
        ):
            raise RemoteError(
                f"{self.remote.base_url}: the logprobs answer holds values that are not tokens or numbers"
            )
        return PromptLogprobs(tokens, logprobs, top)

    def close(self) -> None:
        pass


class BadShape(ValueError):
    """Valid JSON, but not the shape of an OpenAI chunk."""


def _shape(ok: bool, why: str) -> None:
    if not ok:
        raise BadShape(why)


def _real(x: object) -> bool:
    """A number that is not a bool (a log-probability may be -inf)."""
    return isinstance(x, int | float) and not isinstance(x, bool) and not math.isnan(x)


def _numbers(fields: dict) -> dict:
    """The fields of a server's report that are finite numbers of at least 0 (no bools)."""
    return {k: v for k, v in fields.items() if _real(v) and math.isfinite(v) and v >= 0}


def _events(resp, url: str = "", deadline: float = float("inf")) -> Iterator[str]:
    """The ``data:`` payloads of a server-sent event stream; a line longer than MAX_LINE_BYTES
    or a stream past ``deadline`` (``time.monotonic``) ends it with a RemoteError."""
    data: list[str] = []
    size = 0  # the event's data lines so far: together they are capped as one line is
    late = _late(url)
    while raw := resp.readline(MAX_LINE_BYTES + 1):
        if len(raw) > MAX_LINE_BYTES:
            raise RemoteError(f"{url}: the server sent a line longer than {MAX_LINE_BYTES >> 20} MiB")
        if time.monotonic() > deadline:
            raise late
        line = raw.decode("utf-8", "replace").rstrip("\r\n")
        if not line:
            if data:
                yield "\n".join(data)
                data = []
            size = 0
            continue
        if line.startswith("data:"):
            size += len(raw)
            if size > MAX_LINE_BYTES:
                raise RemoteError(f"{url}: the server sent an event longer than {MAX_LINE_BYTES >> 20} MiB")
            data.append(line[5:].lstrip())
    if time.monotonic() > deadline:  # (the stream ended because _cut shut it)
        raise late
    if data and _complete("\n".join(data)):  # an event cut by the end of the stream is dropped
        yield "\n".join(data)


def _late(url: str) -> RemoteError:
    return RemoteError(f"{url}: the answer was still streaming at its deadline; the server is too slow")


def _complete(payload: str) -> bool:
    if payload == "[DONE]":
        return True
    try:
        loads_json(payload)
    except ValueError:
        return False
    return True


@contextlib.contextmanager
def _cut_at(resp, seconds: float):
    """The deadline (``time.monotonic``) ``seconds`` from now; at it the response's socket is
    shut, so a read blocked inside one line ends too."""
    deadline = time.monotonic() + seconds  # before the timer starts: the cut never comes before it
    timer = threading.Timer(seconds, _cut, (resp,))
    timer.daemon = True
    timer.start()
    try:
        yield deadline
    finally:
        timer.cancel()


def _cut(resp) -> None:
    """Shut the response's socket from the deadline's timer: a blocked read returns at once."""
    sock = getattr(getattr(getattr(resp, "fp", None), "raw", None), "_sock", None)
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
