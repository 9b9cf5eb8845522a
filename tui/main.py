"""``llmbench``: the TUI with no command (or ``llmbench tui``), a headless command
otherwise. The one module that knows both the CLI (``tui.cli``) and the Textual app
(``tui.app``); they never import each other (``tests/test_structure.py``)."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from llmbench.engine.util.logs import route_library_output

from . import cli


def main(argv: Sequence[str] | None = None) -> int:
    args = cli.build_parser().parse_args(argv)
    route_library_output(args.verbose)
    if args.command not in (None, "tui"):
        return cli.run(args)
    from .app.app import LlmbenchApp  # Textual loads only for the TUI

    app = LlmbenchApp(spec_a=getattr(args, "spec_a", None), spec_b=getattr(args, "spec_b", None))
    app.run()
    return app.return_code or 0  # 128 + the signal after SIGTERM or SIGHUP


if __name__ == "__main__":
    sys.exit(main())
