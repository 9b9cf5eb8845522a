"""Charts drawn with plotext: as text for the CLI, or on a ``PlotextPlot`` in the TUI."""

from __future__ import annotations

import itertools

COLORS = ("cyan+", "orange+", "green+", "magenta+", "blue+", "red+")


def _canvas(width: int, height: int):
    """plotext itself, cleared and sized, for a chart built as text."""
    import plotext as plt

    plt.clear_figure()
    plt.plotsize(width, height)
    plt.theme("clear")
    return plt


def size_kld_chart(rows: list[dict], width: int, height: int, plt=None) -> str | None:
    """Peak RAM against Mean KLD (log scale), the front marked; drawn on ``plt`` (a
    PlotextPlot's: then "") or built as text. None when fewer than two variants have a KLD."""
    from llmbench.engine.experiments.quant.fidelity import pareto

    points = pareto(rows)
    if len(points) < 2:
        return None
    own = plt is None
    plt = plt or _canvas(width, height)
    for front, marker in ((True, "●"), (False, "○")):
        chosen = [p for p in points if p["front"] == front]
        if chosen:
            plt.scatter([p["ram_mib"] for p in chosen], [max(p["kld"], 1e-6) for p in chosen], marker=marker)
    shift = (points[-1]["ram_mib"] - points[0]["ram_mib"]) / 60  # the label just right of its point
    for p in points:
        plt.text(p["variant"].removeprefix("gguf "), p["ram_mib"] + shift, max(p["kld"], 1e-6), alignment="left")
    plt.yscale("log")
    plt.title("peak RAM (MiB) against Mean KLD (log); ● on the front, ○ dominated")
    plt.xlabel("peak RAM (MiB)")
    return plt.build() if own else ""


def depth_series(rows: list[dict]) -> dict[str, list[tuple[int, float, float, float]]]:
    """Per model and kind of test (pp, tg): (depth, mean, min, max) t/s, by depth."""
    series: dict[str, list] = {}
    for r in rows:
        if not r.get("samples_ts"):
            continue
        kind = "pp" if r["n_prompt"] and not r["n_gen"] else "tg" if r["n_gen"] and not r["n_prompt"] else "pg"
        key = f"{r['model']} {kind}"
        series.setdefault(key, []).append((r["n_depth"], r["avg_ts"], min(r["samples_ts"]), max(r["samples_ts"])))
    return {k: sorted(v) for k, v in series.items()}


def depth_chart(rows: list[dict], width: int, height: int, plt=None) -> str | None:
    """t/s against context depth, one line per model and test kind, each point with its
    min-max bar over the repetitions; drawn on ``plt`` (a PlotextPlot's: then "") or
    built as text. None before any test has a sample."""
    series = depth_series(rows)
    if not series:
        return None
    own = plt is None
    plt = plt or _canvas(width, height)
    for (label, points), color in zip(series.items(), itertools.cycle(COLORS)):
        depths = [p[0] for p in points]
        plt.plot(depths, [p[1] for p in points], marker="braille", color=color, label=label)
        plt.scatter(depths, [p[1] for p in points], marker="●", color=color)
        for d, _, lo, hi in points:  # the spread: min to max of the repetitions
            plt.plot([d, d], [lo, hi], marker="│", color=color)
    depths = sorted({p[0] for points in series.values() for p in points})
    plt.xticks(depths, [f"{d:,}" for d in depths])  # the depths run, never a negative one
    plt.xlim(min(depths), max(depths) if len(depths) > 1 else min(depths) + 1)
    plt.title("t/s against context depth (● mean, │ min to max of the repetitions)")
    plt.xlabel("depth (tokens in the KV cache)")
    return plt.build() if own else ""
