"""The pieces every subsystem shares: the one parameter schema (and the CLI built from
it), the bridge to the UI, and the small utilities (atomic writes, digests, sizes,
Markdown tables, means and percentiles, the precision table)."""

import argparse
import hashlib
import os

import pytest

from llmbench.engine.errors import ParamError
from llmbench.engine.models.quant_methods import MATRIX_DEFAULT, PRECISIONS, QUANTS
from llmbench.engine.runtime.events import Channel, Done, Resources, Stats, Token
from llmbench.engine.runtime.params import GenParams, parse_param, schema
from llmbench.engine.sessions import KINDS
from llmbench.engine.util.files import atomic_write_text, file_sha256
from llmbench.engine.util.fmt import size_text
from llmbench.engine.util.markdown import table
from llmbench.engine.util.stats import mean, median, percentile
from llmbench.tui.cli import build_parser
from llmbench.tui.cli.params import add_param_arguments, params_from_args

# ---------------------------------------------------------------- the parameter schema


def test_every_parameter_is_described_once():
    names = [name for name, _ in schema()]
    assert names == [f for f in GenParams.__dataclass_fields__]
    for name, param in schema():
        assert param.help and param.kind in (int, float, bool), name


def test_people_type_words_and_auto():
    assert parse_param("threads", "auto") is None and parse_param("threads", "") is None
    assert parse_param("threads", "3") == 3
    assert parse_param("n_gpu_layers", "all") == -1 and parse_param("n_gpu_layers", "none") == 0
    assert parse_param("temperature", "0.5") == 0.5
    with pytest.raises(ParamError, match=r"threads: 'x' is not auto or a whole number"):
        parse_param("threads", "x")
    with pytest.raises(ParamError, match=r"n_gpu_layers: 'most' is not all, none or a whole number"):
        parse_param("n_gpu_layers", "most")


def test_the_cli_options_come_from_the_schema():
    parser = argparse.ArgumentParser()
    add_param_arguments(parser, max_tokens=48)
    flags = {a.dest: a for a in parser._actions if a.dest != "help"}
    assert set(flags) == {name for name, _ in schema()}
    assert flags["max_tokens"].default == 48 and "tokens to generate" in flags["max_tokens"].help
    args = parser.parse_args(["--threads", "auto", "--gpu-layers", "all", "--ignore-eos", "--top-p", "0.5"])
    params = params_from_args(args)
    assert (params.threads, params.n_gpu_layers, params.ignore_eos, params.top_p, params.max_tokens) == (
        None,
        -1,
        True,
        0.5,
        48,
    )
    with pytest.raises(SystemExit):
        parser.parse_args(["--top-p", "1.5"])  # the schema's range, checked by argparse


def test_a_rerun_keeps_the_recorded_parameters_unless_given():
    parser = argparse.ArgumentParser()
    add_param_arguments(parser, keep_originals=True)
    recorded = GenParams(max_tokens=99, temperature=0.0, seed=3)
    assert params_from_args(parser.parse_args([]), recorded) == recorded
    assert params_from_args(parser.parse_args(["--seed", "5"]), recorded) == recorded.replace(seed=5)


def test_cli_choices_come_from_the_engine():
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    listing = next(a for a in sub.choices["sessions"]._actions if isinstance(a, argparse._SubParsersAction))
    kind = next(a for a in listing.choices["list"]._actions if a.dest == "kind")
    assert tuple(kind.choices) == KINDS and "quant-matrix" in KINDS


# ---------------------------------------------------------------- the bridge


def test_the_bridge_batches_tokens_and_keeps_order(monkeypatch):
    from llmbench.tui.app import bridge as bridge_module
    from llmbench.tui.app.bridge import Bridge
    from llmbench.tui.app.messages import EngineEvent, TokenBatch

    now = [0.0]
    monkeypatch.setattr(bridge_module.time, "monotonic", lambda: now[0])
    posted = []
    b = Bridge(posted.append, batch_s=0.05)
    for i in range(100):  # 100 tokens in 0.1 s: two or three batches, not 100 messages
        now[0] = i * 0.001
        b.feed(Channel.A, Token(f"t{i} ", i))
        if i % 10 == 0:  # RAM samples between them go at once and do not cut a batch short
            b.feed(Channel.A, Resources(1, 1.0))
    b.feed(Channel.A, Done("", Stats(), "stop", 200))
    batches = [m for m in posted if isinstance(m, TokenBatch)]
    assert len(batches) <= 3 and sum(m.count for m in batches) == 100
    assert sum(isinstance(m, EngineEvent) and isinstance(m.event, Resources) for m in posted) == 10
    assert "".join(m.text for m in batches) == "".join(f"t{i} " for i in range(100))
    assert isinstance(posted[-1], EngineEvent) and isinstance(posted[-1].event, Done), "tokens come first"


@pytest.mark.parametrize(
    ("gap_s", "sizes"),
    [
        (0.01, {25}),  # 100 tok/s: a batch every 0.25 s
        (0.025, {16}),  # 40 tok/s: 0.25 s brings 10 tokens, so the batch waits for 16 (0.4 s)
        (0.1, {5}),  # 10 tok/s: 16 tokens would take 1.6 s, so a batch every 0.5 s with what came
    ],
)
def test_the_bridge_draws_per_tokens_as_a_model_slows(monkeypatch, gap_s, sizes):
    """A model slows down as its context fills: the UI draws as often per token, not per
    second, so what it costs per token stays flat, and it waits at most 0.5 s."""
    from llmbench.tui.app import bridge as bridge_module
    from llmbench.tui.app.bridge import Bridge
    from llmbench.tui.app.messages import TokenBatch

    now = [0.0]
    monkeypatch.setattr(bridge_module.time, "monotonic", lambda: now[0])
    posted = []
    b = Bridge(posted.append)
    for i in range(1, 201):
        now[0] = round(i * gap_s, 6)
        b.feed(Channel.A, Token("x", i))
    counts = [m.count for m in posted if isinstance(m, TokenBatch)]
    assert set(counts[:-1]) == sizes and sum(counts) <= 200
    from llmbench.tui.app.messages import EngineEvent

    older, newer = EngineEvent(Channel.A, Resources(1, 1.0)), EngineEvent(Channel.A, Resources(2, 2.0))
    assert older.can_replace(newer)
    assert not older.can_replace(EngineEvent(Channel.B, Resources(2, 2.0))), "another side's sample stays"
    assert not EngineEvent(Channel.A, Token("x", 1)).can_replace(EngineEvent(Channel.A, Token("y", 2)))


# ---------------------------------------------------------------- utilities


def test_markdown_tables_escape_pipes_and_line_breaks():
    lines = table(["model", "answer"], [["a|b", "one\ntwo"]], "lr")
    assert lines == ["| model | answer |", "|---|---:|", "| a\\|b | one two |"]


def test_atomic_writes_leave_the_old_file_when_they_fail(tmp_path, monkeypatch):
    folder = tmp_path / "settings"
    target = folder / "config.json"
    atomic_write_text(target, "old")

    def full_disk(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full_disk)
    with pytest.raises(OSError, match="No space left"):
        atomic_write_text(target, "new")
    assert target.read_text() == "old" and [p.name for p in folder.iterdir()] == ["config.json"]


@pytest.mark.parametrize("damaged", [b'{"api_key": "sk-x", "theme": ', b"[1, 2]", b"\xff\xfe"])
def test_a_damaged_config_is_kept_aside_not_overwritten(home, damaged):
    """Saving a setting over a config.json that cannot be parsed used to drop every other
    setting in it (an API key among them): it is now copied aside first, and named."""
    from llmbench.engine import paths
    from llmbench.engine.config import load_config, read_config, save_config

    path = paths.ensure(paths.config_path().parent) / paths.config_path().name
    path.write_bytes(damaged)
    settings, problem = read_config()
    assert settings == {} and str(path) in problem and "defaults are used" in problem
    save_config(theme="llmbench-light")
    [kept] = path.parent.glob("config.json.damaged-*")
    assert kept.read_bytes() == damaged and load_config() == {"theme": "llmbench-light"}
    save_config(duel_a="smollm2")  # a sound file: merged, nothing more kept aside
    assert load_config() == {"theme": "llmbench-light", "duel_a": "smollm2"}
    assert len(list(path.parent.glob("config.json.damaged-*"))) == 1


def test_file_digest_with_progress(tmp_path):
    data = os.urandom(3 << 20)
    path = tmp_path / "blob"
    path.write_bytes(data)
    seen = []
    assert (
        file_sha256(path, lambda stage, done, total: seen.append((stage, done, total)))
        == hashlib.sha256(data).hexdigest()
    )
    assert seen[-1] == ("verify", len(data), len(data))


def test_sizes_means_and_percentiles():
    assert size_text(235 * 2**20) == "235 MiB" and size_text(12 * 2**30) == "12.0 GiB" and size_text(None) == "—"
    assert mean([1, None, 3, True]) == 2 and mean([]) is None
    assert median([5, 1, 3]) == 3 and percentile([1, 2, 3, 4, 5], 0.95) == 5 and percentile([None], 0.5) is None


def test_one_table_of_precisions():
    assert MATRIX_DEFAULT == ("fp32", "bf16", "bnb8", "bnb4", "quanto-int8", "torchao-int8")
    assert set(QUANTS) == {"none"} | {p.name for p in PRECISIONS.values() if p.is_quant}
    assert PRECISIONS["bnb4"].memory_format == "bnb nf4" and PRECISIONS["quanto-int8"].library == "optimum.quanto"
