"""Plain data that crosses process boundaries: specs, parameters and backend events."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Union

from .errors import ParamError


def now_ns() -> int:
    """Monotonic clock shared by every process on the machine (CLOCK_MONOTONIC)."""
    return time.monotonic_ns()


def gpu_layers(text: str | int) -> int:
    """``all`` (-1), ``none`` (0) or a number of layers to offload to the GPU."""
    value = str(text).strip().lower()
    if value in ("all", "-1"):
        return -1
    if value in ("none", ""):
        return 0
    try:
        n = int(value)
    except ValueError:
        raise ParamError(f"n_gpu_layers: {text!r} is not all, none or a number of layers") from None
    if n < -1:
        raise ParamError(f"n_gpu_layers must be all, none or 0 or more, got {n}")
    return n


@dataclass(frozen=True)
class GenParams:
    """Load and sampling parameters of one contestant."""

    temperature: float = 0.7
    top_p: float = 0.95
    top_k: int = 40
    repeat_penalty: float = 1.1
    max_tokens: int = 256
    n_ctx: int = 2048
    seed: int = 42
    threads: int | None = None  # None: chosen from the cores and the duel mode
    n_gpu_layers: int = 0  # -1 offloads every layer
    raw: bool = False  # plain completion, no chat template
    force: bool = False  # load even when the memory estimate says it will not fit (engine.fits)

    def validate(self) -> "GenParams":
        checks = [
            (self.n_ctx > 0, f"n_ctx must be a positive number of tokens, got {self.n_ctx}"),
            (self.max_tokens > 0, f"max_tokens must be at least 1, got {self.max_tokens}"),
            (self.temperature >= 0, f"temperature must be 0 or more, got {self.temperature}"),
            (0 < self.top_p <= 1, f"top_p must be in (0, 1], got {self.top_p}"),
            (self.top_k >= 0, f"top_k must be 0 or more, got {self.top_k}"),
            (self.repeat_penalty > 0, f"repeat_penalty must be positive, got {self.repeat_penalty}"),
            (self.threads is None or self.threads > 0, f"threads must be at least 1, got {self.threads}"),
            (self.n_gpu_layers >= -1, f"n_gpu_layers must be -1 (all), 0 or more, got {self.n_gpu_layers}"),
            (self.seed >= 0, f"seed must be 0 or more, got {self.seed}"),
        ]
        for ok, message in checks:
            if not ok:
                raise ParamError(message)
        return self

    def replace(self, **changes: Any) -> "GenParams":
        data = asdict(self)
        data.update(changes)
        return GenParams(**data)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "GenParams":
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


@dataclass(frozen=True)
class ModelInfo:
    """A resolved model: what a spec names, and the identity recorded in sessions."""

    spec: str
    name: str
    backend: str
    path: str
    size_bytes: int
    quant: str | None = None
    arch: str | None = None
    has_chat_template: bool = False
    sha256: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def title(self) -> str:
        """The name, with the quantization when the name does not already say it."""
        return self.name if not self.quant or self.quant in self.name else f"{self.name} {self.quant}"


@dataclass(frozen=True)
class Stats:
    """What one answer cost. Definitions live in the README ("Stats")."""

    load_s: float | None = None
    prompt_tokens: int | None = None
    ttft_ms: float | None = None
    prompt_tok_s: float | None = None
    gen_tokens: int = 0
    gen_tok_s: float | None = None
    total_s: float | None = None
    peak_rss_mib: float | None = None
    peak_gpu_mib: float | None = None
    mean_cpu_percent: float | None = None
    cuda_max_alloc_mib: float | None = None  # torch.cuda.max_memory_allocated (HF on CUDA)
    server: dict | None = None  # what a remote server reported itself (usage, timings)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def replace(self, **changes: Any) -> "Stats":
        data = asdict(self)
        data.update(changes)
        return Stats(**data)


# Events a backend yields, in this order: Loaded once, then per request
# PromptEvaluated? Token* and exactly one Done or Error. Resources come from the
# parent's sampler, interleaved.


@dataclass(frozen=True)
class Loaded:
    load_s: float
    n_ctx: int
    threads: int
    note: str | None = None  # e.g. "no chat template: using the gemma fallback"
    t_ns: int = field(default_factory=now_ns)


@dataclass(frozen=True)
class Started:
    """The request was accepted; the prompt is this many tokens long."""

    prompt_tokens: int | None  # None: a remote server counts them (in its usage, if it reports one)
    max_tokens: int
    context_used: int | None = None  # passages that fit the context (RAG requests only)
    t_ns: int = field(default_factory=now_ns)


@dataclass(frozen=True)
class Token:
    text: str  # may be "" while a multi-byte character is incomplete
    t_ns: int


@dataclass(frozen=True)
class Done:
    text: str
    stats: Stats
    finish_reason: str  # "stop", "length" or "cancelled"
    t_ns: int = field(default_factory=now_ns)


@dataclass(frozen=True)
class Error:
    message: str
    code: str = "error"
    t_ns: int = field(default_factory=now_ns)


@dataclass(frozen=True)
class Resources:
    """One sample of a worker process, taken by the parent."""

    rss_bytes: int
    cpu_percent: float
    gpu_bytes: int | None = None
    t_ns: int = field(default_factory=now_ns)


Event = Union[Loaded, Started, Token, Done, Error, Resources]
