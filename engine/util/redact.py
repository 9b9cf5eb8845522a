"""Secrets never reach a file: keys named like credentials, strings that look like
API keys or tokens, URL credentials, and the values of secret environment variables."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from typing import Any

REDACTED = "[redacted]"
_SECRET_KEY = re.compile(
    r"^(api[_-]?key|.*[_-]api[_-]?key|.*[_-]?access[_-]?token|auth[_-]?token|hf[_-]?token|token|secret|.*[_-]secret"
    r"|password|passwd|authorization|cookie|bearer)$",
    re.I,
)
_SECRET_TEXT = [  # (pattern, replacement)
    (re.compile(r"\bsk-[A-Za-z0-9_\-]{16,}"), REDACTED),  # OpenAI-style keys
    (re.compile(r"\bhf_[A-Za-z0-9]{20,}"), REDACTED),  # Hugging Face tokens
    (re.compile(r"\bgh[pousr]_[A-Za-z0-9]{20,}"), REDACTED),  # GitHub tokens
    (re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9._\-]{8,}"), r"\g<1>" + REDACTED),
    (re.compile(r"(?i)([?&](?:api[_-]?key|key|token|access_token|auth)=)[^&\s#]+"), r"\g<1>" + REDACTED),
    (re.compile(r"(://[^/\s:@]+:)[^@\s/]+(@)"), r"\g<1>" + REDACTED + r"\g<2>"),  # user:password@host
]
_SECRET_ENV = re.compile(r"(KEY|TOKEN|SECRET|PASSWORD)", re.I)


def env_secrets() -> list[str]:
    return [v for k, v in os.environ.items() if _SECRET_ENV.search(k) and len(v) >= 8]


def redact_text(text: str, env: Iterable[str] = ()) -> str:
    for value in env:
        if value in text:
            text = text.replace(value, REDACTED)
    for pattern, replacement in _SECRET_TEXT:
        text = pattern.sub(replacement, text)
    return text


def redact(value: Any, env: Iterable[str] | None = None) -> Any:
    """The value with secrets replaced, recursively through dicts and lists."""
    env = list(env_secrets() if env is None else env)
    if isinstance(value, dict):
        return {
            k: (REDACTED if isinstance(k, str) and _SECRET_KEY.match(k) and v not in (None, "") else redact(v, env))
            for k, v in value.items()
        }
    if isinstance(value, (list, tuple)):
        return [redact(v, env) for v in value]
    if isinstance(value, str):
        return redact_text(value, env)
    return value
