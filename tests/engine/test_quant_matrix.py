"""The quantization matrix on SmolLM2: every load-time method this CPU runs, and its GGUF."""

from __future__ import annotations

import json

import pytest

from llmbench.engine.errors import SpecError
from llmbench.engine.experiments.quant.matrix import QuantMatrix, variants
from llmbench.engine.experiments.quant.report import markdown_report
from tests.helpers import cli, one_line_error

pytestmark = pytest.mark.slow  # the Hugging Face stack and every quantization


def _questions(tmp_path, n=1):
    rows = [
        {
            "id": "france",
            "question": "What is the capital of France? Answer in one sentence.",
            "answer": "The capital of France is Paris.",
        },
        {
            "id": "week",
            "question": "How many days are in a week? Answer in one sentence.",
            "answer": "A week has seven days.",
        },
    ][:n]
    path = tmp_path / "q.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows))
    return path


def _mc(tmp_path):
    path = tmp_path / "mc.jsonl"
    rows = [
        {"question": "one, two, three, four,", "choices": ["five", "qzx vrk"], "answer": "A"},
        {"question": "The opposite of up is", "choices": ["kkrq tpl", "down"], "answer": "B"},
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows))
    return path


def test_variants_of_a_gguf_base(registered, demo_paths):
    vs = variants("smollm2")
    assert [v.name for v in vs] == ["fp32", "bf16", "bnb8", "bnb4", "quanto-int8", "torchao-int8", "gguf Q4_1"]
    assert vs[0].spec == "hf:smollm2?dtype=fp32" and vs[-1].runtime == "llama.cpp"
    assert all(v.skip is None for v in vs), "bitsandbytes, quanto and torchao all run on this CPU"
    extra = variants("smollm2", ["gguf"], ggufs=[str(demo_paths["gemma3-270m"])])
    assert [v.name for v in extra] == ["gguf Q4_1", "gguf Q4_K_M"]
    with pytest.raises(SpecError, match="unknown variant 'int3'"):
        variants("smollm2", ["int3"])
    ladder = variants("smollm2", ["gguf"], gguf_types=("Q4_1", "Q8_0", "Q2_K"))
    assert [v.name for v in ladder] == ["gguf Q4_1", "gguf Q8_0", "gguf Q2_K"], "the base's own type is not made twice"
    assert ladder[1].ladder[0].endswith(demo_paths["smollm2"].name) and ladder[1].ladder[1] == "Q8_0"
    assert ladder[0].ladder is None, "the base runs as it is"


def test_a_missing_library_makes_its_variant_skipped_not_failed(registered, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "torchao" else real(name, *a))
    vs = {v.name: v for v in variants("smollm2")}
    assert vs["torchao-int8"].skip == "torchao is not installed" and vs["bnb8"].skip is None


def test_every_variant_answers_and_is_scored_against_references_and_fp32(
    registered, tmp_path, embedder, home, monkeypatch
):
    from llmbench.engine.runtime.worker import ModelWorker

    names = ["fp32", "bf16", "bnb8", "bnb4", "quanto-int8", "torchao-int8", "gguf"]
    matrix = QuantMatrix("smollm2", _questions(tmp_path), names=names, similarity=embedder.similarity,
                         gguf_types=("Q8_0",), ctx=128, chunks=2)  # fmt: skip
    matrix.params = matrix.params.replace(max_tokens=12)
    loads, start = [], ModelWorker.start
    monkeypatch.setattr(ModelWorker, "start", lambda self: (loads.append(self.model.spec), start(self))[1])
    events = list(matrix.run())
    assert len(loads) == 1 + 8 and len(set(loads[1:])) == 8, "the reference, then each variant loaded once"
    result = events[-1][1].result.to_json()
    rows = {r["variant"]: r for r in result["rows"]}
    assert list(rows) == ["fp32", "bf16", "bnb8", "bnb4", "quanto-int8", "torchao-int8", "gguf Q4_1", "gguf Q8_0"]
    assert result["fidelity"]["reference"].startswith("gguf F32") and not result["fidelity"]["error"]
    kld = {name: r["fidelity"]["kld_mean"] for name, r in rows.items()}
    assert all(r["fidelity"]["tokens"] == 2 * 63 for r in rows.values()), "every variant scored on one text"
    assert kld["fp32"] < 0.02 and kld["gguf Q8_0"] < 0.02, "the same weights, another backend or 8 bits"
    assert kld["bnb4"] > kld["bnb8"] and kld["bnb4"] > kld["gguf Q8_0"], "4-bit costs more than 8-bit"
    for name, r in rows.items():
        assert not r["error"] and not r["skipped"], (name, r["error"])
        assert r["answers"][0]["answer"].strip(), name
        assert r["load_s"] > 0 and r["tok_s"] > 0 and r["peak_rss_mib"] > 100, name
        assert 0 < r["cos_ref"] <= 1.0001 and 0 < r["cos_fp32"] <= 1.0001, name
    assert rows["fp32"]["cos_fp32"] == pytest.approx(1.0, abs=1e-4), "fp32 is its own reference"
    assert rows["gguf Q4_1"]["peak_rss_mib"] < rows["fp32"]["peak_rss_mib"]
    report = markdown_report(result)
    assert ("| variant | runtime | size MiB | peak RAM MiB | tok/s | Mean KLD | Same top p % | PPL ratio | MC flips "
            "| cos ref | note |") in report  # fmt: skip
    assert "Size-vs-KLD front" in report
    assert "- **bnb4**" in report and "*Reference:* The capital of France is Paris." in report
    show = cli("sessions", "show", "last", home=home)
    assert show.returncode == 0 and "| torchao-int8 | HF |" in show.stdout


def test_the_cli_writes_a_table_and_reports(registered, tmp_path, home):
    out = tmp_path / "out"
    proc = cli(
        "quant-matrix",
        "smollm2",
        "--variants",
        "gguf,bnb4",
        "--questions",
        str(_questions(tmp_path, 2)),
        "--max-tokens",
        "8",
        "--gguf-types",
        "Q2_K",
        "--ctx",
        "128",
        "--chunks",
        "2",
        "--mc",
        str(_mc(tmp_path)),
        "--out",
        str(out),
        "--format",
        "json",
        home=home,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert [r["variant"] for r in data["rows"]] == ["bnb4", "gguf Q4_1", "gguf Q2_K"]
    fid = {r["variant"]: r["fidelity"] for r in data["rows"]}
    assert fid["gguf Q2_K"]["kld_mean"] > fid["gguf Q4_1"]["kld_mean"]
    assert fid["gguf Q2_K"]["same_top_p"] < fid["gguf Q4_1"]["same_top_p"] <= 1
    assert data["fidelity"]["reference_mc"]["questions"] == 2 and "flips" in fid["bnb4"]["mc"]
    assert data["rows"][2]["size_mib"] < data["rows"][1]["size_mib"], "Q2_K is the smaller file"
    assert all(len(r["answers"]) == 2 and r["cos_ref"] is not None for r in data["rows"])
    assert data["rows"][0]["cos_fp32"] is None, "no fp32 variant ran: nothing to compare with"
    assert (out / "quant-matrix.md").read_text().startswith("# Quantization matrix: smollm2")
    assert json.loads((out / "quant-matrix.json").read_text())["rows"][1]["runtime"] == "llama.cpp"
    listed = cli("sessions", "list", "--kind", "quant-matrix", "--format", "json", home=home)
    assert len(json.loads(listed.stdout)) == 1


def test_bad_matrix_input_is_one_line(registered, tmp_path, home):
    one_line_error(cli("quant-matrix", "smollm2", "--variants", "fp64", home=home), "unknown variant 'fp64'")
    one_line_error(cli("quant-matrix", str(tmp_path / "none"), home=home), "no such model folder or file")
    one_line_error(cli("quant-matrix", "openai:http://h/v1#m", home=home), "a remote model cannot be quantized")
    one_line_error(cli("quant-matrix", "smollm2", "--gguf-types", "Q9", home=home), "Q9: not a type llmbench")
    one_line_error(
        cli("quant-matrix", "smollm2", "--questions", str(tmp_path / "q.csv"), home=home),
        "q.csv: no such question file",
    )


def test_a_cancelled_matrix_reports_itself_partial_and_counts_its_questions():
    from llmbench.engine.experiments.quant.report import markdown_body

    one = {"question": "Q?", "answer": "A.", "id": "q1"}
    result = {"questions": [one], "params": {"temperature": 0, "max_tokens": 8}, "rows": [], "fidelity": None}
    assert "1 question, greedy" in markdown_body(result) and "PARTIAL" not in markdown_body(result)
    cut = markdown_body({**result, "questions": [one, {**one, "id": "q2"}], "cancelled": True})
    assert cut.startswith("**PARTIAL: cancelled.") and "2 questions, greedy" in cut
