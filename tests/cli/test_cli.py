"""The headless CLI, run as a user runs it: the installed ``llmbench`` script."""

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.helpers import FIXTURES, LLMBENCH, cli, is_one_run_verdict, one_line_error


@pytest.mark.slow
def test_duel_json_has_the_documented_fields(home, registered):
    proc = cli(
        "duel",
        "--a",
        "smollm2",
        "--b",
        "gemma3-270m",
        "--prompt",
        "Name a fruit.",
        "--max-tokens",
        "12",
        "--temperature",
        "0",
        "--format",
        "json",
        home=home,
    )
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["mode"] in ("sequential", "concurrent")
    fields = {
        "model",
        "text",
        "load_s",
        "prompt_tokens",
        "ttft_ms",
        "prompt_tok_s",
        "gen_tokens",
        "gen_tok_s",
        "total_s",
        "peak_rss_mib",
        "error",
    }
    for c in data["contestants"]:
        assert fields <= set(c)
        assert c["error"] is None and c["gen_tokens"] > 0 and c["peak_rss_mib"] > 0
    assert [c["model"] for c in data["contestants"]] == ["smollm2", "gemma3-270m"]
    session = Path(data["session"])
    assert session.exists() and session.parent == home / "sessions"
    assert is_one_run_verdict(data["verdict"]), data["verdict"]


def test_duel_table_streams_both_answers_then_stats(home, registered):
    proc = cli(
        "duel",
        "--a",
        "smollm2",
        "--b",
        "smollm2",
        "--prompt",
        "Say hello.",
        "--max-tokens",
        "8",
        "--temperature",
        "0",
        home=home,
    )
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "── A: smollm2 (Q4_1) ──" in out and "── B: smollm2 (Q4_1) ──" in out
    for label in ("TTFT", "gen speed", "peak RAM", "prompt speed", "total", "load"):
        assert label in out
    assert "session:" in out


def test_three_contestants_with_model_repeated(home, registered):
    """--model three times: three answers one after the other on the terminal, three
    columns, a verdict against the fastest, a session of three sides that lists and shows."""
    args = ("duel", "--model", "smollm2", "--model", "smollm2", "--model", "smollm2", "--prompt", "Say hello.",
            "--max-tokens", "6", "--temperature", "0", "--mode", "sequential")  # fmt: skip
    proc = cli(*args, home=home, env={"COLUMNS": "120"})
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert out.index("── A: smollm2") < out.index("── B: smollm2") < out.index("── C: smollm2")
    assert "smollm2 (A)" in out and "smollm2 (C)" in out and "fastest smollm2 (" in out
    data = json.loads(cli(*args, "--format", "json", home=home).stdout)
    assert [c["side"] for c in data["contestants"]] == ["a", "b", "c"]
    assert all(c["error"] is None and c["gen_tokens"] > 0 for c in data["contestants"])
    show = cli("sessions", "show", data["session"], "--format", "json", home=home)
    assert set(json.loads(show.stdout)["models"]) == {"a", "b", "c"}
    one_line_error(cli("duel", "--model", "smollm2", "--prompt", "hi", home=home), "a duel takes 2 to 4 models")
    five = ("--model", "smollm2") * 5
    one_line_error(cli("duel", *five, "--prompt", "hi", home=home), "not 5")


def test_duel_markdown_and_quiet(home, registered):
    proc = cli(
        "duel",
        "--a",
        "smollm2",
        "--b",
        "smollm2",
        "--prompt",
        "-",
        "--max-tokens",
        "4",
        "--format",
        "md",
        "--quiet",
        "--no-record",
        home=home,
        input="Hi there",
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("## Duel") and "| TTFT |" in proc.stdout
    assert "Session:" not in proc.stdout and not (home / "sessions").exists()


@pytest.mark.parametrize(
    "args, needles",
    [
        (["--a", "nosuchmodel", "--b", "smollm2"], ["unknown model 'nosuchmodel'"]),
        (["--a", "/no/where.gguf", "--b", "smollm2"], ["/no/where.gguf: no such file"]),
        (["--a", "smollm2", "--b", "smollm2", "--n-ctx", "0"], ["n_ctx must be a positive"]),
        (["--a", "smollm2", "--b", "smollm2", "--max-tokens", "-3"], ["max_tokens must be at least 1"]),
    ],
)
def test_bad_input_is_one_line_without_traceback(home, registered, args, needles):
    limit = [] if "--max-tokens" in args else ["--max-tokens", "4"]
    proc = cli("duel", *args, "--prompt", "hi", *limit, home=home)
    one_line_error(proc, *needles)


def test_non_gguf_and_truncated_files_name_the_file(home, registered, tmp_path, demo_paths):
    text = tmp_path / "notes.gguf"
    text.write_text("plain text")
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(demo_paths["smollm2"].read_bytes()[:5_000_000])
    proc = cli("duel", "--a", str(text), "--b", str(cut), "--prompt", "hi", "--max-tokens", "4", home=home)
    one_line_error(proc, "notes.gguf: not a GGUF file")
    one_line_error(proc, "cut.gguf: truncated GGUF")


def test_one_bad_side_still_reports_the_other(home, registered):
    proc = cli(
        "duel",
        "--a",
        "smollm2",
        "--b",
        "nosuchmodel",
        "--prompt",
        "Hi",
        "--max-tokens",
        "6",
        "--format",
        "json",
        home=home,
    )
    assert proc.returncode == 1
    a, b = json.loads(proc.stdout)["contestants"]
    assert a["error"] is None and a["gen_tokens"] > 0
    assert "unknown model" in b["error"]


def test_prompt_longer_than_n_ctx(home, registered):
    proc = cli(
        "duel",
        "--a",
        "smollm2",
        "--b",
        "smollm2",
        "--prompt",
        "word " * 400,
        "--n-ctx",
        "256",
        "--max-tokens",
        "4",
        home=home,
    )
    one_line_error(proc, "the prompt is", "n_ctx is 256")


def test_models_add_list_rm(home, registered, tiny_gguf):
    assert cli("models", "add", "tiny", str(tiny_gguf), home=home).returncode == 0
    listed = json.loads(cli("models", "list", "--format", "json", home=home).stdout)
    by_name = {m["name"]: m for m in listed}
    assert by_name["tiny"]["status"] == "ready" and by_name["smollm2"]["kind"] == "demo"
    table = cli("models", "list", home=home).stdout
    assert "tiny" in table and "gemma3-270m" in table
    assert "removed tiny" in cli("models", "rm", "tiny", home=home).stdout
    one_line_error(cli("models", "rm", "tiny", home=home), "unknown model 'tiny'")
    one_line_error(cli("models", "add", "bad", "/no/file.gguf", home=home), "/no/file.gguf: no such file")


def test_models_pull_is_idempotent(home, registered):
    proc = cli("models", "pull", "smollm2", home=home)
    assert proc.returncode == 0 and "already present" in proc.stdout
    one_line_error(cli("models", "pull", "nosuch", home=home), "pullable models are")


def test_inspect_json_fields(home, registered):
    proc = cli("inspect", "smollm2", "--memory", "--ctx", "2048", "--format", "json", home=home)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    for field in (
        "architecture",
        "model_type",
        "vocab_size",
        "hidden_size",
        "num_layers",
        "num_heads",
        "num_kv_heads",
        "gqa_ratio",
        "head_dim",
        "intermediate_size",
        "norm_type",
        "norm_eps",
        "rope_theta",
        "context_length",
        "tied_embeddings",
        "params_total",
        "params_embeddings",
        "params_per_layer",
        "linear_modules",
        "quantization",
        "projections",
        "memory",
    ):
        assert field in data, field
    assert data["projections"][0] == {
        "name": "q_proj",
        "in_features": 576,
        "out_features": 576,
        "cls": "ggml Q4_1",
        "quant": "Q4_1",
        "bits": 5.0,
    }
    row = data["memory"][0]
    assert set(row) >= {"format", "weights_bytes", "kv_bytes", "total_bytes", "fits"}


def test_inspect_compare_markdown(home):
    configs = FIXTURES / "configs"
    proc = cli(
        "inspect",
        str(configs / "meta-llama-3-8b.json"),
        "--compare",
        str(configs / "qwen2-1.5b-instruct-gptq-int8.json"),
        "--format",
        "md",
        home=home,
    )
    assert proc.returncode == 0, proc.stderr
    assert "| **vocabulary** | 128,256 | 151,936 |" in proc.stdout
    assert "QuantLinear" in proc.stdout


def test_inspect_bad_input_is_one_line(home, tmp_path):
    one_line_error(cli("inspect", str(tmp_path), home=home), "no config.json in this folder")
    cut = tmp_path / "x.gguf"
    cut.write_bytes(b"GGUF\x03\x00\x00\x00")
    one_line_error(cli("inspect", str(cut), home=home), "x.gguf: truncated GGUF")


@pytest.mark.slow
def test_inspect_tree_folds_identical_layers(home, registered):
    proc = cli("inspect", "smollm2", "--tree", "--format", "md", home=home)
    assert proc.returncode == 0, proc.stderr
    assert "0-29: block ×30" in proc.stdout and "attn_k: Q4_1 (576×192)" in proc.stdout
    configs = FIXTURES / "configs"
    proc = cli("inspect", str(configs / "meta-llama-3-70b.json"), "--tree", home=home)
    assert proc.returncode == 0, proc.stderr
    assert "LlamaDecoderLayer ×80" in proc.stdout
    assert "Failed to load" not in proc.stderr + proc.stdout, "torchao's import noise is silenced"


@pytest.mark.slow
def test_inspect_loaded_quantized_model_json(home, tmp_path):
    pytest.importorskip("transformers")
    from transformers import AutoModelForCausalLM, LlamaConfig

    AutoModelForCausalLM.from_config(
        LlamaConfig(
            vocab_size=256,
            hidden_size=64,
            intermediate_size=128,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
        )
    ).save_pretrained(tmp_path / "m")
    proc = cli("inspect", f"hf:{tmp_path / 'm'}?quant=bnb8", "--format", "json", home=home)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["linear_modules"] == {"Linear8bitLt": 14, "Linear": 1}
    assert data["quantization"]["method"] == "bitsandbytes" and data["quantization"]["bits"] == 8
    assert {
        "name": "k_proj",
        "in_features": 64,
        "out_features": 32,
        "cls": "Linear8bitLt",
        "quant": "bnb int8",
        "bits": 8,
    } in data["projections"]
    one_line_error(cli("inspect", f"hf:{tmp_path / 'm'}?quant=bnb3", home=home), "quant 'bnb3' is not one of")


# ---------------------------------------------------------------- chat over documents


@pytest.mark.slow
def test_index_retrieve_and_chat_headless(home, registered, tmp_path):
    from tests.helpers import PAGES, write_pdf

    docs = tmp_path / "docs"
    docs.mkdir()
    write_pdf(docs / "manual.pdf", PAGES)
    (docs / "broken.pdf").write_bytes(b"%PDF-1.4 garbage")
    proc = cli("index", "add", "pump", str(docs), "--format", "json", home=home)
    assert proc.returncode == 1, proc.stderr  # one file failed: reported, the other indexed
    report = json.loads(proc.stdout)
    assert report["chunks"] == 5 and len(report["added"]) == 1
    assert "broken.pdf: not a readable PDF" in proc.stderr and "Traceback" not in proc.stderr

    listed = json.loads(cli("index", "list", "--format", "json", home=home).stdout)
    assert [c["name"] for c in listed] == ["pump"]

    proc = cli(
        "retrieve", "--collection", "pump", "--k", "2", "--format", "json", "What does error E42 mean?", home=home
    )
    assert proc.returncode == 0, proc.stderr
    hits = json.loads(proc.stdout)["hits"]
    assert len(hits) == 2 and hits[0]["page"] == 4 and hits[0]["source"].endswith("manual.pdf")
    assert {"source", "page", "text", "bm25_rank", "dense_rank", "score"} <= set(hits[0])

    proc = cli(
        "chat",
        "--collection",
        "pump",
        "--model",
        "smollm2",
        "--k",
        "2",
        "--max-tokens",
        "20",
        "--temperature",
        "0",
        "How long is the warranty?",
        home=home,
    )
    assert proc.returncode == 0, proc.stderr
    assert "[1] manual.pdf p.1" in proc.stdout and "2 of 2 passages fit the context" in proc.stdout
    assert "session:" in proc.stdout

    assert cli("index", "rm", "pump", home=home).returncode == 0
    one_line_error(cli("retrieve", "--collection", "pump", "x", home=home), "no collection named 'pump'")


@pytest.mark.slow
def test_eval_headless_writes_csv_json_and_markdown(home, registered, demo_collection, tmp_path):
    questions = tmp_path / "q.csv"
    questions.write_text(
        "id;question;answer;source\n"
        "f;What is Faiss?;A library for efficient similarity search of dense vectors.;pkg:faiss-cpu\n"
    )
    out = tmp_path / "report"
    proc = cli(
        "eval",
        "--collection",
        "demo",
        "--questions",
        str(questions),
        "--a",
        "smollm2",
        "--k",
        "2",
        "--max-tokens",
        "16",
        "--out",
        str(out),
        "--format",
        "json",
        home=home,
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    row = result["rows"][0]
    assert row["retrieval_hit"] is True and row["answer"] and row["cosine"] is not None
    assert (out / "eval.csv").read_text().startswith("model;question;cosine;resp_time")
    assert (out / "eval.md").exists() and (out / "eval.json").exists()

    proc = cli("eval", "--collection", "demo", "--retrieval-only", "--out", str(out), home=home)
    assert proc.returncode == 0, proc.stderr
    assert "(retrieval)" in proc.stdout and "hit rate" in proc.stdout
    one_line_error(
        cli("eval", "--collection", "demo", "--questions", str(tmp_path / "none.jsonl"), "--a", "smollm2", home=home),
        "none.jsonl: no such question file",
    )


def test_inspect_memory_measure_sets_the_rss_beside_the_estimate(smollm2):
    proc = cli("inspect", smollm2, "--memory", "--measure", "--ctx", "1024", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    m = json.loads(proc.stdout)["measured"]
    assert m["file"] + m["anon"] + m.get("shmem", 0) == pytest.approx(m["rss"], abs=0.3)
    parts = {p[0]: p for p in m["parts"]}
    assert set(parts) == {"weights", "KV cache", "runtime", "total"}
    assert parts["KV cache"][1] == pytest.approx(parts["KV cache"][2], rel=0.05), "the KV estimate is exact"
    assert parts["total"][2] == m["rss"]
    one_line_error(cli("inspect", smollm2, "--measure"), "--measure goes with --memory")


@pytest.mark.parametrize("data, says", [(b"a\xffb", "not UTF-8 text (byte 0xff at offset 1)"),
                                        (b"ab\x00c", "a NUL byte at offset 2")])  # fmt: skip
def test_a_binary_prompt_on_stdin_is_one_line_and_no_session(home, data, says):
    for args in (["duel", "--a", "smollm2", "--b", "smollm2", "--prompt", "-"], ["chat", "-"]):
        proc = subprocess.run([LLMBENCH, *args], input=data, capture_output=True, timeout=60,
                              env={**os.environ, "LLMBENCH_HOME": str(home)})  # fmt: skip
        proc.stderr = proc.stderr.decode()
        one_line_error(proc, "standard input", says)
    assert not (home / "sessions").exists() or not list((home / "sessions").iterdir())
