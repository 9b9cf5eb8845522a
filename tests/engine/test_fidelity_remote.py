"""``openai:`` candidates in ``llmbench fidelity``: a top-N approximation of the KLD from
a server's prompt logprobs. The server here answers in OpenAI's convention from
SmolLM2's real logits (llama-cpp-python in this process); modes make it take text
only, give no logprobs, or give its alternatives one position early (as
llama-cpp-python's own server does)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from llmbench.engine.errors import FidelityError
from llmbench.engine.experiments.fidelity.report import markdown_report
from llmbench.engine.experiments.fidelity.run import Fidelity, read_text
from llmbench.engine.jobs import Finished

TOP_N = 8


class FakeServer:
    """``/v1/models`` and ``/v1/completions`` with ``echo`` and ``logprobs``, from SmolLM2."""

    def __init__(self, model_path: str):
        from llama_cpp import Llama

        self.llm = Llama(
            model_path=model_path, logits_all=True, n_ctx=1024, n_threads=1, flash_attn=True, verbose=False
        )  # as llmbench loads it
        self.mode = "ids"  # ids | text | none | early
        self.prompts: list = []
        self.lock = threading.Lock()

    def piece(self, token: int) -> str:
        return self.llm.detokenize([token], special=True).decode("utf-8", "replace")

    def completion(self, prompt) -> tuple[int, dict]:
        self.prompts.append(type(prompt).__name__)
        if isinstance(prompt, list):
            if self.mode != "ids":
                return 422, {"error": {"message": "prompt must be a string"}}
            ids = [int(t) for t in prompt]
        else:
            ids = self.llm.tokenize(prompt.encode(), add_bos=True, special=False)
        with self.lock:
            self.llm.reset()
            self.llm.eval(ids)
            x = np.array(self.llm.scores[: len(ids)], dtype=np.float64)
        logp = x - x.max(axis=1, keepdims=True)
        logp -= np.log(np.exp(logp).sum(axis=1, keepdims=True))
        shown = ids if isinstance(prompt, list) or ids[0] != self.llm.token_bos() else ids[1:]
        start = len(ids) - len(shown)
        early = 1 if self.mode == "early" else 0
        tokens, token_lp, top = [], [], []
        for k, t in enumerate(shown):
            row = start + k - 1 + early  # the distribution that predicts token k (of k + 1 when "early")
            tokens.append(self.piece(t))
            if start + k == 0 or row >= len(ids):
                token_lp.append(None)
                top.append(None)
                continue
            best = np.argsort(-logp[row])[:TOP_N]
            token_lp.append(float(logp[start + k - 1, t]))
            top.append({self.piece(int(i)): float(logp[row, i]) for i in best})
        offsets = list(np.cumsum([0] + [len(p) for p in tokens]))
        logprobs = {"tokens": tokens + ["\n"], "token_logprobs": token_lp + [-1.0], "top_logprobs": top + [{"\n": -1.0}],
                    "text_offset": [int(o) for o in offsets]}  # fmt: skip
        if self.mode == "none":
            logprobs = None
        return 200, {"choices": [{"text": "", "index": 0, "logprobs": logprobs, "finish_reason": "length"}]}


@pytest.fixture(scope="module")
def fake(demo_paths):
    model = FakeServer(str(demo_paths["smollm2"]))

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def _send(self, code: int, body: dict) -> None:
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            self._send(200, {"data": [{"id": "smol"}]})

        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            self._send(*model.completion(body["prompt"]))

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    model.url = f"openai:http://127.0.0.1:{httpd.server_address[1]}/v1#smol"
    yield model
    httpd.shutdown()


def _run(ref: str, cands: list[str], tmp_path, **options) -> dict:
    path = tmp_path / "text.txt"
    path.write_text(read_text(None).content[:8_000])
    events = list(Fidelity(ref, cands, read_text(path), ctx=96, chunks=2, record=False, top_n=TOP_N, **options).run())
    assert isinstance(events[-1], Finished)
    return events[-1].result.to_json()


@pytest.mark.parametrize("mode", ["ids", "text"])
def test_a_server_of_the_same_model_is_compared_by_its_top_n(fake, smollm2, tmp_path, mode):
    fake.mode, fake.prompts = mode, []
    result = _run(smollm2, [fake.url], tmp_path)
    (c,) = result["candidates"]
    assert c["error"] is None and c["kld_approx"] is True
    assert c["tokens"] == 2 * 47 or (mode == "text" and c["tokens"] == 47 and "1 chunk(s) left out" in c["note"])
    assert c["kld_mean"] < 0.01 and c["same_top_p"] > 0.97, "the same model and the same engine"
    assert abs(c["ppl"] / c["ppl_base"] - 1) < 0.01
    assert f"top-{TOP_N} approximation" in result["kld_approx_method"]
    assert "≈ " in markdown_report(result) and "≈ KLD: top-8 approximation" in markdown_report(result)
    assert set(fake.prompts) == ({"list"} if mode == "ids" else {"list", "str"}), "ids first, text when refused"


def test_a_server_without_logprobs_or_with_shifted_ones_is_named(fake, smollm2, tmp_path):
    fake.mode = "none"
    (c,) = _run(smollm2, [fake.url], tmp_path)["candidates"]
    assert "the server returned no logprobs for the prompt" in c["error"]
    fake.mode = "early"
    (c,) = _run(smollm2, [fake.url], tmp_path)["candidates"]
    assert "top logprobs are one position early" in c["error"]
    with pytest.raises(FidelityError, match="the reference must give every logit"):
        _run(fake.url, [smollm2], tmp_path)
