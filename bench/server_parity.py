#!/usr/bin/env python3
"""A model behind a server beside the same model in-process and beside llama-bench: where
the time goes between llama.cpp, llama-cpp-python's server, HTTP and llmbench's client.

One GGUF (the demo SmolLM2 by default), the same threads everywhere; llama-cpp-python's
own server (``python -m llama_cpp.server``) started once. Each round, in an order that
rotates from round to round:

- ``llama-bench -p P -n N -r R`` (the reference: llama.cpp alone);
- ``llmbench bench GGUF`` (llama.cpp in llmbench's worker, no HTTP);
- ``llmbench bench openai:URL`` (the same tests through the server: pp timed to the first
  token, tg from the first token to the last);
- ``llmbench bench openai:URL --concurrency 1`` (the load test's per-request speed).

It prints every round, then per figure the median and, for each pair, the median of the
per-round ratios with their range: a ratio is called a gap only when every round's ratio
lies on the same side of 1 over at least 6 rounds (a sign test: by chance less than 1 time
in 32). A missing llama-bench is a SKIP line for its column.

    .venv/bin/python bench/server_parity.py [--model smollm2] [-p 128] [-n 64] [-r 3] [-t 2] [--rounds 6]
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_parity import model_path  # noqa: E402
from llama_tools import tool  # noqa: E402

LLMBENCH = str(Path(sys.executable).with_name("llmbench"))
SIGN_ROUNDS = 6


def _run_json(cmd: list[str]):
    return json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=1800).stdout)


def start_server(path: str, threads: int) -> tuple[subprocess.Popen, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "llama_cpp.server", "--model", path, "--host", "127.0.0.1",
                             "--port", str(port), "--n_ctx", "2048", "--n_threads", str(threads),
                             "--n_threads_batch", str(threads)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    url = f"http://127.0.0.1:{port}/v1"
    for _ in range(300):
        try:
            urllib.request.urlopen(url + "/models", timeout=2).close()
            return proc, url
        except OSError:
            time.sleep(0.3)
    proc.kill()
    sys.exit("server_parity: llama_cpp.server did not start")


def llama_bench(exe: Path, path: str, a) -> dict[str, float]:
    rows = _run_json([str(exe), "-m", path, "-p", str(a.p), "-n", str(a.n), "-r", str(a.r), "-t", str(a.t),
                      "-b", "512", "-ub", "512", "-fa", "1", "-ngl", "0", "-o", "json"])  # fmt: skip
    return {("pp" if r["n_prompt"] else "tg"): r["avg_ts"] for r in rows}


def in_process(path: str, a) -> dict[str, float]:
    rows = _run_json([LLMBENCH, "bench", f"gguf:{path}", "-p", str(a.p), "-n", str(a.n), "-r", str(a.r), "-t",
                      str(a.t), "-o", "json", "--no-record"])  # fmt: skip
    return {("pp" if r["n_prompt"] else "tg"): r["avg_ts"] for r in rows}


def through_server(url: str, a) -> dict[str, float]:
    rows = _run_json([LLMBENCH, "bench", f"openai:{url}", "-p", str(a.p), "-n", str(a.n), "-r", str(a.r), "-o",
                      "json", "--no-record"])  # fmt: skip
    return {("pp" if r["n_prompt"] else "tg"): r["avg_ts"] for r in rows}


def load_one(url: str, a) -> dict[str, float]:
    data = _run_json([LLMBENCH, "bench", f"openai:{url}", "--concurrency", "1", "-p", str(a.p), "-n", str(a.n),
                      "--requests", str(a.r), "-o", "json", "--no-record"])  # fmt: skip
    (level,) = data["levels"]
    return {"tg": level["per_request_tok_s"]["median"]}


def pair(label: str, ours: list[float], ref: list[float]) -> str:
    ratios = [o / r for o, r in zip(ours, ref) if o and r]
    if not ratios:
        return f"{label}: no pairs"
    one_side = all(x < 1 for x in ratios) or all(x > 1 for x in ratios)
    # a sign test: every one of 6 or more rounds on one side of 1 happens by chance less than 1 time in 32
    side = "too few rounds to call" if len(ratios) < SIGN_ROUNDS else "a gap" if one_side else "within the spread"
    return (f"{label}: {statistics.median(ratios):.2f}x (per round {min(ratios):.2f} to {max(ratios):.2f}, "
            f"{len(ratios)} rounds: {side})")  # fmt: skip


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="smollm2")
    ap.add_argument("-p", type=int, default=128)
    ap.add_argument("-n", type=int, default=64)
    ap.add_argument("-r", type=int, default=3)
    ap.add_argument("-t", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=SIGN_ROUNDS)
    a = ap.parse_args()
    path = model_path(a.model)
    exe = tool("llama-bench")
    if exe is None:
        print("server_parity: SKIP llama-bench: it cannot be built here (see above)")
    proc, url = start_server(path, a.t)
    steps = {"llama-bench": (lambda: llama_bench(exe, path, a)) if exe else None,
             "in-process": lambda: in_process(path, a), "server": lambda: through_server(url, a),
             "server c1": lambda: load_one(url, a)}  # fmt: skip
    steps = {k: v for k, v in steps.items() if v is not None}
    got: dict[str, list[dict]] = {k: [] for k in steps}
    try:
        through_server(url, argparse.Namespace(**{**vars(a), "r": 1}))  # the server's first answers: a warmup
        for i in range(a.rounds):
            names = list(steps)
            names = names[i % len(names) :] + names[: i % len(names)]
            for name in names:
                got[name].append(steps[name]())
            print(f"round {i + 1}: " + " | ".join(f"{k} " + " ".join(f"{t} {v:.1f}" for t, v in got[k][-1].items())
                                                  for k in steps), flush=True)  # fmt: skip
    finally:
        proc.kill()
        proc.wait()
    for test in ("pp", "tg"):
        medians = {k: statistics.median(r[test] for r in rows) for k, rows in got.items() if test in rows[0]}
        print(
            f"{test}{a.p if test == 'pp' else a.n} t/s medians: "
            + ", ".join(f"{k} {v:.1f}" for k, v in medians.items())
        )
        series = {k: [r[test] for r in rows] for k, rows in got.items() if test in rows[0]}
        if "llama-bench" in series:
            print("  " + pair("in-process / llama-bench", series["in-process"], series["llama-bench"]))
        print("  " + pair("server / in-process (HTTP and the server's stack)", series["server"], series["in-process"]))
        if test in got["server c1"][0]:
            print("  " + pair("server c1 per request / server", series["server c1"], series["server"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
