"""Charts drawn with plotext: as text for the CLI, or on a ``PlotextPlot`` in the TUI."""

from __future__ import annotations


def size_kld_chart(rows: list[dict], width: int, height: int, plt=None) -> str | None:
    """Peak RAM against Mean KLD (log scale), the front marked; drawn on ``plt`` (a
    PlotextPlot's: then "") or built as text. None when fewer than two variants have a KLD."""
    from llmbench.engine.experiments.quant_fidelity import pareto

    points = pareto(rows)
    if len(points) < 2:
        return None
    own = plt is None
    if own:
        import plotext as plt

        plt.clear_figure()
        plt.plotsize(width, height)
        plt.theme("clear")
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
