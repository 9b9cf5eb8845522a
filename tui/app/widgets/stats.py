"""A compact stats table for a half-width pane: two label/value pairs per row."""

from __future__ import annotations

from rich.table import Table
from textual.widgets import Static

from llmbench.engine.runtime.events import Stats
from llmbench.engine.runtime.metrics import format_stat, spread_text
from llmbench.engine.util.cpus import HostLoad

# (label, stat key) pairs, two per row; "" labels continue the pair before them
_LAYOUT = (
    (("load", "load_s"), ("TTFT", "ttft_ms")),
    (("prompt", "prompt_tokens"), ("", "prompt_tok_s")),
    (("gen", "gen_tokens"), ("", "gen_tok_s")),
    (("total", "total_s"), ("RAM", "peak_rss_mib")),
)


def _value(key: str, values: dict, repeats: dict | None) -> str:
    """A figure: mean ± stddev over the repeats where there are some, else this answer's."""
    return spread_text(key, repeats) or format_stat(key, values.get(key))


def stats_table(
    stats: Stats | None, mode: str | None = None, threads: int | None = None, repeats: dict | None = None
) -> Table:
    table = Table.grid(padding=(0, 1), expand=True)
    table.add_column(style="dim", no_wrap=True, min_width=6)
    table.add_column(style="bold", no_wrap=True, ratio=1)
    table.add_column(style="dim", no_wrap=True, min_width=4)
    table.add_column(style="bold", no_wrap=True, ratio=1)
    values = stats.to_dict() if stats else {}
    for (l1, k1), (l2, k2) in _LAYOUT:
        v1 = _value(k1, values, repeats)
        if k1 in ("prompt_tokens", "gen_tokens") and values.get(k1) is not None:
            v1 = f"{values[k1]} tok"
        table.add_row(l1, v1, l2, _value(k2, values, repeats))
    threads = values.get("threads") or threads  # what the answer ran with (auto may change it)
    threads = f"{threads}{_busy(values)}" if threads else "—"
    extra = [("mode", mode or "—"), ("thr", threads)]
    mem = values.get("memory") or {}
    if "file" in mem and "anon" in mem:  # after an answer: the RSS split (MiB, file + anon) and the estimate's error
        est = f"{mem['estimate_error']:+.0%}" if "estimate_error" in mem else "—"
        extra = [("mem", f"{mem['file']:.0f}f+{mem['anon']:.0f}a"), ("est", f"{est} · thr {threads}")]
    if values.get("placement"):  # where the engine put the layers, by its own report
        extra[0] = ("on", values["placement"])
    if values.get("peak_gpu_mib"):
        source = f" · {values['vram_source'].split()[0]}" if values.get("vram_source") else ""
        extra[1] = ("VRAM", format_stat("peak_gpu_mib", values["peak_gpu_mib"]) + source)
    table.add_row(extra[0][0], extra[0][1], extra[1][0], extra[1][1])
    return table


def compact_table(stats: Stats | None, repeats: dict | None = None) -> Table:
    """The main stats in two lines, for a small terminal: speed first, then cost."""
    table = Table.grid(expand=True)
    table.add_column(no_wrap=True, overflow="ellipsis")
    if stats is None:
        table.add_row("[dim]stats when done · Ctrl+S: all[/dim]")
        return table
    v = stats.to_dict()
    f = lambda key: _value(key, v, repeats)  # noqa: E731
    table.add_row(f"[dim]gen[/dim] {f('gen_tok_s')} [dim]· TTFT[/dim] {f('ttft_ms')}")
    table.add_row(
        f"[dim]RAM[/dim] {f('peak_rss_mib')} [dim]· load[/dim] {f('load_s')} [dim]·[/dim] {v.get('gen_tokens') or 0} tok"
        + _busy(v)
    )
    return table


def _busy(values: dict) -> str:
    """`` · host busy`` when others kept the CPUs busy while it ran (the verdict says how busy)."""
    host = HostLoad.from_dict(values.get("host"))
    return " · host busy" if host is not None and host.busy else ""


class StatsView(Static):
    """A pane's stats: five rows, or two when ``compact`` (Ctrl+S in the Duel switches)."""

    DEFAULT_CSS = """
    StatsView { height: 5; padding: 0 1; }
    StatsView.-compact { height: 2; }
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._shown: tuple = (None, None, None, None)

    @property
    def compact(self) -> bool:
        return self.has_class("-compact")

    def set_compact(self, compact: bool) -> None:
        if compact != self.compact:
            self.set_class(compact, "-compact")
            self.show(*self._shown)

    def show(
        self, stats: Stats | None, mode: str | None = None, threads: int | None = None, repeats: dict | None = None
    ) -> None:
        """One answer's stats, or with ``repeats`` (``summarize_runs``) mean ± stddev over them."""
        self._shown = (stats, mode, threads, repeats)
        table = compact_table(stats, repeats) if self.compact else stats_table(stats, mode, threads, repeats)
        self.update(table, layout=False)  # fixed size: no relayout
