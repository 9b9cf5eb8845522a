"""The one table of the precisions and load-time quantizations llmbench runs with
transformers: what ``hf:...?dtype=..`` and ``?quant=..`` accept, what each needs
installed, what Inspect's memory table calls its format, and which of them the
quantization matrix runs by default."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass


@dataclass(frozen=True)
class Precision:
    name: str  # fp32, bf16, bnb4, quanto-int8 ...
    option: str  # the hf: spec option that asks for it: "dtype=fp32", "quant=bnb4"
    description: str
    memory_format: str  # the row of Inspect's memory table it costs: "fp32", "bnb nf4" ...
    library: str | None = None  # the module it needs ("optimum.quanto"); None: torch alone
    in_matrix: bool = False  # run by `llmbench quant-matrix` by default

    @property
    def is_quant(self) -> bool:
        return self.option.startswith("quant=")


PRECISIONS: dict[str, Precision] = {
    p.name: p
    for p in (
        Precision("fp32", "dtype=fp32", "32-bit floats", "fp32", in_matrix=True),
        Precision("bf16", "dtype=bf16", "bfloat16", "fp16/bf16", in_matrix=True),
        Precision("fp16", "dtype=fp16", "float16", "fp16/bf16"),
        Precision("bnb8", "quant=bnb8", "bitsandbytes LLM.int8 (Linear8bitLt)", "bnb int8", "bitsandbytes", True),
        Precision("bnb4", "quant=bnb4", "bitsandbytes 4-bit NF4 (Linear4bit)", "bnb nf4", "bitsandbytes", True),
        Precision(
            "bnb4-dq", "quant=bnb4-dq", "bitsandbytes 4-bit NF4 with double quantization", "bnb nf4+dq", "bitsandbytes"
        ),
        Precision("bnb4-fp4", "quant=bnb4-fp4", "bitsandbytes 4-bit FP4", "bnb nf4", "bitsandbytes"),
        Precision(
            "quanto-int8",
            "quant=quanto-int8",
            "optimum-quanto int8 weights (QLinear)",
            "bnb int8",
            "optimum.quanto",
            True,
        ),
        Precision(
            "quanto-int4", "quant=quanto-int4", "optimum-quanto int4 weights (QLinear)", "bnb nf4", "optimum.quanto"
        ),
        Precision(
            "torchao-int8",
            "quant=torchao-int8",
            "torchao int8 weight-only (tensor subclass in nn.Linear)",
            "bnb int8",
            "torchao",
            True,
        ),
    )
}
DTYPES = ("auto", "fp32", "bf16", "fp16")
QUANTS: dict[str, str] = {
    "none": "full precision",
    **{p.name: p.description for p in PRECISIONS.values() if p.is_quant},
}
MATRIX_DEFAULT = tuple(p.name for p in PRECISIONS.values() if p.in_matrix)


def missing_library(name: str) -> str | None:
    """The top-level package a precision needs and this machine lacks, without importing it."""
    p = PRECISIONS.get(name)
    if p is None or p.library is None:
        return None
    top = p.library.split(".")[0]
    if importlib.util.find_spec(top) is None or importlib.util.find_spec(p.library) is None:
        return top
    return None
