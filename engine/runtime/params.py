"""The generation parameters, described once: name, type, range, default and help.

``GenParams`` is the value that travels to a worker and into a session's header.
Each field carries a ``Param`` in its metadata; the CLI's options, the TUI's
settings form and ``GenParams.validate`` are all built from those descriptions, so
a new parameter is one new field here.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from ..errors import ParamError


@dataclass(frozen=True)
class Param:
    """How one parameter is typed, checked and explained."""

    help: str
    kind: type  # int, float or bool
    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False  # the value must be above ``lo`` (not equal to it)
    auto: bool = False  # None means "chosen for you"; typed as "auto" or left empty
    words: tuple[tuple[str, int], ...] = ()  # names for values, e.g. ("all", -1)
    rule: str = ""  # the range in words, when the generated one says it badly
    aliases: tuple[str, ...] = ()  # more CLI flags
    metavar: str | None = None

    def rule_text(self) -> str:
        if self.rule:
            return self.rule
        if self.lo is not None and self.hi is not None:
            return f"in {'(' if self.lo_open else '['}{self.lo:g}, {self.hi:g}]"
        if self.lo is not None:
            if self.lo_open:
                return "positive" if self.lo == 0 else f"more than {self.lo:g}"
            return "0 or more" if self.lo == 0 else f"at least {self.lo:g}"
        return ""

    def check(self, name: str, value: Any) -> None:
        if value is None and self.auto or self.kind is bool:
            return
        ok = True
        if self.lo is not None:
            ok = value > self.lo if self.lo_open else value >= self.lo
        if self.hi is not None:
            ok = ok and value <= self.hi
        if not ok:
            raise ParamError(f"{name} must be {self.rule_text()}, got {value}")

    def parse(self, name: str, text: str) -> Any:
        """A value typed by a person: ``auto``, a word such as ``all``, or a number."""
        raw = str(text).strip()
        low = raw.lower()
        if self.auto and low in ("", "auto"):
            return None
        for word, value in self.words:
            if low == word:
                return value
        if self.kind is bool:
            if low in ("1", "true", "yes", "on"):
                return True
            if low in ("0", "false", "no", "off", ""):
                return False
            raise ParamError(f"{name}: {raw!r} is not yes or no")
        try:
            return self.kind(raw)
        except ValueError:
            what = "a number" if self.kind is float else "a whole number"
            names = ", ".join(w for w, _ in self.words) + " or " if self.words else ("auto or " if self.auto else "")
            raise ParamError(f"{name}: {raw!r} is not {names}{what}") from None

    def show(self, value: Any) -> str:
        """The value as a person types it back (``auto``, ``all``)."""
        if value is None and self.auto:
            return "auto"
        for word, v in self.words:
            if value == v:
                return word
        return str(value)


def _p(default: Any, help: str, kind: type, **rules: Any) -> Any:
    return field(default=default, metadata={"param": Param(help, kind, **rules)})


@dataclass(frozen=True)
class GenParams:
    """Load and sampling parameters of one contestant."""

    temperature: float = _p(0.7, "sampling temperature (0: greedy)", float, lo=0)
    top_p: float = _p(
        0.95, "nucleus sampling: the most likely tokens up to this probability", float, lo=0, lo_open=True, hi=1
    )
    top_k: int = _p(40, "sample among the k most likely tokens (0: all)", int, lo=0)
    repeat_penalty: float = _p(1.1, "penalty on tokens already in the context (1: none)", float, lo=0, lo_open=True)
    max_tokens: int = _p(256, "tokens to generate at most", int, lo=1)
    n_ctx: int = _p(2048, "context window in tokens", int, lo=1, rule="a positive number of tokens")
    depth: int = _p(
        0, "tokens of real text in the context before the prompt: speed at that depth (as bench -d)", int, lo=0
    )
    seed: int = _p(42, "sampling seed", int, lo=0)
    threads: int | None = _p(
        None, "CPU threads per model (auto: from the cores and the mode)", int, lo=1, auto=True, metavar="auto|N"
    )
    n_gpu_layers: int = _p(
        0,
        "llama.cpp layers to offload to the GPU (hf: models use device_map)",
        int,
        lo=-1,
        words=(("all", -1), ("none", 0)),
        rule="-1 (all), 0 or more",
        aliases=("--gpu-layers",),
        metavar="all|none|N",
    )
    ignore_eos: bool = _p(
        False, "never stop at end-of-sequence: always generate max_tokens (as llama-bench does)", bool
    )
    raw: bool = _p(False, "plain completion: no chat template", bool)
    force: bool = _p(False, "load even when the memory estimate exceeds the free RAM (or GPU memory)", bool)

    def validate(self) -> GenParams:
        for f, param in schema():
            param.check(f, getattr(self, f))
        return self

    def replace(self, **changes: Any) -> GenParams:
        data = asdict(self)
        data.update(changes)
        return GenParams(**data)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GenParams:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


def schema() -> Iterator[tuple[str, Param]]:
    """(name, Param) of every generation parameter, in declaration order."""
    for f in fields(GenParams):
        yield f.name, f.metadata["param"]


def param(name: str) -> Param:
    return next(p for n, p in schema() if n == name)


def parse_param(name: str, text: str) -> Any:
    """A parameter's value from text (``threads=auto``, ``n_gpu_layers=all``), unchecked."""
    return param(name).parse(name, text)
