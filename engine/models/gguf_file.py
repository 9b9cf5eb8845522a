"""A fast GGUF header reader: metadata and the tensor table, never the weights.

gguf-py's GGUFReader builds a numpy view of every array element, which takes ~10 s
for a 49k-token vocabulary. This reader walks the header with ``struct`` over a
memory map instead, keeping scalar metadata and a summary of long arrays, so any
file is read in milliseconds. gguf-py is used only for its constant tables.
"""

from __future__ import annotations

import mmap
import struct
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ModelFileError

GGUF_MAGIC = b"GGUF"
DEFAULT_ALIGNMENT = 32
ARRAY_KEEP = 64  # arrays up to this many elements are kept whole
MAX_DIMS = 4  # GGML_MAX_DIMS: a tensor of more dimensions is a corrupt header
MIN_KV_BYTES = 8 + 4 + 1  # the smallest metadata entry: key length, type, a one-byte value
MIN_TENSOR_BYTES = 8 + 4 + 4 + 8  # the smallest tensor entry: name length, dims, type, offset

# GGUF metadata value types -> struct format (None: string, array)
_SCALAR = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}
_STRING, _ARRAY = 8, 9


@dataclass(frozen=True)
class ArraySummary:
    """A metadata array too long to keep: its element type and length."""

    type: str
    count: int


@dataclass(frozen=True)
class TensorInfo:
    name: str
    shape: tuple[int, ...]
    ggml_type: str
    offset: int
    n_bytes: int

    @property
    def n_elements(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n


@dataclass(frozen=True)
class GGUFHeader:
    path: str
    size_bytes: int
    version: int
    metadata: dict[str, Any]
    tensors: list[TensorInfo] = field(repr=False)
    data_offset: int = 0

    @property
    def arch(self) -> str | None:
        return self.metadata.get("general.architecture")

    @property
    def name(self) -> str | None:
        return self.metadata.get("general.name")

    @property
    def has_chat_template(self) -> bool:
        return bool(self.metadata.get("tokenizer.chat_template"))

    @property
    def context_length(self) -> int | None:
        value = self.metadata.get(f"{self.arch}.context_length") if self.arch else None
        return int(value) if isinstance(value, (int, float)) else None

    @property
    def tensor_types(self) -> Counter:
        return Counter(t.ggml_type for t in self.tensors)

    @property
    def quant(self) -> str | None:
        return quant_name(self.metadata.get("general.file_type"), self.tensor_types)


def quant_name(file_type: Any, tensor_types: Counter) -> str | None:
    """The llama.cpp name of a GGUF's quantization: Q4_1, Q4_K_M, F16 ..."""
    from gguf import LlamaFileType

    if isinstance(file_type, int):
        try:
            return LlamaFileType(file_type).name.removeprefix("MOSTLY_").removeprefix("ALL_")
        except ValueError:
            pass
    if tensor_types:  # no usable file_type: the most common type among the tensors
        return tensor_types.most_common(1)[0][0]
    return None


class _Cursor:
    def __init__(self, buf, path: Path, endian: str = "<"):
        self.buf, self.pos, self.path, self.e = buf, 0, path, endian

    def take(self, fmt: str):
        size = struct.calcsize(fmt)
        if self.pos + size > len(self.buf):
            raise ModelFileError(f"{self.path}: truncated GGUF: the header ends at byte {len(self.buf):,}")
        (value,) = struct.unpack_from(self.e + fmt, self.buf, self.pos)
        self.pos += size
        return value

    def string(self) -> str:
        n = self.take("Q")
        if self.pos + n > len(self.buf):
            raise ModelFileError(f"{self.path}: truncated GGUF: a string runs past the end of the file")
        raw = bytes(self.buf[self.pos : self.pos + n])
        self.pos += n
        return raw.decode("utf-8", errors="replace")

    def value(self, vtype: int) -> Any:
        if vtype in _SCALAR:
            return self.take(_SCALAR[vtype])
        if vtype == _STRING:
            return self.string()
        if vtype == _ARRAY:
            etype, count = self.take("I"), self.take("Q")
            least = struct.calcsize(_SCALAR[etype]) if etype in _SCALAR else 8 if etype == _STRING else 12
            if count * least > len(self.buf) - self.pos:  # refused before a loop of that length
                raise ModelFileError(
                    f"{self.path}: corrupt GGUF: an array of {count:,} elements cannot fit in the file"
                )
            if count <= ARRAY_KEEP:
                return [self.value(etype) for _ in range(count)]
            if etype in _SCALAR:  # skip without parsing
                self.pos += struct.calcsize(_SCALAR[etype]) * count
                if self.pos > len(self.buf):
                    raise ModelFileError(f"{self.path}: truncated GGUF: an array runs past the end of the file")
            elif etype == _STRING:  # skip the strings without decoding them: the hot path
                unpack, buf, pos, fmt = struct.unpack_from, self.buf, self.pos, self.e + "Q"
                try:
                    for _ in range(count):
                        pos += 8 + unpack(fmt, buf, pos)[0]
                except (struct.error, OverflowError):  # a length past the end, or past any offset
                    pos = len(buf) + 1
                if pos > len(buf):
                    raise ModelFileError(f"{self.path}: truncated GGUF: an array runs past the end of the file")
                self.pos = pos
            else:
                for _ in range(count):
                    self.value(etype)
            return ArraySummary(_type_name(etype), count)
        raise ModelFileError(f"{self.path}: corrupt GGUF: unknown metadata value type {vtype}")


def _type_name(vtype: int) -> str:
    names = {
        0: "u8",
        1: "i8",
        2: "u16",
        3: "i16",
        4: "u32",
        5: "i32",
        6: "f32",
        7: "bool",
        8: "str",
        9: "array",
        10: "u64",
        11: "i64",
        12: "f64",
    }
    return names.get(vtype, f"type{vtype}")


def type_bits(ggml_type: str) -> float:
    """Bits per weight of a ggml type, scales included (Q4_K: 4.5, Q8_0: 8.5)."""
    from gguf import GGML_QUANT_SIZES, GGMLQuantizationType

    block, size = GGML_QUANT_SIZES[GGMLQuantizationType[ggml_type]]
    return size * 8 / block


def _tensor_bytes(ggml_type: int, n_elements: int, path: Path) -> tuple[str, int]:
    from gguf import GGML_QUANT_SIZES, GGMLQuantizationType

    try:
        qtype = GGMLQuantizationType(ggml_type)
        block, type_size = GGML_QUANT_SIZES[qtype]
    except (ValueError, KeyError):
        raise ModelFileError(f"{path}: unsupported tensor type {ggml_type} (newer than this gguf library?)") from None
    return qtype.name, n_elements // block * type_size


def read_header(path: str | Path) -> GGUFHeader:
    """Validate that ``path`` is a complete GGUF file and read its header."""
    p = Path(path).expanduser()
    if not p.exists():
        raise ModelFileError(f"{p}: no such file")
    if p.is_dir():
        raise ModelFileError(f"{p}: is a folder, not a GGUF file")
    if not p.is_file():  # a FIFO would block the open forever, a device read without end
        raise ModelFileError(f"{p}: not a regular file (a pipe, socket or device), so not a GGUF file")
    size = p.stat().st_size
    with p.open("rb") as fh:
        magic = fh.read(4)
        if magic != GGUF_MAGIC:
            shown = magic if magic else b"(empty file)"
            raise ModelFileError(f"{p}: not a GGUF file (it starts with {shown!r}, expected b'GGUF')")
        with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
            return _parse(memoryview(mm), p, size)


def _parse(buf, p: Path, size: int) -> GGUFHeader:
    cur = _Cursor(buf, p)
    cur.pos = 4
    try:  # the view is released however the header ends (else closing the map raises BufferError)
        version = cur.take("I")
        if version > 0xFFFF:  # a big-endian file
            cur.e, cur.pos = ">", 4
            version = cur.take("I")
        if version < 2:
            raise ModelFileError(f"{p}: GGUF version {version} is too old (2 or newer is supported)")
        n_tensors, n_kv = cur.take("Q"), cur.take("Q")
        room = size - cur.pos  # each entry takes bytes: a count the file cannot hold is refused at once
        if n_kv * MIN_KV_BYTES > room or n_tensors * MIN_TENSOR_BYTES > room:
            raise ModelFileError(
                f"{p}: truncated GGUF (or a corrupt count): {n_kv:,} metadata keys and {n_tensors:,} tensors "
                f"cannot fit in {size:,} bytes"
            )
        metadata: dict[str, Any] = {}
        for _ in range(n_kv):
            key = cur.string()
            metadata[key] = cur.value(cur.take("I"))
        infos = []
        for _ in range(n_tensors):
            name = cur.string()
            n_dims = cur.take("I")
            if n_dims > MAX_DIMS:
                raise ModelFileError(
                    f"{p}: corrupt GGUF: tensor {name!r} has {n_dims:,} dimensions (at most {MAX_DIMS})"
                )
            shape = tuple(cur.take("Q") for _ in range(n_dims))
            ggml_type, offset = cur.take("I"), cur.take("Q")
            n = 1
            for d in shape:
                n *= d
            type_name, n_bytes = _tensor_bytes(ggml_type, n, p)
            infos.append(TensorInfo(name, shape, type_name, offset, n_bytes))
    finally:
        buf.release()
    align = metadata.get("general.alignment", DEFAULT_ALIGNMENT)
    align = align if isinstance(align, int) and align > 0 else DEFAULT_ALIGNMENT
    data_offset = -(-cur.pos // align) * align
    if infos:
        end = data_offset + max(t.offset + t.n_bytes for t in infos)
        if end > size:
            raise ModelFileError(f"{p}: truncated GGUF: tensor data needs {end:,} bytes but the file has {size:,}")
    return GGUFHeader(str(p), size, version, metadata, infos, data_offset)
