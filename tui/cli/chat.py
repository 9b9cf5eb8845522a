"""``llmbench chat``: a question about a collection; the answer cites its passages.
With ``--b``, a RAG duel: the same passages to two models."""

from __future__ import annotations

import sys

from llmbench.engine.runtime.duel import MODES
from llmbench.engine.runtime.events import Channel, Started
from llmbench.engine.runtime.metrics import format_stat

from .documents import add_collection_arguments, check_collection_arguments, open_retriever, print_passages, weights
from .output import dump_json
from .params import add_param_arguments, params_from_args, prompt_text
from .stream import print_events

NAME = "chat"


def add_parser(sub) -> None:
    p = sub.add_parser(NAME, help="ask a question about a collection; the answer cites its passages")
    add_collection_arguments(p)
    p.add_argument(
        "--model", "--a", dest="model", default="smollm2", metavar="SPEC", help="the model (default smollm2)"
    )
    p.add_argument("--b", default=None, metavar="SPEC", help="a second model: a RAG duel on the same passages")
    p.add_argument("question", help="the question ('-' reads standard input)")
    p.add_argument("--mode", choices=MODES, default=None)
    p.add_argument("--format", choices=("table", "json"), default="table")
    p.add_argument("--quiet", action="store_true", help="do not stream the answer")
    p.add_argument("--no-record", action="store_true", help="do not write a session file")
    add_param_arguments(p)


def run(args) -> int:
    from llmbench.engine.rag.chat import RagChat

    check_collection_arguments(args)
    params = params_from_args(args)

    question = prompt_text(args.question, "the question")  # before the minute an unindexed demo takes
    retriever = open_retriever(args.collection, args.format == "json")
    stream = args.format == "table" and not args.quiet
    with RagChat(
        args.collection,
        args.model,
        args.b,
        params,
        retriever=retriever,
        k=args.k,
        weights=weights(args),
        use_mmr=args.mmr,
        record=not args.no_record,
        mode=args.mode,
    ) as chat:
        retrieval = None
        used: dict[str, int | None] = {}

        def other(side, event) -> None:
            nonlocal retrieval
            if side == Channel.RAG:
                retrieval = event
                if stream:
                    print_passages(event.hits)
            elif isinstance(event, Started):
                used[side] = event.context_used

        try:
            line = print_events(chat.ask(question), {side: c.spec for side, c in chat.sides.items()}, stream, other)
        except KeyboardInterrupt:
            chat.cancel()
            raise
        result = chat.duel.result(line).to_json()
    result["retrieval"] = retrieval.to_dict() if retrieval else None
    result["collection"] = args.collection
    if args.format == "json":
        dump_json(result)
    else:
        _print_chat_summary(result, retrieval, used, stream)
    if chat.duel.record_error:
        print(f"warning: not recorded: {chat.duel.record_error}", file=sys.stderr)
    return 1 if any(c["error"] for c in result["contestants"]) else 0


def _print_chat_summary(result: dict, retrieval, used: dict, streamed: bool) -> None:
    from llmbench.engine.rag.prompt import citations

    hits = retrieval.hits if retrieval else []
    for c in result["contestants"]:
        if not streamed:
            print(f"── {c['side'].upper()}: {c['model']} ──\n{c['text'] or c['error'] or ''}")
        cited = citations(c["text"] or "", len(hits))
        sources = "; ".join(f"[{i}] {hits[i - 1].where}" for i in cited) or "none"
        n_used = used.get(c["side"])
        fit = f"{n_used} of {len(hits)} passages fit the context" if n_used is not None else ""
        print(
            f"{c['side'].upper()} cites: {sources} · {fit} · {format_stat('ttft_ms', c['ttft_ms'])} TTFT · "
            f"{format_stat('gen_tok_s', c['gen_tok_s'])} · {format_stat('total_s', c['total_s'])}"
        )
    if result.get("verdict"):
        print(result["verdict"])
    if result.get("session"):
        print(f"session: {result['session']}")
