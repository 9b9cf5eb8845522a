"""Chat templates for GGUFs that carry none (base models such as Gemma-3-270M).

The GGUF's own ``tokenizer.chat_template`` always wins. Without one, the model's
architecture picks a fallback here, and the backend says so in a visible note.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Fallback:
    family: str
    template: str  # Jinja2, same variables as a GGUF template
    stop: tuple[str, ...]


_GEMMA = Fallback(
    "gemma",
    "{{ bos_token }}{% for m in messages %}"
    "{% set role = 'model' if m['role'] == 'assistant' else 'user' %}"
    "{% if m['role'] == 'system' %}<start_of_turn>user\n{{ m['content'] }}\n\n"
    "{% else %}{% if not (loop.index0 > 0 and messages[loop.index0 - 1]['role'] == 'system') %}"
    "<start_of_turn>{{ role }}\n{% endif %}{{ m['content'] }}<end_of_turn>\n{% endif %}"
    "{% endfor %}{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}",
    ("<end_of_turn>", "<start_of_turn>"),
)

_CHATML = Fallback(
    "chatml",
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}",
    ("<|im_end|>", "<|im_start|>"),
)

_LLAMA2 = Fallback(
    "llama2",
    "{{ bos_token }}{% for m in messages %}{% if m['role'] == 'user' %}[INST] {{ m['content'] }} [/INST]"
    "{% elif m['role'] == 'system' %}[INST] <<SYS>>\n{{ m['content'] }}\n<</SYS>>\n\n [/INST]"
    "{% else %} {{ m['content'] }}{{ eos_token }}{% endif %}{% endfor %}",
    ("[INST]",),
)

_PHI3 = Fallback(
    "phi3",
    "{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}<|end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}",
    ("<|end|>", "<|user|>"),
)

_BY_ARCH = {
    "gemma": _GEMMA,
    "gemma2": _GEMMA,
    "gemma3": _GEMMA,
    "gemma3n": _GEMMA,
    "gemma-embedding": _GEMMA,
    "llama": _LLAMA2,
    "mistral": _LLAMA2,
    "phi3": _PHI3,
}


def fallback_for(arch: str | None) -> Fallback:
    """The fallback template for an architecture; ChatML (qwen2, smollm, most others) by default."""
    return _BY_ARCH.get((arch or "").lower(), _CHATML)
