"""``bench --emit llama-bench|vllm|guidellm``: the same measurement as another tool's
command, to run where llmbench does not (a cluster, a GPU box), then bring back with
``sessions import`` (llama-bench's JSON, JSONL or SQL).

llama-bench gets the set-up llmbench's llama.cpp runs with (``-b 512 -ub 512 -fa 1
-ngl N -lm mmap``, as ``Loaded.setup`` reports it), so that its rows pair with
llmbench's in ``compare-llama-bench.py``. vLLM's ``bench serve`` and GuideLLM measure a
server: their random prompts of ``-p`` tokens and outputs of ``-n`` tokens, one request
at a time, end of sequence ruled out where the tool can say so. A model a tool cannot
run (an ``hf:`` folder for llama-bench) gets a comment line saying why, never a guess.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from pathlib import Path

from ... import models
from ...errors import BenchError, LlmbenchError
from ...models.remote_spec import parse_remote_spec

TOOLS = ("llama-bench", "vllm", "guidellm")
LLAMA_SETUP = ["-b", "512", "-ub", "512", "-fa", "1", "-lm", "mmap"]  # what llama-cpp-python loads with here


def emit(tool: str, specs: Sequence[str], n_prompt: Sequence[int], n_gen: Sequence[int],
         pg: Sequence[tuple[int, int]], depths: Sequence[int], reps: int, warmup: int, threads: int | None,
         n_gpu_layers: int = 0) -> list[str]:  # fmt: skip
    """The commands (and comment lines, ``#``) that run this bench with ``tool``."""
    if tool not in TOOLS:
        raise BenchError(f"--emit {tool}: one of {', '.join(TOOLS)}")
    lines = []
    for spec in specs:
        try:
            model = models.resolve(spec)
        except LlmbenchError as exc:
            lines.append(f"# {spec}: {exc}")
            continue
        if tool == "llama-bench":
            lines += _llama_bench(model, n_prompt, n_gen, pg, depths, reps, warmup, threads, n_gpu_layers)
        else:
            lines += _server(tool, spec, model, n_prompt, n_gen, pg, reps)
    if tool != "llama-bench" and any(depths):
        lines.append(f"# -d {_csv(depths)}: {tool} sets no cache depth; its commands above run at depth 0")
    return lines


def _llama_bench(model, n_prompt, n_gen, pg, depths, reps, warmup, threads, n_gpu_layers) -> list[str]:
    if model.backend != "llama.cpp":
        return [f"# {model.spec}: llama-bench runs GGUF files, and this is not one (backend: {model.backend})"]
    cmd = ["llama-bench", "-m", model.path, "-p", _csv(n_prompt), "-n", _csv(n_gen)]
    for p, g in pg:
        cmd += ["-pg", f"{p},{g}"]
    cmd += ["-d", _csv(depths or [0]), "-r", str(reps), *LLAMA_SETUP, "-ngl", str(n_gpu_layers)]
    cmd += ["-t", str(threads)] if threads else []
    cmd += ["--no-warmup"] if warmup == 0 else []
    note = (
        [] if threads else ["# -t: llmbench's auto picks the threads run by run; give llama-bench the count to compare"]
    )
    if warmup > 1:
        note.append(f"# llama-bench runs one warmup; --warmup {warmup} has no equal there")
    note.append("# llama-bench times random tokens; llmbench fills the tests with real text (the same counts)")
    return [*note, f"{shlex.join(cmd)} -o json > {shlex.quote(_stem(model) + '.llama-bench.json')}"]


def _server(tool: str, spec: str, model, n_prompt, n_gen, pg, reps) -> list[str]:
    lines = []
    if model.backend == "openai":
        remote = parse_remote_spec(spec)
        base, name = remote.base_url, remote.model
    else:
        base, name = "http://127.0.0.1:8000/v1", model.path
        lines.append(f"# serve it first, e.g. `vllm serve {shlex.quote(model.path)}` (its port 8000)")
    pairs = [(p, 1) for p in n_prompt if p] + [(16, g) for g in n_gen if g] + [tuple(x) for x in pg]
    lines.append("# each pp test: a prompt of p tokens and 1 generated; each tg test: 16 prompt tokens, then n")
    for p, g in pairs:
        out = shlex.quote(f"{_stem(model)}.{tool}.p{p}-n{g}.json")
        if tool == "vllm":
            cmd = ["vllm", "bench", "serve", "--backend", "openai", "--base-url", base.removesuffix("/v1"),
                   "--model", name or "MODEL", "--dataset-name", "random", "--random-input-len", str(p),
                   "--random-output-len", str(g), "--num-prompts", str(reps), "--max-concurrency", "1",
                   "--ignore-eos", "--save-result", "--result-filename"]  # fmt: skip
            lines.append(f"{shlex.join(cmd)} {out}")
        else:
            cmd = ["guidellm", "benchmark", "--target", base.removesuffix("/v1"), "--data",
                   f"prompt_tokens={p},output_tokens={g}", "--rate-type", "synchronous", "--max-requests",
                   str(reps), "--output-path"]  # fmt: skip
            cmd[4:4] = ["--model", name] if name else []
            lines.append(f"{shlex.join(cmd)} {out}")
    return lines


def _csv(values: Sequence[int]) -> str:
    return ",".join(str(v) for v in values) or "0"


def _stem(model) -> str:
    name = Path(model.path).name if model.backend != "openai" else model.name
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in name).removesuffix(".gguf")
