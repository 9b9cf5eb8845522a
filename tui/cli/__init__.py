"""``llmbench``: the TUI with no arguments, or a headless command for scripts and SSH.

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
from llmbench.engine.util.logs import route_library_output

from . import (
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
    parser = build_parser()
    args = parser.parse_args(argv)
    route_library_output(args.verbose)
    if args.command not in (None, "tui"):  # SIGTERM, and SIGHUP (an SSH drop), end a command as Ctrl-C does
        for sig in (signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, _interrupted)
    try:
        if args.command in (None, "tui"):
            return _tui(args)
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


def _tui(args) -> int:
    from ..app import LlmbenchApp  # the one upward step: the entry point opens the app

    app = LlmbenchApp(spec_a=getattr(args, "spec_a", None), spec_b=getattr(args, "spec_b", None))
    app.run()
    return app.return_code or 0  # 128 + the signal after SIGTERM or SIGHUP


if __name__ == "__main__":
    sys.exit(main())
