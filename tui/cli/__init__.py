"""``llmbench COMMAND``: the headless twin of the TUI, for scripts and SSH.

Every command lives in its own module here, with an ``add_parser(sub)`` and a
``run(args)``; what they print goes through ``output`` (tables, JSON, Markdown) and
``stream`` (answers as they come).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Sequence

from llmbench.engine import __version__
from llmbench.engine.errors import LlmbenchError

from . import (
    arena,
    bench,
    chat,
    doctor,
    duel,
    eval,
    fidelity,
    index,
    inspect,
    models,
    quant_matrix,
    quantize,
    retrieve,
    sessions,
)
from .output import CliError

COMMANDS = {
    m.NAME: m
    for m in (
        models,
        duel,
        bench,
        inspect,
        index,
        retrieve,
        chat,
        eval,
        fidelity,
        quantize,
        quant_matrix,
        sessions,
        arena,
        doctor,
    )
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="llmbench", description="A terminal workbench for local language models. With no command, opens the TUI."
    )
    parser.add_argument("--version", action="version", version=f"llmbench {__version__}")
    parser.add_argument("--verbose", action="store_true",
                        help="libraries' warnings and logs on stderr too (they always go to the log file)")  # fmt: skip
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    tui = sub.add_parser("tui", help="open the TUI (the default)")
    tui.add_argument("--a", dest="spec_a", default=None, help="model A (default smollm2)")
    tui.add_argument("--b", dest="spec_b", default=None, help="model B (default gemma3-270m)")
    for command in COMMANDS.values():
        command.add_parser(sub)
    return parser


def _interrupted(signum, frame) -> None:
    raise KeyboardInterrupt  # the Ctrl-C path: workers closed, sessions synced, exit 130


def main(argv: Sequence[str] | None = None) -> int:
    """``llmbench COMMAND …`` without the TUI, as a library call: libraries' logging is
    left as the caller has it (``llmbench`` itself, ``tui.main``, routes it to the log file)."""
    return run(build_parser().parse_args(argv))


def run(args) -> int:
    """Run a parsed headless command: its exit status, errors as one line."""
    if args.command in (None, "tui"):
        print("llmbench: error: the TUI opens from `llmbench` itself; name a command here", file=sys.stderr)
        return 2
    for sig in (signal.SIGTERM, signal.SIGHUP):  # SIGTERM, and SIGHUP (an SSH drop), end it as Ctrl-C does
        signal.signal(sig, _interrupted)
    try:
        return COMMANDS[args.command].run(args)
    except (LlmbenchError, CliError) as exc:
        print(f"llmbench: error: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # `llmbench … | head`: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # (no second error at exit)
        return 0
    except OSError as exc:  # the last net: a full disk, a vanished folder... one line naming the file
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"llmbench: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("llmbench: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
