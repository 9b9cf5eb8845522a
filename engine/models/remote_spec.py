"""``openai:BASE_URL#MODEL`` specs: an OpenAI-compatible server as a model.

Parsed here, without touching the network; ``runtime.backends.remote`` talks to it.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qsl, urlsplit

from ..errors import SpecError
from .info import ModelInfo

READ_TIMEOUT_S = 120.0  # the longest silence between two chunks (a big prompt's first token)
MAX_TIMEOUT_S = 86400.0
_OPTIONS = {"strict", "timeout"}


@dataclass(frozen=True)
class RemoteSpec:
    base_url: str  # ends with /v1 (or whatever prefix the server uses), no trailing slash
    model: str | None
    strict: bool = False  # send only OpenAI's own sampling fields (no top_k, repeat_penalty)
    timeout_s: float = READ_TIMEOUT_S
    spec: str = ""

    @property
    def label(self) -> str:
        host = urlsplit(self.base_url).netloc
        return f"{self.model}@{host}" if self.model else host


def parse_remote_spec(spec: str) -> RemoteSpec:
    """``openai:http://host:port/v1#model?strict=1`` (options after the model name)."""
    body = spec.strip().removeprefix("openai:")
    url, _, rest = body.partition("#")
    model, _, query = rest.partition("?")
    if "?" in url:  # options given before the #model part
        url, _, query = url.partition("?")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (a bad port raises here, not at the first request)
    except ValueError as exc:  # "Invalid IPv6 URL", a port out of range
        raise SpecError(f"{spec!r}: not a URL ({exc}); expected openai:http://HOST:PORT/v1#MODEL") from None
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise SpecError(f"{spec!r}: expected openai:http://HOST:PORT/v1#MODEL")
    opts = dict(parse_qsl(query, keep_blank_values=True))
    unknown = set(opts) - _OPTIONS
    if unknown:
        raise SpecError(f"{spec!r}: unknown option {sorted(unknown)[0]!r} (options: {', '.join(sorted(_OPTIONS))})")
    try:
        timeout = float(opts.get("timeout", READ_TIMEOUT_S))
    except ValueError:
        raise SpecError(f"{spec!r}: timeout must be a number of seconds") from None
    if not 0 < timeout <= MAX_TIMEOUT_S:  # (nan and inf fail this too)
        raise SpecError(f"{spec!r}: timeout must be more than 0 and at most {MAX_TIMEOUT_S:.0f} seconds")
    strict = opts.get("strict", "").lower() in ("1", "true", "yes")
    return RemoteSpec(url.rstrip("/"), model or None, strict, timeout, spec)


def describe_remote(spec: str) -> ModelInfo:
    r = parse_remote_spec(spec)
    return ModelInfo(
        spec=spec, name=r.label, backend="openai", path=r.base_url, size_bytes=0, quant="remote", has_chat_template=True
    )
