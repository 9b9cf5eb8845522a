"""What a resolved model is: the identity shown in panes and recorded in sessions."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class ModelInfo:
    """A resolved model: what a spec names, and the identity recorded in sessions."""

    spec: str
    name: str
    backend: str  # "llama.cpp", "hf" or "openai"
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
        return self.name if not self.quant or self.quant.lower() in self.name.lower() else f"{self.name} {self.quant}"
