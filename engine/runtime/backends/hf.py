"""The Hugging Face backend (transformers). Imported only inside a worker process.

``hf:PATH?dtype=..&quant=..&device_map=..``: a model folder or a GGUF that
transformers dequantizes (see ``hf_load``), in full precision or quantized at load
time. ``model.generate`` runs in a thread and streams through a
``TextIteratorStreamer`` that hands over one piece per token with its timestamp;
a ``StoppingCriteria`` ends it on cancel, on a stop string or at the context's end.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Generator, Iterator, Sequence

from ...errors import BenchError, FidelityError, LlmbenchError, ModelFileError, first_line
from ...models.info import ModelInfo
from ...models.templates import fallback_for
from ...util.fmt import MIB
from ..events import Done, Event, Loaded, Started, Token, now_ns
from ..metrics import answer_stats
from ..params import GenParams
from ..prompt import StopFilter
from ..scoring import TextTokens, vocab_digest
from ..speed import BenchRequest, BenchSample
from .base import Generating, Message

_END = object()  # what the streamer queues after the last token


def _streamer_class():
    from transformers import TextIteratorStreamer

    class TokenStreamer(TextIteratorStreamer):
        """One (text, t_ns) per generated token; text is "" while a character is incomplete."""

        def put(self, value) -> None:
            if self.skip_prompt and self.next_tokens_are_prompt:
                self.next_tokens_are_prompt = False
                return
            t = now_ns()
            ids = value.reshape(-1).tolist()
            if all(i in self.special_ids for i in ids):
                return  # EOS and friends end the answer; they are not part of it
            self.token_cache.extend(ids)
            text = self.tokenizer.decode(self.token_cache, **self.decode_kwargs)
            piece = "" if text.endswith("\ufffd") else text[self.print_len :]
            self.print_len += len(piece)
            self.text_queue.put((piece, t), timeout=self.timeout)

        @property
        def special_ids(self) -> set[int]:
            if not hasattr(self, "_special"):
                self._special = set(self.tokenizer.all_special_ids)
            return self._special

        def end(self) -> None:
            text = self.tokenizer.decode(self.token_cache, **self.decode_kwargs) if self.token_cache else ""
            rest = text[self.print_len :]
            if rest:
                self.text_queue.put((rest, None), timeout=self.timeout)
            self.text_queue.put(_END, timeout=self.timeout)

    return TokenStreamer


class HFBackend(Generating):
    def __init__(self, model: ModelInfo, params: GenParams):
        self.model = model
        self.params = params.validate()
        self.hf = None
        self.tokenizer = None
        self.device = "cpu"
        self._template: str | None = None
        self._stops: tuple[str, ...] = ()
        self.note: str | None = None

    # ------------------------------------------------------------ load

    def load(self) -> Loaded:
        from ...models.hf_load import check_runnable, load_model, parse_hf_spec, transformers

        spec = parse_hf_spec(self.model.spec)
        tf = transformers()
        import torch

        threads = self.threads = self.params.threads or torch.get_num_threads()
        torch.set_num_threads(threads)
        check_runnable(spec)
        t0 = time.perf_counter()
        loaded = load_model(spec)
        try:
            self.tokenizer = tf.AutoTokenizer.from_pretrained(
                loaded.folder, local_files_only=True, trust_remote_code=spec.trust_remote_code
            )
        except (OSError, ValueError, KeyError) as exc:
            raise ModelFileError(f"{loaded.folder}: no usable tokenizer ({first_line(exc)})") from None
        load_s = time.perf_counter() - t0
        self.hf = loaded.model
        self.device = str(next(self.hf.parameters()).device)
        notes = list(loaded.notes)
        if not getattr(self.tokenizer, "chat_template", None):
            fallback = fallback_for(getattr(self.hf.config, "model_type", None))
            self._template, self._stops = fallback.template, fallback.stop
            notes.append(f"{self.model.name} has no chat template: using the {fallback.family} fallback template")
        self.note = "; ".join(notes) or None
        placement = hf_placement(self.hf) if spec.device_map != "cpu" else None  # asked for a GPU, or auto
        return Loaded(load_s=load_s, n_ctx=self.n_ctx, threads=threads, note=self.note, placement=placement)

    def set_threads(self, n: int) -> None:
        """Before a request (torch's pool is not resized while generate runs in its thread)."""
        import torch

        if n != self.threads:
            torch.set_num_threads(n)
            self.threads = n

    @property
    def n_ctx(self) -> int:
        limit = getattr(self.hf.config, "max_position_embeddings", None) or self.params.n_ctx
        return min(self.params.n_ctx, limit)

    # ------------------------------------------------------------ prompt

    def tokenize(self, messages: Sequence[Message], raw: bool) -> list[int]:
        tok = self.tokenizer
        if raw:
            return tok("".join(m["content"] for m in messages))["input_ids"]
        text = tok.apply_chat_template(
            list(messages), chat_template=self._template, add_generation_prompt=True, tokenize=False
        )
        bos = tok.bos_token
        return tok(text, add_special_tokens=not (bos and text.startswith(bos)))["input_ids"]

    # ------------------------------------------------------------ generate

    def _generate(self, messages, params: GenParams, cancel: threading.Event) -> Iterator[Event]:
        import torch

        t_request = now_ns()
        ids, used, max_new = self._prompt(messages, params)
        yield Started(prompt_tokens=len(ids), max_tokens=max_new, context_used=used, t_ns=t_request)
        stop_now = threading.Event()
        streamer = _streamer_class()(self.tokenizer, skip_prompt=True, timeout=None, skip_special_tokens=True)
        kwargs = self._generate_kwargs(ids, params, max_new, streamer, lambda: cancel.is_set() or stop_now.is_set())
        failure: list[BaseException] = []

        def run() -> None:
            try:
                torch.manual_seed(params.seed)
                with torch.inference_mode():
                    self.hf.generate(**kwargs)
            except BaseException as exc:  # noqa: BLE001 - reported below as one line
                failure.append(exc)
                streamer.text_queue.put(_END)

        if self.device.startswith("cuda"):
            torch.cuda.reset_peak_memory_stats()
        worker = threading.Thread(target=run, name="hf-generate", daemon=True)
        worker.start()
        times: list[int] = []
        out = StopFilter(self._stops if not (params.raw or params.ignore_eos) else ())
        finish = yield from _stream(streamer, stop_now, times, out)
        worker.join()
        if failure:
            exc = failure[0]
            raise LlmbenchError(f"{self.model.name}: generation failed ({type(exc).__name__}: {first_line(exc)})")
        if cancel.is_set():
            finish = "cancelled"
        elif finish != "stop" and len(times) < max_new:
            finish = "stop"  # the model ended its answer (EOS)
        stats = answer_stats(t_request, len(ids), times, now_ns())
        if self.device.startswith("cuda"):
            stats = stats.replace(cuda_max_alloc_mib=torch.cuda.max_memory_allocated() / MIB)
        yield Done(text=out.text, stats=stats, finish_reason=finish)

    def _generate_kwargs(self, ids: list[int], params: GenParams, max_new: int, streamer, stop) -> dict:
        """``model.generate``'s arguments: sampling (greedy at temperature 0), the streamer,
        and a stopping criterion that asks ``stop()`` after every step."""
        import torch
        from transformers import StoppingCriteria, StoppingCriteriaList

        class Stop(StoppingCriteria):
            def __call__(self, input_ids, scores, **kwargs):
                return stop()

        sampling = (
            {"do_sample": True, "temperature": params.temperature, "top_p": params.top_p, "top_k": params.top_k or None}
            if params.temperature > 0
            else {"do_sample": False, "temperature": None, "top_p": None, "top_k": None}
        )
        input_ids = torch.tensor([ids], device=self.device)
        kwargs = dict(
            input_ids=input_ids,
            attention_mask=torch.ones_like(input_ids),
            max_new_tokens=max_new,
            streamer=streamer,
            stopping_criteria=StoppingCriteriaList([Stop()]),
            repetition_penalty=params.repeat_penalty,
            pad_token_id=self.tokenizer.pad_token_id or self.tokenizer.eos_token_id,
            **sampling,
        )
        if params.ignore_eos:  # end-of-sequence suppressed until max_new tokens are out
            kwargs["min_new_tokens"] = max_new
        return kwargs

    # ------------------------------------------------------------ logits (fidelity)

    def _adds_bos(self) -> bool:
        tok = self.tokenizer
        bos = tok.bos_token_id
        return bos is not None and tok("a", add_special_tokens=True)["input_ids"][:1] == [bos]

    def encode(self, text: str, bos: bool = True) -> list[int]:
        """The ids of ``text``, BOS first when asked and the tokenizer adds one."""
        tok = self.tokenizer
        return [tok.bos_token_id] * (bos and self._adds_bos()) + list(tok(text, add_special_tokens=False)["input_ids"])

    def pieces(self, ids: Sequence[int]) -> list[str]:
        """Each id's text."""
        return [self.tokenizer.decode([i]) for i in ids]

    def detokenize(self, ids: Sequence[int]) -> str:
        return self.tokenizer.decode(list(ids))

    def text_tokens(self, text: str) -> TextTokens:
        tok = self.tokenizer
        bos = tok.bos_token_id
        adds_bos = self._adds_bos()
        ids = self.encode(text)
        n_vocab = int(self.hf.get_output_embeddings().weight.shape[0])
        return TextTokens(
            ids=list(ids),
            bos=bos if adds_bos else None,
            n_vocab=n_vocab,
            n_ctx_train=getattr(self.hf.config, "max_position_embeddings", None),
            tokenizer=f"{self.model.name} ({type(tok).__name__}, {len(tok):,} tokens)",
            vocab=vocab_digest(tok.convert_ids_to_tokens(list(range(min(len(tok), n_vocab))))),
        )

    def logits(self, tokens: Sequence[int], first: int):
        """Float32 logits of positions ``first .. len(tokens)-2``: one forward pass, the
        output head run on those positions only."""
        import torch

        n = len(tokens)
        if n > self.n_ctx:
            raise FidelityError(f"{self.model.name}: a chunk of {n} tokens does not fit its context of {self.n_ctx}")
        ids = torch.tensor([list(tokens)], device=self.device)
        with torch.inference_mode():
            out = self.hf(input_ids=ids, attention_mask=torch.ones_like(ids), logits_to_keep=n - first)
        return out.logits[0, :-1].float().cpu().numpy()

    def bench(self, req: BenchRequest) -> BenchSample:
        """One llama-bench-style run under transformers: the depth in one untimed forward,
        then the prompt in one forward and each generated token in its own, on the cache."""
        import torch

        t = req.test
        if t.context > self.n_ctx:
            raise BenchError(
                f"{self.model.name}: depth {t.depth} + prompt {t.n_prompt} + generation {t.n_gen} = {t.context:,} "
                f"tokens is over its context of {self.n_ctx:,} (--n-ctx)"
            )
        ids = torch.tensor([list(req.text_ids[: t.context])], device=self.device)
        sync = torch.cuda.synchronize if self.device.startswith("cuda") else (lambda: None)
        past = None

        def step(a: int, b: int):
            out = self.hf(input_ids=ids[:, a:b], past_key_values=past, use_cache=True, logits_to_keep=1)
            return out.past_key_values

        with torch.inference_mode():
            if t.depth:
                past = step(0, t.depth)
            sync()
            t0 = time.perf_counter_ns()
            first = None
            if t.n_prompt:
                past = step(t.depth, t.depth + t.n_prompt)
                sync()
                first = time.perf_counter_ns()
            for pos in range(t.depth + t.n_prompt, t.context):
                past = step(pos, pos + 1)
                sync()
                first = first or time.perf_counter_ns()
            end = time.perf_counter_ns()
        kv = past.get_seq_length() if past is not None else 0
        return BenchSample(ns=end - t0, first_ns=(first or end) - t0, kv_tokens=int(kv))

    def close(self) -> None:
        self.hf = None
        self.tokenizer = None


def _stream(streamer, stop_now: threading.Event, times: list[int], out: StopFilter) -> Generator[Token, None, str]:
    """The streamer's pieces as Token events (their times go to ``times``, their texts through
    ``out``, which holds back the stop strings) until generation ends; "stop" when a stop
    string ended it, else "length"."""
    finish = "length"
    while (item := streamer.text_queue.get()) is not _END:
        if stop_now.is_set():
            continue  # drain what the last step still produced
        piece, t = item
        if t is None:  # the decoder's last characters, no new token
            out.feed(piece)
            continue
        times.append(t)
        yield Token(out.feed(piece), t)
        if out.stopped:
            finish = "stop"
            stop_now.set()
    return finish


def hf_placement(model) -> str:
    """Where a transformers model's weights are, by share of parameters: ``GPU (cuda:0)``,
    ``CPU``, or ``cuda:0 82% · cpu 18%`` when device_map split it."""
    sizes: dict[str, int] = {}
    for param in model.parameters():
        sizes[str(param.device)] = sizes.get(str(param.device), 0) + param.numel()
    if len(sizes) == 1:
        (device,) = sizes
        return "CPU" if device == "cpu" else f"GPU ({device})"
    total = sum(sizes.values()) or 1
    return " · ".join(f"{d} {n / total:.0%}" for d, n in sorted(sizes.items(), key=lambda kv: -kv[1]))
