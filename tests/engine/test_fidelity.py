"""Quality from logits: the scoring math against direct formulas, the saved reference,
and real runs on SmolLM2 and a quantization ladder made from it by llama.cpp."""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest

from llmbench.engine.errors import FidelityError, ModelFileError, QuantizeError, QuestionsError
from llmbench.engine.experiments.fidelity.multiple_choice import flips, load_mc
from llmbench.engine.experiments.fidelity.ref import RefFile
from llmbench.engine.experiments.fidelity.run import Fidelity, Tally, Text, read_text
from llmbench.engine.experiments.fidelity.tokens import token_view
from llmbench.engine.jobs import Finished
from llmbench.engine.models.quantize import quantize_gguf
from llmbench.engine.runtime import scoring
from llmbench.engine.sessions.digest import load_all
from llmbench.tui.cli import main

# ---------------------------------------------------------------- the math, on made-up logits


def _log_softmax(x: np.ndarray) -> np.ndarray:
    x = x.astype(np.float64)
    m = x.max(axis=1, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=1, keepdims=True))


def _logits(seed: int, rows: int = 40, vocab: int = 3000, scale: float = 4.0) -> np.ndarray:
    return (np.random.default_rng(seed).standard_normal((rows, vocab)) * scale).astype(np.float32)


def test_kld_nll_and_same_top_match_the_direct_formulas():
    x, y = _logits(1), _logits(1) + _logits(2, scale=0.5)
    targets = np.random.default_rng(3).integers(0, x.shape[1], size=x.shape[0])
    ref = scoring.reference_rows(x, targets)
    rows = scoring.compare_full(y, targets, ref, x, threads=2)
    lp, lq = _log_softmax(x), _log_softmax(y)
    kld = (np.exp(lp) * (lp - lq)).sum(axis=1)
    idx = np.arange(len(targets))
    np.testing.assert_allclose(rows.kld, kld, rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(rows.nll, -lq[idx, targets], rtol=1e-6)
    np.testing.assert_allclose(rows.nll_base, -lp[idx, targets], rtol=1e-6)
    np.testing.assert_allclose(rows.p_diff, np.exp(lq[idx, targets]) - np.exp(lp[idx, targets]), atol=1e-9)
    assert (rows.same_top == (x.argmax(1) == y.argmax(1))).all() and 0 < rows.same_top.sum() < len(targets)


def test_the_same_logits_give_exactly_zero():
    x = _logits(4)
    targets = np.zeros(x.shape[0], dtype=np.int64)
    rows = scoring.compare_full(x, targets, scoring.reference_rows(x, targets), x)
    assert (rows.kld == 0).all() and rows.same_top.all() and (rows.p_diff == 0).all()


def test_stored_log_probs_give_llama_perplexity_figures(tmp_path):
    """The uint16 base rows (written to a file) and the comparison against them agree with
    the exact float comparison to within the steps of the format."""
    x, y = _logits(5, vocab=501), _logits(5, vocab=501) + _logits(6, vocab=501, scale=0.3)
    targets = np.arange(x.shape[0])
    full = scoring.compare_full(y, targets, scoring.reference_rows(x, targets), x)
    stored = scoring.Stored(str(tmp_path / "base.bin"), 64, x.shape[0], x.shape[1])
    (tmp_path / "base.bin").write_bytes(b"\0" * (64 + stored.rows * stored.width * 2))
    scoring.encode_log_probs(x, stored.open("r+"), threads=2)
    head = np.ascontiguousarray(stored.open()[:, :4]).view(np.float32)
    top, low = x.max(axis=1), np.maximum(x.min(axis=1), x.max(axis=1) - 16)
    np.testing.assert_allclose(head[:, 0], (top - low) / 65535, rtol=1e-6)
    rows = scoring.compare_log_probs(y, targets, stored.open(), threads=2)
    np.testing.assert_allclose(rows.kld, full.kld, rtol=2e-3, atol=2e-5)
    kept = x[np.arange(len(targets)), targets] > low  # the format keeps 16 nats below the top
    assert 0 < kept.sum() < len(kept)
    np.testing.assert_allclose(rows.nll_base[kept], full.nll_base[kept], atol=3e-4)
    assert (rows.nll_base[~kept] < full.nll_base[~kept]).all()  # clamped, as llama-perplexity's
    np.testing.assert_array_equal(rows.same_top, full.same_top)


def test_the_tally_gives_llama_perplexity_figures():
    rng = np.random.default_rng(7)
    nll, base = rng.uniform(0, 6, 500), rng.uniform(0, 6, 500)
    kld, same = rng.exponential(0.05, 500), rng.uniform(size=500) < 0.9
    rows = scoring.Rows(nll=nll, nll_base=base, kld=kld, p_diff=np.exp(-nll) - np.exp(-base), same_top=same)
    tally = Tally()
    tally.add(scoring.Rows(nll[:200], base[:200], kld[:200], rows.p_diff[:200], same[:200]))
    tally.add(scoring.Rows(nll[200:], base[200:], kld[200:], rows.p_diff[200:], same[200:]))
    f = tally.figures()
    assert f["tokens"] == 500
    assert f["ppl"] == pytest.approx(math.exp(nll.mean())) and f["ppl_base"] == pytest.approx(math.exp(base.mean()))
    assert f["ppl_err"] == pytest.approx(math.exp(nll.mean()) * nll.std() / math.sqrt(499), rel=1e-6)
    assert f["ln_ppl_ratio"] == pytest.approx(nll.mean() - base.mean())
    assert f["kld_mean"] == pytest.approx(kld.mean()) and f["kld_median"] == pytest.approx(np.median(kld), rel=1e-6)
    assert f["kld_p99"] == pytest.approx(np.percentile(kld, 99), rel=1e-6) and f["kld_max"] == pytest.approx(kld.max())
    assert f["rms_dp"] == pytest.approx(math.sqrt((rows.p_diff**2).mean()))
    assert f["same_top_p"] == pytest.approx(same.mean())
    assert f["same_top_p_err"] == pytest.approx(math.sqrt(same.mean() * (1 - same.mean()) / 499))


# ---------------------------------------------------------------- the text


@pytest.mark.parametrize(
    "content, says",
    [(b"", "empty"), (b"  \n\t ", "empty"), (b"\x00\x01\x02binary", "binary"), (b"caf\xe9 au lait", "not UTF-8")],
)
def test_bad_texts_are_named(tmp_path, content, says):
    path = tmp_path / "text.txt"
    path.write_bytes(content)
    with pytest.raises(FidelityError, match=f"text.txt: .*{says}"):
        read_text(path)
    with pytest.raises(FidelityError, match="no such file"):
        read_text(tmp_path / "missing.txt")


def test_the_default_text_is_the_demo_corpus():
    text = read_text(None)
    assert 60_000 <= len(text.content) <= 90_000 and "demo corpus" in text.label


# ---------------------------------------------------------------- real models


@pytest.fixture(scope="session")
def ladder(demo_paths, tmp_path_factory) -> dict[str, str]:
    """SmolLM2 in F32 (its Q4_1 weights dequantized by llama.cpp) and three quantizations of that F32."""
    folder = tmp_path_factory.mktemp("ladder")
    f32 = quantize_gguf(demo_paths["smollm2"], "F32", folder / "smollm2.F32.gguf").out
    out = {"F32": f32}
    for t in ("Q8_0", "Q4_K_M", "Q2_K"):
        out[t] = quantize_gguf(f32, t, folder / f"smollm2.{t}.gguf").out
    return {k: f"gguf:{v}" for k, v in out.items()}


def _run(fid: Fidelity) -> dict:
    events = list(fid.run())
    assert isinstance(events[-1], Finished)
    return events[-1].result.to_json()


def _write(tmp_path) -> Text:
    path = tmp_path / "text.txt"
    path.write_text(read_text(None).content[:12_000])
    return read_text(path)


def test_a_model_compared_with_itself(smollm2, tmp_path):
    result = _run(Fidelity(smollm2, [smollm2], _write(tmp_path), ctx=64, chunks=3))
    (c,) = result["candidates"]
    assert c["error"] is None and c["tokens"] == 3 * 31 and not result["partial"]
    assert c["kld_mean"] == 0 and c["kld_max"] == 0 and c["same_top_p"] == 1.0 and c["rms_dp"] == 0
    assert c["ppl"] == c["ppl_base"] and c["ln_ppl_ratio"] == 0 and c["peak_rss_mib"] > 50


@pytest.mark.slow
def test_a_quantization_ladder_orders_by_kld(ladder, tmp_path):
    result = _run(Fidelity(ladder["F32"], [ladder["Q8_0"], ladder["Q4_K_M"], ladder["Q2_K"]], _write(tmp_path),
                           ctx=128, chunks=3))  # fmt: skip
    q8, q4, q2 = result["candidates"]
    assert q8["kld_mean"] < q4["kld_mean"] < q2["kld_mean"]
    assert q8["same_top_p"] > q2["same_top_p"] and q2["ppl"] > q8["ppl"]
    assert all(c["ppl_base"] == q8["ppl_base"] for c in (q4, q2))  # one reference for all


@pytest.mark.slow
def test_a_saved_reference_replaces_the_reference_run(ladder, tmp_path):
    text, ref_path = _write(tmp_path), tmp_path / "ref.bin"
    live = _run(Fidelity(ladder["F32"], [ladder["Q2_K"]], text, ctx=128, chunks=2, save_ref=ref_path))
    assert live["saved_ref"] == str(ref_path)
    saved = _run(Fidelity(ladder["F32"], [ladder["Q2_K"]], text, ctx=128, chunks=2, ref_file=ref_path))
    a, b = live["candidates"][0], saved["candidates"][0]
    assert saved["reference"]["source"].startswith("file") and "saved log-probabilities" in saved["kld_method"]
    assert b["ppl"] == a["ppl"] and b["ppl_base"] == pytest.approx(a["ppl_base"], rel=1e-4)
    assert b["same_top_p"] == pytest.approx(a["same_top_p"], abs=2 / a["tokens"])
    assert b["kld_mean"] == pytest.approx(a["kld_mean"], rel=0.01)
    with pytest.raises(FidelityError, match="exists already"):
        Fidelity(ladder["F32"], [ladder["Q2_K"]], text, ctx=128, save_ref=ref_path)


@pytest.mark.slow
def test_a_saved_reference_is_refused_for_another_model_text_or_ctx(ladder, tmp_path):
    text, ref_path = _write(tmp_path), tmp_path / "ref.bin"
    _run(Fidelity(ladder["F32"], [], text, ctx=64, chunks=2, save_ref=ref_path))
    for ref, txt, ctx, says in (
        (ladder["Q8_0"], text, 64, "made for gguf:.*F32.gguf"),
        (ladder["F32"], Text(text.content + " more", "other"), 64, "made for another text"),
        (ladder["F32"], text, 128, "made with --ctx 64, not 128"),
    ):
        with pytest.raises(FidelityError, match=says):
            _run(Fidelity(ref, [ladder["Q2_K"]], txt, ctx=ctx, ref_file=ref_path))
    damaged = tmp_path / "damaged.bin"
    damaged.write_bytes(ref_path.read_bytes()[:50_000])
    with pytest.raises(FidelityError, match="damaged.bin: cut short"):
        RefFile.load(damaged)
    with pytest.raises(FidelityError, match="text.txt: not a reference saved by llmbench or llama-perplexity"):
        RefFile.load(tmp_path / "text.txt")
    ref = RefFile.load(ref_path)  # a trailer of valid JSON without the fields it needs
    blob = b'{"model": {}, "text": 3}'
    odd = tmp_path / "odd.bin"
    odd.write_bytes(ref_path.read_bytes()[: ref.data_end] + blob + len(blob).to_bytes(4, "little") + b"llmbench")
    with pytest.raises(FidelityError, match="odd.bin: its llmbench trailer is damaged"):
        RefFile.load(odd)


def test_a_stopped_run_saves_no_reference(smollm2, tmp_path):
    ref_path = tmp_path / "ref.bin"
    fid = Fidelity(smollm2, [smollm2], _write(tmp_path), ctx=64, chunks=4, save_ref=ref_path)
    events = []
    for event in fid.run():
        events.append(event)
        fid.cancel()
    result = events[-1].result
    assert result.partial and result.chunks == 1 and result.saved_ref is None
    assert list(tmp_path.glob("*ref.bin*")) == []


def test_cancel_keeps_the_figures_so_far(smollm2, tmp_path):
    fid = Fidelity(smollm2, [smollm2], _write(tmp_path), ctx=64, chunks=6)
    events = []
    for event in fid.run():
        events.append(event)
        if len(events) == 2:
            fid.cancel()
    result = events[-1].result
    assert result.partial and result.chunks == 2 and result.chunks_total == 6
    assert result.candidates[0]["tokens"] == 2 * 31


@pytest.mark.slow
def test_a_quantized_file_loads_in_inspect(ladder):
    from llmbench.engine.inspect.source import inspect_source

    summary = inspect_source(ladder["Q4_K_M"].removeprefix("gguf:"))
    assert summary.quantization["file_type"] == "Q4_K_M" and summary.vocab_size == 49152
    assert sum(summary.tensor_types.values()) == 272 and "F32" in summary.tensor_types


def test_quantize_refuses_bad_input(demo_paths, tmp_path):
    with pytest.raises(QuantizeError, match="Q9_X: not a type"):
        quantize_gguf(demo_paths["smollm2"], "Q9_X", tmp_path / "x.gguf")
    not_gguf = tmp_path / "weights.gguf"
    not_gguf.write_text("not a model")
    with pytest.raises(ModelFileError, match="weights.gguf"):
        quantize_gguf(not_gguf, "Q8_0", tmp_path / "out.gguf")
    taken = tmp_path / "taken.gguf"
    taken.write_text("mine")
    with pytest.raises(QuantizeError, match="taken.gguf: exists already"):
        quantize_gguf(demo_paths["smollm2"], "Q8_0", taken)
    assert taken.read_text() == "mine" and not list(tmp_path.glob(".*part"))


# ---------------------------------------------------------------- the CLI


def test_cli_json_fields(smollm2, tmp_path, capsys):
    text = _write(tmp_path)
    code = main(["fidelity", smollm2, smollm2, "--text", text.path, "--ctx", "64", "--chunks", "2", "--format", "json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and out["ctx"] == 64 and out["chunks"] == 2 and out["partial"] is False
    fields = ("spec tokens ppl ppl_err ppl_base ln_ppl_ratio kld_mean kld_err kld_median kld_p90 kld_p95 kld_p99 "
              "kld_p999 kld_max rms_dp same_top_p same_top_p_err").split()  # fmt: skip
    assert all(f in out["candidates"][0] for f in fields) and out["candidates"][0]["same_top_p"] == 1.0


def test_cli_markdown_and_bad_input(smollm2, tmp_path, capsys):
    text = _write(tmp_path)
    assert (
        main(["fidelity", smollm2, smollm2, "--text", text.path, "--ctx", "64", "--chunks", "2", "--format", "md"]) == 0
    )
    md = capsys.readouterr().out
    assert "| Mean KLD |" in md and "| Same top p | 100.000 ± 0.000 % |" in md
    short = tmp_path / "short.txt"
    short.write_text("A few words are not two chunks of text.")
    cases = [
        (["--text", str(short)], "short.txt: .* tokens make 0 chunk\\(s\\) of 512; at least 2"),
        (["--text", text.path, "--ctx", "16384"], "--ctx 16384 is larger than the context of .* \\(8,192\\)"),
        (["openai:http://127.0.0.1:9/v1#m", "--text", text.path], "127.0.0.1:9/v1: server unreachable"),
    ]
    for extra, says in cases:
        code = main(["fidelity", smollm2, *(extra if extra[0].startswith("openai") else [smollm2, *extra])])
        err = capsys.readouterr()
        assert code == 1 and re.search(says, err.err + err.out), (extra, err)
    assert main(["quantize", smollm2, "--type", "Q9"]) == 1
    assert "Q9: not a type llmbench quantizes to" in capsys.readouterr().err


@pytest.mark.slow
def test_tokenizers_that_differ_are_named(smollm2, gemma, tmp_path, capsys):
    code = main(["fidelity", smollm2, gemma, "--text", _write(tmp_path).path, "--ctx", "64", "--chunks", "2"])
    out = capsys.readouterr()
    assert code == 1 and "the tokenizers differ: " in out.out and "gemma" in out.out.lower()


@pytest.mark.slow
def test_the_gguf_against_its_transformers_twin(smollm2, registered, tmp_path):
    result = _run(Fidelity(smollm2, ["hf:smollm2?dtype=fp32"], _write(tmp_path), ctx=256, chunks=6))
    (c,) = result["candidates"]
    assert c["error"] is None and c["backend"] == "hf" and c["tokens"] == 6 * 127
    assert c["kld_mean"] < 0.01 and c["same_top_p"] > 0.95  # measured: 0.0034 and 96 %


# ---------------------------------------------------------------- multiple choice, the token view, sessions


def _mc_file(tmp_path, rows) -> str:
    path = tmp_path / "mc.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows))
    return str(path)


OBVIOUS = [
    {"question": "Monday, Tuesday, Wednesday, Thursday, Friday, Saturday and then comes",
     "choices": ["xqz vrrk plomf", "Sunday", "zzyzx qwv brrt"], "answer": "B"},
    {"question": "one, two, three, four, five, six, seven, eight, nine,",
     "choices": ["ten", "glorp vexwq", "tzkx mlorp"], "answer": "A"},
    {"question": "The opposite of up is",
     "choices": ["vvqx zmm", "kkrq tpl", "down"], "answer": "C"},
]  # fmt: skip


def test_multiple_choice_picks_what_a_model_cannot_miss(smollm2, tmp_path):
    mc = load_mc(_mc_file(tmp_path, OBVIOUS))
    result = _run(Fidelity(smollm2, [smollm2], _write(tmp_path), ctx=64, chunks=2, mc=mc, record=False))
    ref, (cand,) = result["reference"]["mc"], result["candidates"]
    assert ref["picks"] == ["B", "A", "C"] and ref["acc"] == 1.0 and ref["questions"] == 3
    assert cand["mc"]["picks"] == ref["picks"] and cand["mc"]["flips"] == 0 and cand["mc"]["answers_changed"] == 0
    assert result["mc"]["label"].endswith("mc.jsonl")


def test_flips_count_both_directions():
    ref = {"correct": [True, True, False, False], "picks": ["A", "B", "C", "D"]}
    cand = {"correct": [True, False, True, False], "picks": ["A", "C", "D", "A"]}
    assert flips(ref, cand) == {"flips": 2, "flips_lost": 1, "flips_gained": 1, "answers_changed": 3}


def test_multiple_choice_files_and_their_errors(tmp_path):
    label, builtin = load_mc(None)
    assert len(builtin) >= 60 and "smoke test, not a benchmark" in label
    assert {q.answer for q in builtin} == {0, 1, 2, 3}, "the right answer is not always in one place"
    csv_path = tmp_path / "mc.csv"
    csv_path.write_text("question,A,B,C,answer\nWhat is 2+2?,3,4,5,b\n")
    (q,) = load_mc(csv_path)[1]
    assert q.choices == ("3", "4", "5") and q.answer == 1
    bad = [
        ({"question": "q", "choices": ["a", "b"], "answer": "C"}, "answer must be one letter of AB, got 'C'"),
        ({"question": "q", "choices": ["a"], "answer": "A"}, "needs at least two non-empty choices"),
        ({"question": "", "choices": ["a", "b"], "answer": "A"}, "missing question"),
    ]
    for row, says in bad:
        with pytest.raises(QuestionsError, match=re.escape(says)):
            load_mc(_mc_file(tmp_path, [row]))
    with pytest.raises(FidelityError, match="--mc needs the reference model itself"):
        Fidelity("x", ["y"], _write(tmp_path), ref_file=tmp_path / "none", mc=(label, builtin))


def test_the_token_view_of_a_model_against_itself(smollm2, tmp_path):
    text = Text("The capital of France is Paris. The capital of Italy is Rome.", "two sentences")
    view = token_view(smollm2, smollm2, text, ctx=64)
    cells = view["tokens"]
    assert cells[0]["kld"] is None and all(c["kld"] == 0 for c in cells[1:])
    assert "".join(c["text"] for c in cells).endswith(text.content), "the pieces spell the passage"
    paris = next(c for c in cells if c["text"] == " Paris")
    assert paris["ref_top"] == paris["cand_top"] and len(paris["ref_top"]) == 5
    assert paris["ref_top"][0][1] >= paris["ref_top"][1][1] > 0 and paris["p_ref"] == paris["p_cand"]
    assert view["same_top_p"] == 1.0


def test_a_fidelity_run_is_a_session(smollm2, tmp_path, capsys):
    text = _write(tmp_path)
    assert main(["fidelity", smollm2, smollm2, "--text", text.path, "--ctx", "64", "--chunks", "2"]) == 0
    assert "session: " in capsys.readouterr().err
    assert main(["sessions", "list", "--kind", "fidelity", "--format", "json"]) == 0
    (listed,) = json.loads(capsys.readouterr().out)
    assert listed["kind"] == "fidelity"
    (found,) = [d for d in load_all()[0] if d.kind == "fidelity"]
    assert "KLD 0.0000, same top 100.0%" in found.key_stats()
    assert main(["sessions", "show", "last"]) == 0
    shown = capsys.readouterr().out
    assert "| Mean KLD |" in shown and "| Same top p | 100.000 ± 0.000 % |" in shown
    assert main(["sessions", "export", "last", "--format", "md", "--out", str(tmp_path / "f.md")]) == 0
    assert "| Mean KLD |" in (tmp_path / "f.md").read_text()
