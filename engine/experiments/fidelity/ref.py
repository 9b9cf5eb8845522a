"""A saved reference for ``llmbench fidelity`` (``--save-ref`` / ``--ref-file``):
llama-perplexity's ``--kl-divergence-base`` file, so that either tool reads the other's.

The layout (little-endian): ``_logits_``, uint32 n_ctx, int32 n_vocab, int32 n_chunk,
int32 tokens[n_ctx * n_chunk] (the text's token stream, BOS first when the model adds
one), then for each chunk and each scored position (n_ctx - 1 - n_ctx/2 of them) one
row of ``Stored.width`` uint16: the float32 scale and minimum log-probability, then
every logit as a uint16 step (exact to 16 nats / 65535 = 0.00024 nats).

llmbench appends what the format lacks after the data, where llama-perplexity does not
read: a JSON trailer (the model's SHA-256, the text's SHA-256, BOS, the tokenizer),
then its length as uint32 and ``llmbench``. A file with a trailer is checked against
the model, text and context it was made for; one without (made by llama-perplexity) is
checked by its context, vocabulary size and tokens.

The file is written to a temporary name chunk by chunk (the reference's worker writes
its own rows) and renamed when every chunk is in: a stopped run leaves no file.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ... import models
from ...errors import FidelityError, LlmbenchError
from ...models.info import ModelInfo
from ...runtime.scoring import Reference, Stored, TextTokens
from ...util.files import loads_json, output_error, part_path, sweep_parts

MAGIC = b"_logits_"
TRAILER_MAGIC = b"llmbench"
HEADER = struct.Struct("<8sIii")


def text_sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def model_digest(model: ModelInfo) -> str:
    """What identifies a model in a saved reference: its file's SHA-256, or for a model
    that is not one file (hf:), the SHA-256 of its spec."""
    from ...util.files import cached_sha256

    path = Path(model.path)
    if model.backend == "llama.cpp" and path.is_file():
        return cached_sha256(path)
    return hashlib.sha256(model.spec.encode("utf-8")).hexdigest()


@dataclass
class RefFile:
    path: Path
    n_ctx: int
    n_vocab: int
    n_chunk: int
    tokens: np.ndarray
    meta: dict = field(default_factory=dict)  # the trailer; empty for llama-perplexity's files

    @property
    def per_chunk(self) -> int:
        return self.n_ctx - 1 - self.n_ctx // 2

    @property
    def data_offset(self) -> int:
        return HEADER.size + 4 * self.n_ctx * self.n_chunk

    def stored(self, chunk: int) -> Stored:
        width = Stored(str(self.path), 0, 0, self.n_vocab).width
        offset = self.data_offset + chunk * self.per_chunk * width * 2
        return Stored(str(self.path), offset, self.per_chunk, self.n_vocab)

    @property
    def data_end(self) -> int:
        return self.stored(self.n_chunk).offset

    # ------------------------------------------------------------ writing

    @classmethod
    def create(cls, path: Path, n_ctx: int, tokens: TextTokens, n_chunk: int) -> RefFile:
        """A temporary file next to ``path`` with the header and tokens, sized for every chunk."""
        sweep_parts(path.parent, f"*{path.suffix}" if path.suffix else path.name)  # a killed run's partial
        tmp = part_path(path)
        ids = np.asarray(tokens.ids[: n_ctx * n_chunk], dtype=np.int32)
        ref = cls(tmp, n_ctx, tokens.n_vocab, n_chunk, ids)
        try:
            with tmp.open("wb") as fh:
                fh.write(HEADER.pack(MAGIC, n_ctx, tokens.n_vocab, n_chunk))
                fh.write(ids.tobytes())
                fh.truncate(ref.data_end)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise FidelityError(output_error(path, exc)) from None
        return ref

    def finish(self, path: Path, meta: dict) -> None:
        """Append the trailer and give the file its name."""
        blob = json.dumps(meta).encode("utf-8")
        try:
            with self.path.open("ab") as fh:
                fh.write(blob + struct.pack("<I", len(blob)) + TRAILER_MAGIC)
            os.replace(self.path, path)
        except OSError as exc:
            self.discard()
            raise FidelityError(output_error(path, exc)) from None
        self.path, self.meta = path, meta

    def discard(self) -> None:
        self.path.unlink(missing_ok=True)

    @staticmethod
    def meta_for(side, tokens: TextTokens, text) -> dict:
        model = side.model
        return {
            "model": {
                "spec": side.spec,
                "name": model.name,
                "quant": model.quant,
                "backend": model.backend,
                "digest": model_digest(model),
            },  # fmt: skip
            "text": {"sha256": text.sha256, "label": text.label},
            "bos": tokens.bos,
            "n_ctx_train": tokens.n_ctx_train,
            "tokenizer": tokens.tokenizer,
            "vocab": tokens.vocab,
        }

    # ------------------------------------------------------------ reading

    @classmethod
    def load(cls, path: str | Path) -> RefFile:
        p = Path(path).expanduser()
        if not p.is_file():
            raise FidelityError(f"{p}: no such file" if not p.exists() else f"{p}: not a regular file")
        size = p.stat().st_size
        try:
            with p.open("rb") as fh:
                magic, n_ctx, n_vocab, n_chunk = HEADER.unpack(fh.read(HEADER.size))
                if magic != MAGIC or not (16 <= n_ctx <= 1 << 20 and 0 < n_vocab <= 1 << 24 and 0 < n_chunk):
                    raise ValueError
                if HEADER.size + 4 * n_ctx * n_chunk > size:
                    raise ValueError
                tokens = np.frombuffer(fh.read(4 * n_ctx * n_chunk), dtype="<i4")
        except (OSError, ValueError, struct.error):
            raise FidelityError(f"{p}: not a reference saved by llmbench or llama-perplexity") from None
        ref = cls(p, n_ctx, n_vocab, n_chunk, tokens)
        if ref.data_end > size:
            raise FidelityError(f"{p}: cut short: {size:,} bytes of the {ref.data_end:,} its header promises")
        ref.meta = _trailer(p, ref.data_end, size)
        return ref

    def check(self, spec: str, text, ctx: int, tokens: TextTokens | None) -> None:
        """Refuse a file made for another model, text or context. ``tokens``: how a
        candidate reads the text (what a file without a trailer is checked against)."""
        if self.n_ctx != ctx:
            raise FidelityError(f"{self.path}: made with --ctx {self.n_ctx}, not {ctx}")
        m = self.meta
        if m:
            if m["text"]["sha256"] != text.sha256:
                raise FidelityError(f"{self.path}: made for another text ({m['text']['label']}), not {text.label}")
            try:
                digest = model_digest(models.resolve(spec))
            except LlmbenchError as exc:
                raise FidelityError(f"{self.path}: cannot check it against the reference model ({exc})") from None
            if digest != m["model"]["digest"]:
                raise FidelityError(f"{self.path}: made for {m['model']['spec']} ({m['model']['name']}), not {spec}")
        elif tokens is not None and list(tokens.ids[: len(self.tokens)]) != self.tokens.tolist():
            raise FidelityError(f"{self.path}: made for another text (its tokens differ from {text.label}'s)")

    def text_tokens(self, fallback: TextTokens | None) -> TextTokens:
        """The token stream the file was made with; BOS and vocabulary from its trailer,
        or for a llama-perplexity file from ``fallback`` (a candidate's)."""
        m = self.meta
        return TextTokens(
            ids=self.tokens.tolist(),
            bos=m["bos"] if m else (fallback.bos if fallback else None),
            n_vocab=self.n_vocab,
            n_ctx_train=m.get("n_ctx_train") if m else None,
            tokenizer=m.get("tokenizer") if m else f"{self.path.name} (made by llama-perplexity)",
            vocab=m["vocab"] if m else (fallback.vocab if fallback else ""),
        )

    def reference(self, chunk: int) -> Reference:
        return Reference(stored=self.stored(chunk))


def _trailer(path: Path, data_end: int, size: int) -> dict:
    """The JSON that llmbench appends after the data, or {} for a file without one."""
    if size < data_end + 12:
        return {}
    try:
        with path.open("rb") as fh:
            fh.seek(size - 12)
            (length,) = struct.unpack("<I", fh.read(4))
            if fh.read(8) != TRAILER_MAGIC or data_end + length + 12 != size:
                return {}
            fh.seek(data_end)
            meta = loads_json(fh.read(length).decode("utf-8"))
    except (OSError, ValueError, UnicodeDecodeError, struct.error):
        raise FidelityError(f"{path}: its llmbench trailer is damaged") from None
    complete = (
        isinstance(meta, dict)
        and all(k in meta for k in ("bos", "tokenizer", "vocab"))
        and isinstance(meta.get("model"), dict)
        and all(isinstance(meta["model"].get(k), str) for k in ("spec", "digest"))
        and isinstance(meta.get("text"), dict)
        and all(isinstance(meta["text"].get(k), str) for k in ("sha256", "label"))
    )
    if not complete:
        raise FidelityError(f"{path}: its llmbench trailer is damaged")
    return meta
