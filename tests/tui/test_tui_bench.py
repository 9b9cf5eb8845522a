"""The Bench tab, driven with Pilot at 80x24: the table fills as tests finish, the chart
shows t/s against depth, Esc stops the run and keeps what finished."""

import re

import pytest
from textual.widgets import DataTable, Input, Static

from llmbench.tui.app.app import LlmbenchApp
from llmbench.tui.app.tabs.bench import BenchView
from llmbench.tui.render.charts import depth_chart, depth_series
from tests.helpers import wait_for

pytestmark = pytest.mark.slow  # the TUI and model workers


def _fill(app, **values) -> None:
    for name, value in values.items():
        app.query_one(f"#bench-{name}", Input).value = value
    app.query_one("#bench-models", Input).focus()


def _status(app) -> str:
    return str(app.query_one("#bench-status", Static).render())


def _runs_done(app) -> int:
    """The N of the status's ``[N/total]``: progress reports may be coalesced while the UI
    is busy, so a test waits for at least N, never for one exact N to be shown."""
    found = re.search(r"\[(\d+)/", _status(app))
    return int(found.group(1)) if found else 0


async def test_the_bench_tab_fills_its_table_and_its_depth_chart(registered):
    app = LlmbenchApp()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f6")
        view = app.query_one(BenchView)
        assert app.focused is app.query_one("#bench-models", Input)
        _fill(app, depth="0,x")
        await pilot.press("enter")
        assert "depth: '0,x' is not comma-separated whole numbers" in str(app.query_one("#bench-error").render())
        _fill(app, models="smollm2", p="16", n="8", depth="0,64", reps="2")
        await pilot.press("enter")
        table = app.query_one("#bench-table", DataTable)
        await wait_for(pilot, lambda: table.row_count == 4 and "done in" in _status(app), timeout=300)
        tests = [table.get_row_at(i)[1] for i in range(4)]
        assert tests == ["pp16", "tg8", "pp16 @ d64", "tg8 @ d64"]
        assert all("±" in table.get_row_at(i)[2] for i in range(4)), "t/s as avg ± stddev of 2 repetitions"
        assert not view.running


async def test_esc_stops_the_bench_and_keeps_the_finished_rows(registered):
    app = LlmbenchApp()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f6")
        view = app.query_one(BenchView)
        _fill(app, models="smollm2", p="16", n="8", depth="0", reps="50")
        await pilot.press("enter")
        await wait_for(pilot, lambda: _runs_done(app) >= 6, timeout=120)  # warmup, then 2 reps of pp and tg
        await pilot.press("escape")
        await wait_for(pilot, lambda: "done in" in _status(app), timeout=60)
        assert "stopped early" in _status(app) and not view.running
        assert "of 50 repetitions" not in _status(app), "the repetitions that ran, not the ones asked for"
        assert re.search(r"avg ± stddev of \d+(-\d+)? repetitions", _status(app)), _status(app)
        table = app.query_one("#bench-table", DataTable)
        assert table.row_count == 2 and all("±" in table.get_row_at(i)[2] for i in range(2))


def test_one_repetition_says_so_and_one_depth_has_no_negative_axis():
    from llmbench.engine.experiments.bench.report import reps_text, table_rows

    row = {"model": "m", "model_size": None, "model_n_params": None, "backend": "llama.cpp", "n_threads": 2,
           "test": "pp16", "n_prompt": 16, "n_gen": 0, "n_depth": 0, "avg_ts": 100.0, "stddev_ts": 0.0,
           "samples_ts": [100.0], "ttft_ms": 160.0, "ttft_ms_std": 0.0, "load_s": 0.1, "peak_rss_mib": None,
           "error": None}  # fmt: skip
    cells = table_rows({"rows": [row]})[0]
    assert cells[6] == "100.00 (1 sample)" and cells[7] == "160 ms (1 sample)", "no '± 0' from one sample"
    assert reps_text([row]) == "t/s of 1 repetition (one sample: no stddev)"
    assert reps_text([row, {**row, "samples_ts": [1.0, 2.0, 3.0]}]) == "t/s avg ± stddev of 1-3 repetitions"
    chart = depth_chart([row], 60, 12)
    assert "-1" not in chart and "-0." not in chart, chart


def test_the_depth_chart_has_a_line_per_model_and_kind_with_min_and_max():
    rows = [
        {"model": "m", "n_prompt": 16, "n_gen": 0, "n_depth": d, "avg_ts": v, "samples_ts": [v - 1, v + 1]}
        for d, v in ((0, 100.0), (512, 80.0))
    ] + [{"model": "m", "n_prompt": 0, "n_gen": 8, "n_depth": 0, "avg_ts": 50.0, "samples_ts": [49.0, 51.0]}]
    assert depth_series(rows) == {"m pp": [(0, 100.0, 99.0, 101.0), (512, 80.0, 79.0, 81.0)],
                                  "m tg": [(0, 50.0, 49.0, 51.0)]}  # fmt: skip
