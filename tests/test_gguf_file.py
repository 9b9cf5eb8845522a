"""The fast GGUF header reader, on real models and on files gguf-py writes."""

import pytest

from llmbench.engine.errors import ModelFileError
from llmbench.engine.models.gguf_file import read_header

from .conftest import write_gguf


def test_reads_the_real_smollm2_header(demo_paths):
    h = read_header(demo_paths["smollm2"])
    assert h.arch == "llama"
    assert h.quant == "Q4_1"
    assert h.has_chat_template
    assert h.metadata["llama.block_count"] == 30
    assert h.metadata["llama.embedding_length"] == 576
    assert h.metadata["tokenizer.ggml.tokens"].count == 49152  # long arrays are summarised
    assert len(h.tensors) == 272
    assert h.tensor_types["Q4_1"] == 210


def test_reads_the_real_gemma_header(demo_paths):
    h = read_header(demo_paths["gemma3-270m"])
    assert h.arch == "gemma3"
    assert h.quant == "Q4_K_M"
    assert not h.has_chat_template  # a base model: the backend falls back


def test_tiny_file_written_by_gguf_py(tmp_path):
    path = write_gguf(tmp_path / "t.gguf", chat_template="{{ x }}", file_type=1)
    h = read_header(path)
    assert (h.arch, h.name, h.quant, h.context_length) == ("llama", "tiny-test-model", "F16", 128)
    assert {t.name: t.shape for t in h.tensors} == {"token_embd.weight": (8, 16), "output_norm.weight": (8,)}
    assert h.tensors[0].n_bytes == 16 * 8 * 2


def test_quant_falls_back_to_the_commonest_tensor_type(tmp_path):
    h = read_header(write_gguf(tmp_path / "t.gguf", file_type=None))
    assert h.quant in {"F16", "F32"}


@pytest.mark.parametrize("keep", [0.999, 0.5, 0.02, 0.005])  # 0.005: inside the vocabulary array
def test_truncated_file_names_the_file(tmp_path, demo_paths, keep):
    data = demo_paths["smollm2"].read_bytes()
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(ModelFileError, match=r"cut\.gguf: truncated GGUF"):
        read_header(cut)


def test_not_a_gguf(tmp_path):
    bad = tmp_path / "notes.gguf"
    bad.write_text("hello, I am a text file")
    with pytest.raises(ModelFileError, match=r"notes\.gguf: not a GGUF file"):
        read_header(bad)


def test_empty_file_missing_file_and_folder(tmp_path):
    empty = tmp_path / "empty.gguf"
    empty.write_bytes(b"")
    with pytest.raises(ModelFileError, match="empty file"):
        read_header(empty)
    with pytest.raises(ModelFileError, match="no such file"):
        read_header(tmp_path / "absent.gguf")
    with pytest.raises(ModelFileError, match="is a folder"):
        read_header(tmp_path)


def test_unknown_value_type_is_reported(tmp_path):
    path = write_gguf(tmp_path / "t.gguf", extra={"zz.key": "v"})
    data = bytearray(path.read_bytes())
    marker = data.index(b"zz.key") + len(b"zz.key")
    data[marker : marker + 4] = (99).to_bytes(4, "little")  # the value type of that key
    path.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match="unknown metadata value type 99"):
        read_header(path)
