"""The llama.cpp backend (llama-cpp-python). Imported only inside a worker process."""

from __future__ import annotations

import codecs
import threading
import time
from collections.abc import Generator, Iterator, Sequence

from ...errors import BackendUnavailable, BenchError, FidelityError, ModelFileError
from ...models.info import ModelInfo
from ...models.templates import fallback_for
from ..events import Done, Event, Loaded, Started, Token, now_ns
from ..memory_split import llama_buffers, llama_placement
from ..metrics import answer_stats
from ..params import GenParams
from ..prompt import StopFilter
from ..scoring import TextTokens, vocab_digest
from ..speed import BenchRequest, BenchSample
from .base import Generating, Message
from .llama_handles import Handles
from .llama_sampling import captured_log, perf, reset_perf
from .llama_sampling import generate as sample_tokens


class LlamaCppBackend(Generating):
    def __init__(self, model: ModelInfo, params: GenParams):
        self.model = model
        self.params = params.validate()
        self.llm = None
        self._formatter = None
        self._stops: tuple[str, ...] = ()
        self._stop_ids: frozenset[int] = frozenset()
        self._eog_ids: list[int] | None = None
        self.note: str | None = None

    # ------------------------------------------------------------ load

    def load(self) -> Loaded:
        try:
            import llama_cpp
        except ImportError as exc:
            raise BackendUnavailable(f"llama-cpp-python is not installed ({exc}); run `make setup`") from None
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        if self.params.n_gpu_layers != 0 and not llama_cpp.llama_supports_gpu_offload():
            raise BackendUnavailable(no_gpu_offload(self.model.name, self.params.n_gpu_layers))
        threads = self.threads = self.params.threads or 1
        t0 = time.perf_counter()
        log: list[str] = []
        try:
            with captured_log(log):
                self.llm = llama_cpp.Llama(
                    model_path=self.model.path,
                    n_ctx=self.params.n_ctx,
                    n_threads=threads,
                    n_threads_batch=threads,
                    n_gpu_layers=self.params.n_gpu_layers,
                    seed=self.params.seed,
                    flash_attn=True,  # what llama-bench's default (auto) picks on CPU and on GPUs that have it
                    verbose=False,
                )
        except (ValueError, RuntimeError, OSError) as exc:
            cause = _load_error(log)  # llama.cpp says why in its log, not in the exception
            raise ModelFileError(f"{self.model.path}: llama.cpp could not load it: {cause or exc}") from None
        load_s = time.perf_counter() - t0
        self.h = Handles(self.llm)
        meta = self.llm.metadata or {}
        template = meta.get("tokenizer.chat_template")
        bos = self._token_text(self.llm.token_bos())
        eos = self._token_text(self.llm.token_eos())
        if template:
            self._formatter = Jinja2ChatFormatter(template=template, eos_token=eos, bos_token=bos)
            self._stops = (eos,) if eos else ()
        else:
            fallback = fallback_for(meta.get("general.architecture") or self.model.arch)
            self._formatter = Jinja2ChatFormatter(template=fallback.template, eos_token=eos, bos_token=bos)
            self._stops = fallback.stop
            self.note = (
                f"{self.model.name} has no chat template in its GGUF: using the {fallback.family} fallback template"
            )
        self._stop_ids = frozenset(self._single_token(s) for s in self._stops) - {None}
        return Loaded(load_s=load_s, n_ctx=self.n_ctx, threads=threads, note=self.note, buffers=llama_buffers(log),
                      placement=llama_placement(log) if llama_cpp.llama_supports_gpu_offload() else None,
                      setup=self.h.setup())  # fmt: skip

    RETUNES = True  # llama.cpp takes a new count between two decodes

    def set_threads(self, n: int) -> None:
        import llama_cpp

        if n != self.threads:
            llama_cpp.llama_set_n_threads(self.h.ctx, n, n)
            self.threads = n

    @property
    def n_ctx(self) -> int:
        # llama.cpp pads the context (to 256) but llama-cpp-python sizes its token
        # buffer by the request: the smaller of the two is the real limit.
        return min(self.params.n_ctx, self.llm.n_ctx())

    def _single_token(self, text: str) -> int | None:
        """The id of a stop string that is one special token (e.g. <end_of_turn>)."""
        ids = self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=True)
        return ids[0] if len(ids) == 1 else None

    def _end_ids(self) -> list[int]:
        """Every token the vocabulary marks as an end of generation, and the stop tokens:
        banned while ``ignore_eos`` holds (as llama.cpp's ``--ignore-eos`` does)."""
        import llama_cpp

        if self._eog_ids is None:  # once per model
            vocab = self.h.vocab
            ends = {i for i in range(self.llm.n_vocab()) if llama_cpp.llama_vocab_is_eog(vocab, i)}
            self._eog_ids = sorted(ends | self._stop_ids)
        return self._eog_ids

    def _token_text(self, token: int) -> str:
        if token is None or token < 0:
            return ""
        return self.llm.detokenize([token], special=True).decode("utf-8", errors="replace")

    # ------------------------------------------------------------ prompt

    def render(self, messages: Sequence[Message], raw: bool) -> tuple[str, bool]:
        """The prompt text and whether the tokenizer should add BOS."""
        if raw:
            return "".join(m["content"] for m in messages), True
        prompt = self._formatter(messages=list(messages)).prompt
        bos = self._formatter.bos_token
        return prompt, not (bos and prompt.startswith(bos))

    def tokenize(self, messages: Sequence[Message], raw: bool) -> list[int]:
        text, add_bos = self.render(messages, raw)
        return self.llm.tokenize(text.encode("utf-8"), add_bos=add_bos, special=not raw)

    # ------------------------------------------------------------ generate

    def _generate(self, messages, params: GenParams, cancel: threading.Event) -> Iterator[Event]:
        t_request = now_ns()
        tokens, passages_used, max_new = self._prompt(messages, params)
        yield Started(prompt_tokens=len(tokens), max_tokens=max_new, context_used=passages_used, t_ns=t_request)
        reset_perf(self)  # no prompt cache between runs: every answer pays its own prompt pass
        out = StopFilter(self._stops if not (params.raw or params.ignore_eos) else ())
        times: list[int] = []
        finish = (
            "cancelled" if cancel.is_set() else (yield from self._stream(tokens, params, max_new, cancel, times, out))
        )
        stats = answer_stats(t_request, len(tokens), times, now_ns()).replace(engine=perf(self))
        yield Done(text=out.text, stats=stats, finish_reason=finish)

    def _stream(
        self,
        tokens: list[int],
        params: GenParams,
        max_new: int,
        cancel: threading.Event,
        times: list[int],
        out: StopFilter,
    ) -> Generator[Token, None, str]:
        """Generate, yielding a Token per token (its time goes to ``times``, its text through
        ``out``, which holds back the stop strings); returns why it ended: stop, length or
        cancelled."""
        import llama_cpp

        vocab = self.h.vocab
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        stop_ids = self._stop_ids if not params.raw else frozenset()
        banned = self._end_ids() if params.ignore_eos else []
        finish = "length"
        for token, raw in sample_tokens(self, tokens, params, banned):
            t = now_ns()
            if token in stop_ids or llama_cpp.llama_vocab_is_eog(vocab, token):
                finish = "stop"
                break
            times.append(t)
            yield Token(out.feed(decoder.decode(raw)), t)
            if out.stopped:
                finish = "stop"
                break
            if len(times) >= max_new:
                break
            if cancel.is_set():
                finish = "cancelled"
                break
        out.feed(decoder.decode(b"", final=True))
        return finish

    # ------------------------------------------------------------ logits (fidelity)

    def encode(self, text: str, bos: bool = True) -> list[int]:
        """The ids of ``text``, BOS first when asked and the model adds one; special
        tokens in the text read as text."""
        import llama_cpp

        llm = self.llm
        add_bos = bos and llama_cpp.llama_vocab_get_add_bos(self.h.vocab)
        return [llm.token_bos()] * add_bos + llm.tokenize(text.encode("utf-8"), add_bos=False, special=False)

    def pieces(self, ids: Sequence[int]) -> list[str]:
        """Each id's text (special tokens by name)."""
        return [self.llm.detokenize([i], special=True).decode("utf-8", "replace") for i in ids]

    def detokenize(self, ids: Sequence[int]) -> str:
        return self.llm.detokenize(list(ids)).decode("utf-8", "replace")

    def text_tokens(self, text: str) -> TextTokens:
        import llama_cpp

        llm = self.llm
        add_bos = llama_cpp.llama_vocab_get_add_bos(self.h.vocab)
        ids = self.encode(text)
        kind = (llm.metadata or {}).get("tokenizer.ggml.model", "gguf")
        vocab = self.h.vocab
        return TextTokens(
            ids=ids,
            bos=llm.token_bos() if add_bos else None,
            n_vocab=llm.n_vocab(),
            n_ctx_train=self.h.n_ctx_train(),
            tokenizer=f"{self.model.name} ({kind} tokenizer in the GGUF, {llm.n_vocab():,} tokens)",
            vocab=vocab_digest(llama_cpp.llama_vocab_get_text(vocab, i) for i in range(llm.n_vocab())),
        )

    def logits(self, tokens: Sequence[int], first: int):
        """Float32 logits of positions ``first .. len(tokens)-2``, the chunk run from an empty
        cache in batches of n_batch (as llama-perplexity does)."""
        import llama_cpp
        import numpy as np

        llm = self.llm
        n = len(tokens)
        if n > self.n_ctx:
            raise FidelityError(f"{self.model.name}: a chunk of {n} tokens does not fit its context of {self.n_ctx}")
        n_vocab = llm.n_vocab()
        out = np.empty((n - 1 - first, n_vocab), dtype=np.float32)
        self.h.clear()
        batch, row = self.h.batch, 0
        for start in range(0, n, llm.n_batch):
            part = tokens[start : start + llm.n_batch]
            batch.n_tokens = len(part)
            wanted = 0
            for i, token in enumerate(part):
                pos = start + i
                batch.token[i], batch.pos[i], batch.n_seq_id[i] = token, pos, 1
                batch.seq_id[i][0] = 0
                batch.logits[i] = first <= pos < n - 1
                wanted += first <= pos < n - 1
            self.h.decode()
            if wanted:
                got = np.ctypeslib.as_array(llama_cpp.llama_get_logits(self.h.ctx), shape=(wanted, n_vocab))
                out[row : row + wanted] = got
                row += wanted
        return out

    # ------------------------------------------------------------ speed (llmbench bench)

    def bench(self, req: BenchRequest) -> BenchSample:
        """One llama-bench-style run: the depth filled untimed, then the prompt in batches
        of n_batch and the generated tokens one by one, each with only its last logits."""
        import llama_cpp

        t = req.test
        if t.context > self.n_ctx:
            raise BenchError(
                f"{self.model.name}: depth {t.depth} + prompt {t.n_prompt} + generation {t.n_gen} = {t.context:,} "
                f"tokens is over its context of {self.n_ctx:,} (--n-ctx)"
            )
        ids, h = req.text_ids, self.h
        h.clear()
        self._decode(ids[: t.depth], 0)
        llama_cpp.llama_synchronize(h.ctx)
        t0 = time.perf_counter_ns()
        first = None
        if t.n_prompt:
            self._decode(ids[t.depth : t.depth + t.n_prompt], t.depth)
            llama_cpp.llama_synchronize(h.ctx)
            first = time.perf_counter_ns()
        for pos in range(t.depth + t.n_prompt, t.context):
            self._decode(ids[pos : pos + 1], pos)
            llama_cpp.llama_synchronize(h.ctx)
            first = first or time.perf_counter_ns()
        end = time.perf_counter_ns()
        kv = llama_cpp.llama_memory_seq_pos_max(h.memory, 0) + 1 if h.memory is not None else t.context
        return BenchSample(ns=end - t0, first_ns=(first or end) - t0, kv_tokens=int(kv))

    def _decode(self, tokens: Sequence[int], start: int) -> None:
        """``tokens`` into the KV cache at positions ``start ..``, logits for the last only."""
        llm = self.llm
        batch = self.h.batch
        for at in range(0, len(tokens), llm.n_batch):
            part = tokens[at : at + llm.n_batch]
            batch.n_tokens = len(part)
            for i, token in enumerate(part):
                batch.token[i], batch.pos[i], batch.n_seq_id[i] = token, start + at + i, 1
                batch.seq_id[i][0] = 0
                batch.logits[i] = at + i == len(tokens) - 1
            self.h.decode()

    def close(self) -> None:
        if self.llm is not None:
            self.llm.close()
            self.llm = None


CUDA_REBUILD = 'CMAKE_ARGS="-DGGML_CUDA=on" make demo (README: Building for a GPU)'


def no_gpu_offload(name: str, n_gpu_layers: int) -> str:
    """Why a request for GPU layers is refused on a build without GPU support (it would
    otherwise run on the CPU without a word)."""
    asked = "all" if n_gpu_layers == -1 else str(n_gpu_layers)
    return (f"{name}: --n-gpu-layers {asked} asks for the GPU, but this llama.cpp build has no GPU support "
            f"(see llmbench doctor): rebuild with {CUDA_REBUILD}, or use --n-gpu-layers none")  # fmt: skip


def _load_error(log: list[str]) -> str | None:
    """The cause llama.cpp logged for a failed load (``error loading model: unknown model
    architecture: 'x'``), without its function-name prefix."""
    lines = [line.strip() for line in "".join(log).splitlines()]
    found = [line for line in lines if "error" in line.lower()] or [line for line in lines if "failed" in line.lower()]
    if not found:
        return None
    line = found[0]  # the first says the cause; the later ones that the load failed
    return line.split(": ", 1)[1] if line.startswith(("llama_", "gguf_")) and ": " in line else line
