"""The generation options of a command, built from the one parameter schema
(``engine.runtime.params``): names, types, ranges, defaults and help."""

from __future__ import annotations

import argparse
from typing import Any

from llmbench.engine.errors import LlmbenchError
from llmbench.engine.runtime.params import GenParams, Param, schema


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _typed(name: str, param: Param):
    def parse(text: str) -> Any:
        try:
            value = param.parse(name, text)
            param.check(name, value)
            return value
        except LlmbenchError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    parse.__name__ = name  # argparse names the type in its error messages
    return parse


def add_param_arguments(
    parser: argparse.ArgumentParser,
    *,
    title: str = "generation",
    keep_originals: bool = False,
    only: tuple[str, ...] | None = None,
    **defaults: Any,
) -> None:
    """One option per parameter (``--max-tokens``, ``--threads auto|N`` ...). ``defaults``
    override the schema's; ``keep_originals`` leaves every default None (re-runs keep the
    recorded value unless given); ``only`` limits the options."""
    base = GenParams(**defaults)
    group = parser.add_argument_group(title)
    for name, param in schema():
        if only is not None and name not in only:
            continue
        default = None if keep_originals else getattr(base, name)
        flags = [_flag(name), *param.aliases]
        if param.kind is bool:
            group.add_argument(*flags, dest=name, action="store_true", default=default, help=param.help)
            continue
        shown = "" if default is None else f" (default {param.show(default)})"
        group.add_argument(
            *flags, dest=name, type=_typed(name, param), default=default, metavar=param.metavar, help=param.help + shown
        )


def params_from_args(args: argparse.Namespace, base: GenParams | None = None) -> GenParams:
    """The parameters given on the command line, over ``base`` (or the defaults)."""
    base = base or GenParams()
    given = {name: getattr(args, name) for name, _ in schema() if getattr(args, name, None) is not None}
    return base.replace(**given).validate()


MAX_PROMPT_BYTES = 64 << 20  # a prompt (or question) larger than this is not a prompt


def prompt_text(value: str, what: str = "the prompt") -> str:
    """``value``, or standard input for ``-``, as text a model can take: UTF-8 without NUL
    bytes, else one line saying where the bad byte is (a binary file piped in by mistake)."""
    import sys

    if value == "-":
        raw = sys.stdin.buffer.read(MAX_PROMPT_BYTES + 1)
        source = "standard input"
        if len(raw) > MAX_PROMPT_BYTES:
            raise LlmbenchError(f"{source}: more than {MAX_PROMPT_BYTES >> 20} MiB, too long for {what}")
    else:
        raw = value.encode("utf-8", errors="surrogateescape")  # (argv's undecodable bytes come back)
        source = what
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise LlmbenchError(f"{source}: not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start:,})") from None
    if "\x00" in text:
        raise LlmbenchError(f"{source}: a NUL byte at offset {text.index(chr(0)):,}: binary data, not text")
    return text
