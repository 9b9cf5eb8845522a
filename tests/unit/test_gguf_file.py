"""The fast GGUF header reader, on real models and on files gguf-py writes."""

import pytest

from llmbench.engine.errors import ModelFileError
from llmbench.engine.models.gguf_file import read_header
from tests.helpers import write_gguf


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


def _header_bytes(tmp_path) -> bytearray:
    return bytearray(write_gguf(tmp_path / "seed.gguf", chat_template="{{ x }}", file_type=1).read_bytes())


@pytest.mark.parametrize(
    "make, says",
    [
        (lambda b: b"GGUF", "truncated GGUF"),  # 4 bytes: was a BufferError that aborted a whole duel
        (lambda b: b[:4] + (0).to_bytes(4, "little") + b[8:], "version 0 is too old"),
        (lambda b: b[:4] + (1).to_bytes(4, "little") + b[8:], "version 1 is too old"),
        (lambda b: b[:8] + (2**40).to_bytes(8, "little") + b[16:], "cannot fit"),  # tensor count
        (lambda b: b[:16] + (2**50).to_bytes(8, "little") + b[24:], "cannot fit"),  # metadata key count
    ],
)
def test_tiny_and_odd_headers_are_one_clear_error(tmp_path, make, says):
    path = tmp_path / "odd.gguf"
    path.write_bytes(bytes(make(_header_bytes(tmp_path))))
    with pytest.raises(ModelFileError, match=f"odd.gguf: .*{says}"):
        read_header(path)


def test_a_tensor_with_absurd_dimensions_is_refused_at_once(tmp_path):
    data = _header_bytes(tmp_path)
    at = data.index(b"token_embd.weight") + len(b"token_embd.weight")
    data[at : at + 4] = (0xFFFFFFFF).to_bytes(4, "little")  # its number of dimensions
    path = tmp_path / "dims.gguf"
    path.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match="4,294,967,295 dimensions"):
        read_header(path)


def test_a_fifo_is_refused_without_blocking(tmp_path):
    import os

    fifo = tmp_path / "x.gguf"
    os.mkfifo(fifo)
    with pytest.raises(ModelFileError, match="not a regular file"):
        read_header(fifo)  # an open() would wait for a writer forever


def test_mutated_headers_give_a_header_or_one_clear_error(tmp_path):
    """A corpus of 400 mutations of a real header (gguf-py's), seeded so a failure is
    reproducible: overwritten bytes, big counts and lengths, cuts. Every one gives a header
    or a ModelFileError naming the file, quickly, never another exception."""
    import random
    import struct
    import time

    seed = _header_bytes(tmp_path)
    rng = random.Random(16)
    path = tmp_path / "m.gguf"
    for case in range(400):
        data = bytearray(seed)
        for _ in range(rng.randint(1, 4)):
            at = rng.randrange(4, len(data) - 8)
            kind = rng.random()
            if kind < 0.4:
                data[at] = rng.randrange(256)
            elif kind < 0.8:  # a length or count field made huge, small or odd
                value = rng.choice([0, 1, 2**31, 2**32 - 1, 2**63, rng.randrange(2**64)])
                data[at : at + 8] = struct.pack("<Q", value)
            else:
                del data[at:]
                break
        path.write_bytes(bytes(data))
        start = time.perf_counter()
        try:
            read_header(path)
        except ModelFileError as exc:
            assert str(exc).startswith(str(path)) and "\n" not in str(exc), (case, exc)
        assert time.perf_counter() - start < 2, f"case {case} took too long"
