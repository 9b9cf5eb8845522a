"""Pure functions over event timestamps: the stats of an answer and the duel verdict."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..util.cpus import HostLoad, differ, worst
from ..util.stats import mean_std, ratio_ci
from .events import Stats

NS = 1_000_000_000


def answer_stats(
    t_request_ns: int,
    prompt_tokens: int | None,
    token_times_ns: Sequence[int],
    t_end_ns: int,
    load_s: float | None = None,
) -> Stats:
    """Stats of one answer from its timestamps (see the README's definitions).

    TTFT runs from the request to the first generated token, so it holds the prompt
    pass; prompt tok/s is prompt tokens over TTFT; generation tok/s counts the tokens
    after the first over the time from the first to the last, so prompt processing
    does not dilute it.
    """
    n = len(token_times_ns)
    ttft_ns = token_times_ns[0] - t_request_ns if n else None
    gen_tok_s = None
    if n >= 2 and token_times_ns[-1] > token_times_ns[0]:
        gen_tok_s = (n - 1) * NS / (token_times_ns[-1] - token_times_ns[0])
    prompt_tok_s = None
    if ttft_ns and prompt_tokens:
        prompt_tok_s = prompt_tokens * NS / ttft_ns
    return Stats(
        load_s=load_s,
        prompt_tokens=prompt_tokens,
        ttft_ms=ttft_ns / 1e6 if ttft_ns is not None else None,
        prompt_tok_s=prompt_tok_s,
        gen_tokens=n,
        gen_tok_s=gen_tok_s,
        total_s=(t_end_ns - t_request_ns) / NS,
    )


def ratio_text(value: float) -> str:
    return f"{value:.1f}x" if value < 10 else f"{value:.0f}x"


REPEATED = ("ttft_ms", "prompt_tok_s", "gen_tok_s", "total_s", "peak_rss_mib")


def summarize_runs(runs: Sequence[Stats]) -> dict:
    """Mean, sample stddev and the samples of each timed figure over a side's repeats."""
    out: dict = {"n": len(runs)}
    for key in REPEATED:
        samples = [getattr(r, key) for r in runs if getattr(r, key) is not None]
        if samples:
            m, sd = mean_std(samples)
            out[key] = {"mean": m, "std": sd, "samples": samples}
    return out


def spread_text(key: str, summary: dict | None) -> str | None:
    """``70.2 ± 2.1 tok/s`` over the repeats, or None with fewer than two."""
    item = (summary or {}).get(key)
    if not item or len(item["samples"]) < 2:
        return None
    value = format_stat(key, item["mean"])
    number = value.split(" ")[0]
    std = format_stat(key, item["std"]).split(" ")[0]
    return value.replace(number, f"{number} ± {std}", 1)


def samples_note(repeats: Sequence[dict | None]) -> str:
    """What a duel's figures are: one sample each, or mean ± stddev over the runs (and
    which rows stay one sample, the last run's), given each side's ``repeats``."""
    n = max(((r or {}).get("n") or 1) for r in repeats) if repeats else 1
    if n < 2:
        return "one run each: every figure is one sample (--repeat N for mean ± stddev)"
    return f"± is the stddev over {n} runs; memory and the engine's figures are the last run's (one sample)"


@dataclass(frozen=True)
class SideRuns:
    """One side's finished runs of a prompt, and why it has no verdict if it has none."""

    name: str
    runs: Sequence[Stats] = ()
    problem: str | None = None  # "was cancelled", "failed": no verdict on it

    @property
    def host(self) -> HostLoad | None:
        """The busiest host any of its runs saw."""
        return worst(HostLoad.from_dict(r.host) for r in self.runs)


SAME_WITHIN = 1.05  # an interval inside 1/1.05 .. 1.05 is "the same speed"


def verdict(a: SideRuns, b: SideRuns) -> str:
    """One line on generation speed (and RAM) that knows its noise.

    A ratio is stated only when its 95 % interval (Welch's t on log tok/s) excludes 1:
    ``gemma3-270m: 1.75x slower than smollm2 (95% CI 1.55-1.98x, 3 runs each), 1.8x RAM``;
    an interval inside ±5 % is the same speed; a wider one says it cannot tell. One run
    a side has no interval and says so. A cancelled or failed side gets no verdict, and
    nor do two sides of which one ran on a busy host and the other on a quiet one."""
    if a.name == b.name:
        a, b = SideRuns(f"{a.name} (A)", a.runs, a.problem), SideRuns(f"{b.name} (B)", b.runs, b.problem)
    problems = [f"{s.name} {s.problem}" for s in (a, b) if s.problem]
    if problems:
        return "no verdict: " + "; ".join(problems)
    speeds = {s.name: [r.gen_tok_s for r in s.runs if r.gen_tok_s] for s in (a, b)}
    if not all(speeds.values()):
        return "no verdict: an answer had fewer than two tokens"
    hosts = a.host, b.host
    if differ(*hosts):
        busy, quiet = (a, b) if hosts[0].busy else (b, a)
        return f"no verdict: {busy.name} ran on a busy host ({busy.host.text()}), {quiet.name} on a quiet one"
    parts = [_speed_line(a, b, speeds)]
    ram = {s.name: max((r.peak_rss_mib or 0) for r in s.runs) for s in (a, b)}
    if ram[a.name] and ram[b.name]:
        heavy, light = (a, b) if ram[a.name] >= ram[b.name] else (b, a)
        more = ram[heavy.name] / ram[light.name]
        parts.append(f"{heavy.name} {ratio_text(more)} RAM" if more >= SAME_WITHIN else "RAM within 5%")
    busy = worst(hosts)
    if busy is not None and busy.busy:
        parts.append(busy.text())
    return ", ".join(parts)


def verdict_of(sides: Sequence[SideRuns]) -> str:
    """The verdict of a duel of 2 to 4: two sides as ``verdict``; more, each side against
    the fastest (by mean tok/s), a clause each: ``B fastest; smollm2 (A): 1.6x slower than
    B (95% CI …)``. A side that failed or was cancelled is named and left out."""
    if len(sides) == 2:
        return verdict(*sides)
    names = [s.name for s in sides]
    sides = [SideRuns(f"{s.name} ({chr(65 + i)})", s.runs, s.problem) if names.count(s.name) > 1 else s
             for i, s in enumerate(sides)]  # fmt: skip
    ok = [s for s in sides if not s.problem and any(r.gen_tok_s for r in s.runs)]
    dropped = [f"{s.name} {s.problem or 'gave fewer than two tokens'}" for s in sides if s not in ok]
    if len(ok) < 2:
        return "no verdict: " + "; ".join(dropped)
    fastest = max(ok, key=lambda s: mean_std([r.gen_tok_s for r in s.runs if r.gen_tok_s])[0] or 0)
    parts = [f"fastest {fastest.name}"] + [verdict(fastest, s) for s in ok if s is not fastest]
    if dropped:
        parts.append("no verdict: " + "; ".join(dropped))
    return " · ".join(parts)


def _speed_line(a: SideRuns, b: SideRuns, speeds: dict) -> str:
    ci = ratio_ci(speeds[a.name], speeds[b.name])
    if ci is None:
        means = " vs ".join(f"{s.name} {mean_std(speeds[s.name])[0]:.1f}" for s in (a, b))
        return f"one run each, no interval: {means} tok/s (--repeat 3 or more for a verdict)"
    if ci.excludes_one:
        slow, fast, ci = (b, a, ci) if ci.ratio > 1 else (a, b, ci.inverse())
        return f"{slow.name}: {ci.ratio:.2f}x slower than {fast.name} ({ci.interval_text()}, {ci.runs_text()})"
    if ci.low >= 1 / SAME_WITHIN and ci.high <= SAME_WITHIN:
        return f"{a.name} and {b.name}: same speed within 5% ({ci.interval_text()}, {ci.runs_text()})"
    means = " vs ".join(f"{s.name} {mean_std(speeds[s.name])[0]:.1f}" for s in (a, b))
    return (
        f"cannot tell which is faster: {means} tok/s (A/B {ci.interval_text()}, {ci.runs_text()}; more runs narrow it)"
    )


# The stats table, shared by the CLI and the TUI: (key, label, format).
STAT_ROWS: tuple[tuple[str, str, str], ...] = (
    ("load_s", "load", "{:.2f} s"),
    ("prompt_tokens", "prompt tokens", "{:d}"),
    ("ttfr_ms", "first response", "{:.0f} ms"),
    ("ttft_ms", "TTFT", "{:.0f} ms"),
    ("prompt_tok_s", "prompt speed", "{:.0f} tok/s"),
    ("gen_tokens", "generated", "{:d} tok"),
    ("gen_tok_s", "gen speed", "{:.1f} tok/s"),
    ("total_s", "total", "{:.2f} s"),
    ("peak_rss_mib", "peak RAM", "{:.0f} MiB"),
    ("placement", "placement", "{}"),
    ("peak_gpu_mib", "peak VRAM", "{:.0f} MiB"),
    ("vram_source", "VRAM from", "{}"),
    ("cuda_max_alloc_mib", "CUDA alloc", "{:.0f} MiB"),
    ("mean_cpu_percent", "mean CPU", "{:.0f}%"),
    ("threads", "threads", "{}"),
    ("host", "host", "{}"),  # others' CPU use while it ran (util.cpus.HostLoad)
)


def format_stat(key: str, value) -> str:
    if value is None:
        return "—"
    if key == "host":
        load = HostLoad.from_dict(value)
        return load.short() if load else "—"
    for k, _, fmt in STAT_ROWS:
        if k == key:
            return fmt.format(value)
    return str(value)


OPTIONAL_ROWS = (
    "ttfr_ms",
    "placement",
    "peak_gpu_mib",
    "vram_source",
    "cuda_max_alloc_mib",
)  # shown only when some contestant has them


def server_text(server: dict | None) -> str | None:
    """What a remote server reported of the tokens it counted (its timings go to ``engine_text``)."""
    if not server:
        return None
    usage = server.get("usage") or {}
    if usage.get("completion_tokens") is None:
        return None
    return f"{usage.get('prompt_tokens', '?')} prompt + {usage['completion_tokens']} generated tok"


def engine_from_server(server: dict | None) -> dict | None:
    """A server's own timings in ``Stats.engine``'s shape: llama-server's ``timings`` (with
    its prompt cache hits, ``cache_n``, and speculative decoding's ``draft_n`` and
    ``draft_n_accepted`` where it sends them), or Ollama's ``eval_count``/``eval_duration``
    (ns); None when it reported none. Timings that cannot be true (negative, more prompt
    tokens evaluated than the prompt had, more drafts accepted than drafted) are kept
    out, and ``absurd`` says why."""
    server = server or {}
    t = server.get("timings") or {}
    if t.get("predicted_ms") and t.get("predicted_n") is not None:
        engine = {
            "source": "llama-server",
            "prompt_ms": t.get("prompt_ms"),
            "prompt_n": t.get("prompt_n"),
            "gen_ms": t["predicted_ms"],
            "gen_n": t["predicted_n"],
            **{k: t[k] for k in ("cache_n", "draft_n", "draft_n_accepted") if t.get(k) is not None},
        }
        why = _absurd(engine, (server.get("usage") or {}).get("prompt_tokens"))
        return {"source": "llama-server", "absurd": why} if why else engine
    o = server.get("ollama") or {}
    if o.get("eval_duration") and o.get("eval_count") is not None:
        return {
            "source": "Ollama",
            "prompt_ms": (o.get("prompt_eval_duration") or 0) / 1e6 or None,
            "prompt_n": o.get("prompt_eval_count"),
            "gen_ms": o["eval_duration"] / 1e6,
            "gen_n": o["eval_count"],
        }
    return None


def _absurd(engine: dict, prompt_tokens) -> str | None:
    """Why a server's timings cannot be true, or None."""
    negative = [k for k, v in engine.items() if isinstance(v, (int, float)) and v < 0]
    if negative:
        return f"{negative[0]} {engine[negative[0]]} is negative"
    if isinstance(prompt_tokens, (int, float)) and (engine.get("prompt_n") or 0) > prompt_tokens:
        return f"prompt_n {engine['prompt_n']} is more than the prompt's {prompt_tokens:.0f} tokens"
    if (engine.get("draft_n_accepted") or 0) > (engine.get("draft_n") or 0):
        return f"draft_n_accepted {engine['draft_n_accepted']} is more than draft_n {engine.get('draft_n') or 0}"
    return None


ENGINE_GAP = 0.10  # engine and wall clock further apart than this get flagged


def engine_rates(engine: dict | None) -> tuple[float | None, float | None]:
    """(prompt tok/s, generation tok/s) as the engine timed them itself."""
    if not engine:
        return None, None
    prompt = (
        engine["prompt_n"] * 1000 / engine["prompt_ms"] if engine.get("prompt_ms") and engine.get("prompt_n") else None
    )
    gen = engine["gen_n"] * 1000 / engine["gen_ms"] if engine.get("gen_ms") and engine.get("gen_n") else None
    return prompt, gen


def engine_gap(engine: dict | None, gen_tok_s: float | None) -> float | None:
    """How much slower llmbench measured generation than the engine timed it (0.12: 12 %)."""
    _, gen = engine_rates(engine)
    if not gen or not gen_tok_s:
        return None
    return 1 - gen_tok_s / gen


def engine_text(engine: dict | None, gen_tok_s: float | None, remote: bool = False) -> str:
    """The engine's own figures beside llmbench's wall clock (``gen_tok_s``), flagged past
    10 %: ``gen 95.2 · prompt 812 tok/s (llama.cpp)``."""
    if not engine:
        return "server timings: none" if remote else "none"
    if engine.get("absurd"):
        return f"server timings left out: {engine['absurd']} ({engine['source']})"
    prompt, gen = engine_rates(engine)
    parts = ([f"gen {gen:.1f}"] if gen else []) + ([f"prompt {prompt:.0f}"] if prompt else [])
    text = " · ".join(parts) + " tok/s" if parts else "no tokens timed"
    if engine.get("cache_n") is not None:
        text += f" · {engine['cache_n']:.0f} prompt tok from its cache"
    if engine.get("draft_n"):
        text += (f" · draft {engine.get('draft_n_accepted') or 0:.0f}/{engine['draft_n']:.0f} accepted "
                 f"({(engine.get('draft_n_accepted') or 0) / engine['draft_n']:.0%})")  # fmt: skip
    gap = engine_gap(engine, gen_tok_s)
    if gap is not None and abs(gap) > ENGINE_GAP:
        where = "network, streaming" if remote else "sampling, Python, pipe"
        text += f" ⚠ measured {abs(gap):.0%} {'slower' if gap > 0 else 'faster'}: time outside decode ({where})"
    return f"{text} ({engine['source']})"
