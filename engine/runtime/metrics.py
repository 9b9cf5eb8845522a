"""Pure functions over event timestamps: the stats of an answer and the duel verdict."""

from __future__ import annotations

from collections.abc import Sequence

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


def verdict(name_a: str, a: Stats | None, name_b: str, b: Stats | None) -> str:
    """One line: which model was faster (generation tok/s) and by how much, and RAM.

    e.g. ``gemma3-270m: 2.1x slower, 2.0x RAM``, said of the slower model.
    """
    if a is None or b is None:
        return ""
    if not a.gen_tok_s or not b.gen_tok_s:
        return "no verdict: an answer had fewer than two tokens"
    if name_a == name_b:
        name_a, name_b = f"{name_a} (A)", f"{name_b} (B)"
    fast, slow = (a, b) if a.gen_tok_s >= b.gen_tok_s else (b, a)
    slow_name = name_b if slow is b else name_a
    fast_name = name_a if slow is b else name_b
    speed = fast.gen_tok_s / slow.gen_tok_s
    parts = [f"{slow_name}: {ratio_text(speed)} slower than {fast_name}"]
    if speed < 1.05:
        parts = [f"{name_a} and {name_b}: same speed (within 5%)"]
    if slow.peak_rss_mib and fast.peak_rss_mib:
        parts.append(f"{ratio_text(slow.peak_rss_mib / fast.peak_rss_mib)} RAM")
    return ", ".join(parts)


# The stats table, shared by the CLI and the TUI: (key, label, format).
STAT_ROWS: tuple[tuple[str, str, str], ...] = (
    ("load_s", "load", "{:.2f} s"),
    ("prompt_tokens", "prompt tokens", "{:d}"),
    ("ttft_ms", "TTFT", "{:.0f} ms"),
    ("prompt_tok_s", "prompt speed", "{:.0f} tok/s"),
    ("gen_tokens", "generated", "{:d} tok"),
    ("gen_tok_s", "gen speed", "{:.1f} tok/s"),
    ("total_s", "total", "{:.2f} s"),
    ("peak_rss_mib", "peak RAM", "{:.0f} MiB"),
    ("peak_gpu_mib", "peak VRAM", "{:.0f} MiB"),
    ("cuda_max_alloc_mib", "CUDA alloc", "{:.0f} MiB"),
    ("mean_cpu_percent", "mean CPU", "{:.0f}%"),
)


def format_stat(key: str, value) -> str:
    if value is None:
        return "—"
    for k, _, fmt in STAT_ROWS:
        if k == key:
            return fmt.format(value)
    return str(value)


OPTIONAL_ROWS = ("peak_gpu_mib", "cuda_max_alloc_mib")  # shown only when some contestant has them


def server_text(server: dict | None) -> str | None:
    """What a remote server reported itself: its token counts and (llama-server) its own speeds."""
    if not server:
        return None
    parts = []
    usage = server.get("usage") or {}
    if usage.get("completion_tokens") is not None:
        parts.append(f"{usage.get('prompt_tokens', '?')} prompt + {usage['completion_tokens']} generated tok")
    timings = server.get("timings") or {}
    if timings.get("predicted_per_second"):
        parts.append(f"gen {timings['predicted_per_second']:.1f} tok/s")
    if timings.get("prompt_per_second"):
        parts.append(f"prompt {timings['prompt_per_second']:.0f} tok/s")
    return " · ".join(parts) or None
