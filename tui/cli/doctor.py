"""``llmbench doctor``: what this machine and install can run, one line each, with a
verdict and a fix where something is off (the same page as the TUI's Doctor, from the
command palette). Exits 1 when a check fails. ``--clean`` removes the partial files
that killed runs left (the ``leftovers`` check)."""

from __future__ import annotations

import sys

from llmbench.engine.doctor import FAIL, as_dict, clean_leftovers, diagnose
from llmbench.engine.util.markdown import table as md_table

from ..render.doctor_table import doctor_table
from .output import console as make_console
from .output import dump_json

NAME = "doctor"


def add_parser(sub) -> None:
    p = sub.add_parser(NAME, help="what this machine can run: llama.cpp's build, torch, GPUs, memory, paths")
    p.add_argument("--format", choices=("table", "json", "md"), default="table")
    p.add_argument("--clean", action="store_true", help="remove the partial files of killed runs first")


def run(args) -> int:
    if args.clean:
        gone = clean_leftovers()
        for path, size in gone:
            print(f"removed {path} ({size / 2**20:.1f} MiB)", file=sys.stderr)
        print(f"removed {len(gone)} partial file(s) of killed runs", file=sys.stderr)
    facts, checks = diagnose()
    if args.format == "json":
        dump_json(as_dict(facts, checks))
    elif args.format == "md":
        rows = [(c.area, c.verdict, c.found, c.fix or "") for c in checks]
        print("\n".join(md_table(("area", "verdict", "found", "fix"), rows)))
    else:
        make_console().print(doctor_table(checks))
    return 1 if any(c.verdict == FAIL for c in checks) else 0
