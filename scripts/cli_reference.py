"""Write docs/cli.md, the CLI reference, from llmbench's own parser (``--check``: exit 1
when the file differs from what the parser says, which is what the tests and CI run).

    .venv/bin/python scripts/cli_reference.py          # rewrite docs/cli.md
    .venv/bin/python scripts/cli_reference.py --check  # is it up to date?
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

TARGET = Path(__file__).resolve().parent.parent / "docs" / "cli.md"
WIDTH = "88"  # the help's width: fixed, so the file is the same on every terminal and machine

HEAD = """# CLI reference

Every tab has a headless twin. This page is generated from the parser by
`scripts/cli_reference.py`; a test fails when it differs from what `llmbench --help`
says, so it cannot drift. `llmbench COMMAND --help` prints the same.
"""


def _subcommands(parser: argparse.ArgumentParser) -> list[tuple[str, argparse.ArgumentParser]]:
    out = []
    for action in parser._actions:  # argparse keeps its subparsers here, and nowhere public
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                out.append((name, sub))
    return out


def _walk(parser: argparse.ArgumentParser, depth: int) -> list[str]:
    out = []
    for _name, sub in _subcommands(parser):
        out += [f"{'#' * depth} `{sub.prog}`", "", "```text", sub.format_help().rstrip(), "```", ""]
        out += _walk(sub, depth + 1)
    return out


def render() -> str:
    from llmbench.tui.cli import build_parser

    before = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = WIDTH  # argparse reads the width from here
    try:
        parser = build_parser()
        lines = [HEAD, "## `llmbench`", "", "```text", parser.format_help().rstrip(), "```", ""]
        return "\n".join(lines + _walk(parser, 2)).rstrip() + "\n"
    finally:
        if before is None:
            os.environ.pop("COLUMNS", None)
        else:
            os.environ["COLUMNS"] = before


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="exit 1 when docs/cli.md is not up to date")
    args = ap.parse_args(argv)
    text = render()
    if args.check:
        current = TARGET.read_text(encoding="utf-8") if TARGET.exists() else ""
        if current != text:
            print(f"{TARGET}: out of date; run: .venv/bin/python scripts/cli_reference.py", file=sys.stderr)
            return 1
        return 0
    TARGET.write_text(text, encoding="utf-8")
    print(f"wrote {TARGET}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
