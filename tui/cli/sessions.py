"""``llmbench sessions list|show|export|replay|rerun|compare|rm|rename|tag``."""

from __future__ import annotations

import sys
from pathlib import Path

from llmbench.engine import paths, sessions
from llmbench.engine.errors import SessionError
from llmbench.engine.runtime.duel import MODES
from llmbench.engine.runtime.events import Channel, Comparison, EvalRecord, Prompt
from llmbench.engine.sessions.digest import digest, load_all, matches
from llmbench.engine.sessions.export import EXPORTERS, comparison_markdown, write_export
from llmbench.engine.sessions.replay import Timeline, play

from ..render.tables import rich_table
from .output import console, dump_json
from .params import add_param_arguments, params_from_args
from .stream import print_events

NAME = "sessions"
REF = "a session file, its name or a unique part of it, or 'last'"


def add_parser(sub) -> None:
    p = sub.add_parser(NAME, help="recorded duels, chats and evaluations: list, show, export, replay, re-run")
    ssub = p.add_subparsers(dest="sessions_command", metavar="ACTION", required=True)
    sl = ssub.add_parser("list", help="sessions, newest first (yours, then the shipped samples)")
    sl.add_argument("--kind", choices=sessions.KINDS, default=None)
    sl.add_argument("--model", default=None, help="only sessions with a model whose name contains this")
    sl.add_argument("--tag", default=None)
    sl.add_argument("--search", "-s", default=None, help="words in the name, prompt, models or tags")
    sl.add_argument("--no-samples", action="store_true", help="hide the samples shipped with llmbench")
    sl.add_argument("--limit", type=int, default=0)
    sl.add_argument("--format", choices=("table", "json"), default="table")
    ss = ssub.add_parser("show", help="a session's prompts, answers and stats")
    ss.add_argument("session", help=REF)
    ss.add_argument("--format", choices=("md", "json"), default="md")
    se = ssub.add_parser("export", help="a Markdown report, a CSV of the stats, or JSON")
    se.add_argument("session", help=REF)
    se.add_argument("--format", choices=(*EXPORTERS, *BENCH_FORMATS), default="md",
                    help="md, csv or json; a bench session also sql and jsonl, in llama-bench's own fields")  # fmt: skip
    se.add_argument("--out", "-o", default=None, help="a file or folder (default: standard output)")
    se.add_argument("--force", action="store_true", help="overwrite an existing file")
    si = ssub.add_parser(
        "import", help="llama-bench's results (its -o json, jsonl or sql, or a SQLite) as bench sessions"
    )
    si.add_argument("files", nargs="+", metavar="FILE")
    sr = ssub.add_parser("replay", help="print the answers at the pace they were generated (no model needed)")
    sr.add_argument("session", help=REF)
    sr.add_argument("--speed", default="1", help="1, 2, 4 … times the recorded pace; 0 prints at once (default 1)")
    sr.add_argument("--no-passages", action="store_true", help="do not print retrieved passages")
    sx = ssub.add_parser("rerun", help="the same prompts (and passages) on other models, compared with the original; "
                         "a battle: a new blind battle of --a against one of its two")  # fmt: skip
    sx.add_argument("session", help=REF)
    sx.add_argument("--a", dest="spec_a", required=True, metavar="SPEC", help="new model A")
    sx.add_argument("--b", dest="spec_b", default=None, metavar="SPEC", help="new model B (optional)")
    sx.add_argument("--mode", choices=MODES, default=None)
    sx.add_argument("--format", choices=("table", "json"), default="table")
    sx.add_argument("--quiet", action="store_true", help="do not stream the answers")
    sx.add_argument("--no-record", action="store_true", help="do not write the new session")
    add_param_arguments(sx, title="generation (default: the original session's)", keep_originals=True)
    sd = ssub.add_parser("rm", help="delete a session (asks first)")
    sd.add_argument("session", help=REF)
    sd.add_argument("--yes", "-y", action="store_true", help="do not ask")
    sn = ssub.add_parser("rename", help="give a session a name (the file keeps its own)")
    sn.add_argument("session", help=REF)
    sn.add_argument("title")
    sc = ssub.add_parser("compare", help="two bench runs (or two duels) side by side: the change and whether "
                         "its 95%% interval excludes no change")  # fmt: skip
    sc.add_argument("a", metavar="A", help=REF)
    sc.add_argument("b", metavar="B", help=REF)
    sc.add_argument("--format", choices=("table", "md", "json"), default="table")
    st = ssub.add_parser("tag", help="add or remove tags")
    st.add_argument("session", help=REF)
    st.add_argument("add", nargs="*", metavar="TAG")
    st.add_argument("--remove", "-r", action="append", metavar="TAG")


def _load(ref: str, quiet: bool = False):
    log = sessions.read_session(sessions.find(ref))
    if not quiet:
        for warning in log.warnings:
            print(f"warning: {warning}", file=sys.stderr)
    return log


def run(args) -> int:
    actions = {
        "list": _list,
        "show": _show,
        "export": _export,
        "import": _import,
        "replay": _replay,
        "rerun": _rerun,
        "rm": _rm,
        "rename": _rename,
        "tag": _tag,
        "compare": _compare,
    }
    return actions[args.sessions_command](args)


def _compare(args) -> int:
    from llmbench.engine.sessions.compare import COLUMNS, change_rows, compare
    from llmbench.engine.util.markdown import table

    a, b = digest(_load(args.a)), digest(_load(args.b))
    changes = compare(a, b)
    builds = [(d.matrix or {}).get("build") for d in (a, b)]
    notes = [f"{k}: {d.short_id} {d.title} ({d.created}{_threads(d)})" for k, d in (("A", a), ("B", b))]
    if builds[0] and builds[1] and builds[0] != builds[1]:
        changed = [
            f"{k} {builds[0].get(k)} → {builds[1].get(k)}" for k in builds[0] if builds[0].get(k) != builds[1].get(k)
        ]
        notes.append("builds differ: " + "; ".join(changed))
    if args.format == "json":
        dump_json({"a": a.path, "b": b.path, "notes": notes, "changes": [c.to_dict() for c in changes]})
    elif args.format == "md":
        print("\n".join([*(f"- {n}" for n in notes), "", *table(COLUMNS, change_rows(changes), "lrrrl")]))
    else:
        out = console()
        for n in notes:
            out.print(n, highlight=False, markup=False, soft_wrap=True)
        out.print(rich_table(None, COLUMNS, change_rows(changes), right=("A", "B", "change"), no_wrap=("change",)))
    return 0


def _threads(d) -> str:
    threads = sorted({r.get("n_threads") for r in (d.matrix or {}).get("rows", []) if r.get("n_threads")})
    return f", {'/'.join(map(str, threads))} threads" if threads else ""


def _rename(args) -> int:
    path = sessions.find(args.session)
    meta = sessions.write_meta(path, title=args.title)
    print(f"{path.name}: named {meta['title']!r}")
    return 0


def _tag(args) -> int:
    path = sessions.find(args.session)
    current = set(sessions.read_meta(path).get("tags") or [])
    meta = sessions.write_meta(path, tags=(current | set(args.add)) - set(args.remove or []))
    print(f"{path.name}: tags {', '.join(meta['tags']) or '(none)'}")
    return 0


def _list(args) -> int:
    found, problems = load_all()
    rows = [d for d in found if matches(d, args.kind, args.model, args.tag, args.search, samples=not args.no_samples)]
    rows = rows[: args.limit or None]
    if args.format == "json":
        dump_json(
            [
                {
                    "id": d.id,
                    "path": d.path,
                    "created": d.created,
                    "kind": d.kind,
                    "title": d.title,
                    "tags": d.tags,
                    "models": d.models,
                    "first_prompt": d.first_prompt,
                    "runs": len(d.turns),
                    "stats": {s: d.side_stats(s) for s in d.models},
                    "sample": d.sample,
                    "rerun_of": d.rerun_of,
                    "warnings": d.warnings,
                }
                for d in rows
            ]
        )
    else:
        lines = []
        for d in rows:
            title = d.title if d.title and d.title != d.first_prompt else d.first_prompt
            extra = (" (sample)" if d.sample else "") + (f" [{', '.join(d.tags)}]" if d.tags else "")
            lines.append(
                (
                    d.short_id,
                    d.created[:16].replace("T", " "),
                    d.kind,
                    " vs ".join(d.models.values()),
                    _short(title, 60) + extra,
                    len(d.turns),
                    d.key_stats(),
                )
            )
        out = console()
        out.print(
            rich_table(
                f"sessions · {paths.sessions_dir()}",
                ("id", "date", "kind", "models", "name / first prompt", "runs", "stats"),
                lines,
                no_wrap=("id", "date"),
            )
        )
        if not rows:
            out.print("no sessions match" if found else "no sessions yet: run a duel, a chat or an evaluation")
    for p in problems:
        print(f"warning: {p}", file=sys.stderr)
    return 0


def _short(text: str, n: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"


def _show(args) -> int:
    log = _load(args.session, quiet=args.format == "json")
    d = digest(log)
    if args.format == "json":
        print(EXPORTERS["json"](d))
    else:
        print(EXPORTERS["md"](d), end="")
    return 0


BENCH_FORMATS = ("sql", "jsonl")  # llama-bench's own, for bench sessions (old ones too)


def _export(args) -> int:
    log = _load(args.session)
    d = digest(log)
    text = None
    if args.format in BENCH_FORMATS:
        if d.kind != "bench" or not d.matrix or not isinstance(d.matrix.get("rows"), list):
            raise SessionError(f"{d.id}: a {d.kind} session; --format {args.format} exports bench sessions")
        from llmbench.engine.experiments.bench.report import render

        text = render(d.matrix, args.format)
    if args.out in (None, "-"):
        sys.stdout.write(EXPORTERS[args.format](d) if text is None else text)
        return 0
    out = Path(args.out).expanduser()
    if out.is_dir():
        out = out / f"{d.id}.{args.format}"
    if out.exists() and not args.force:
        raise SessionError(f"{out}: already exists (--force overwrites it)")
    write_export(d, args.format, out, text)
    print(f"exported {d.id} → {out}", file=sys.stderr)
    return 0


def _import(args) -> int:
    """Each file's llama-bench results, a bench session per build; a bad file is one line
    and the others are still imported."""
    from llmbench.engine.experiments.bench.imported import describe, import_file

    failed = 0
    for name in args.files:
        try:
            saved = import_file(name)
        except SessionError as exc:
            print(f"llmbench: {exc}", file=sys.stderr)
            failed += 1
            continue
        for path, result in saved:
            print(f"{describe(result)} → {Path(path).stem}")
    return int(bool(failed))


def _speed(value: str) -> float:
    v = value.lower().removesuffix("x")
    if v in ("instant", "max", "0"):
        return 0.0
    try:
        speed = float(v)
    except ValueError:
        raise SessionError(f"--speed must be a number (1, 2, 4) or 0 for instant, got {value!r}") from None
    from llmbench.engine.sessions.replay import check_speed

    return check_speed(speed)


def _replay(args) -> int:
    log = _load(args.session)
    d = digest(log)
    speed = _speed(args.speed)
    timeline = Timeline.from_log(log)
    if (d.inspect or d.matrix) and not timeline.cues:
        print(EXPORTERS["md"](d), end="")
        return 0
    labels = {side: label for side, label in d.models.items()}
    pace = "instantly" if speed == 0 else f"at {speed:g}x the recorded pace"
    print(
        f"replaying {d.id} ({d.kind}, {len(timeline.runs)} run(s), {timeline.duration:.1f} s recorded) {pace}",
        file=sys.stderr,
    )

    def other(side, event) -> None:
        if isinstance(event, Prompt):
            print(f"\n━━ {event.run}. {event.prompt}")
        elif side == Channel.RAG and not args.no_passages:
            from .documents import print_passages

            print_passages(event.hits)
        elif isinstance(event, EvalRecord):
            for row in event.rows:
                cos = f"cosine {row['cosine']:.3f}" if row.get("cosine") is not None else (row.get("error") or "")
                print(f"   {row.get('model')}: {cos}")

    line = print_events(play(timeline, speed), labels, True, other)
    if line:
        print(line)
    return 0


def _rerun_battle(log, args, params) -> int:
    """A battle re-run against a new model: a new blind battle on each of its prompts,
    between the new model (``--a``) and one of the battle's two, drawn at random, on
    random sides; ``--b`` adds another to draw from."""
    from llmbench.engine.experiments.arena.pools import Pool
    from llmbench.engine.sessions.digest import digest

    from .arena import blind_battle

    d = digest(log)
    pool = Pool(d.pool or "rerun", [s for s in (d.specs.get("a"), d.specs.get("b"), args.spec_b) if s],
                log.header.get("reference"))  # fmt: skip
    code = 0
    for turn in d.turns:
        print(f"\n━━ a new blind battle: {args.spec_a} against one of {', '.join(pool.models)}", file=sys.stderr)
        code = max(code, blind_battle(pool, turn.prompt, params, args.mode, args.format, record=not args.no_record,
                                      challenger=args.spec_a))  # fmt: skip
    return code


def _rerun(args) -> int:
    from llmbench.engine.sessions.rerun import Rerun, original_params

    log = _load(args.session)
    params = params_from_args(args, original_params(log))
    if log.kind == "battle":
        return _rerun_battle(log, args, params)
    stream = not args.quiet and args.format == "table"
    compared: Comparison | None = None

    def other(side, event) -> None:
        nonlocal compared
        if isinstance(event, Prompt) and stream:
            print(f"\n━━ {event.run}. {event.prompt}")
        elif isinstance(event, Comparison):
            compared = event

    with Rerun(log, args.spec_a, args.spec_b, params, mode=args.mode, record=not args.no_record) as rr:
        labels = {side: c.spec for side, c in rr.duel.sides.items()}
        try:
            print_events(rr.run(), labels, stream, other)
        except KeyboardInterrupt:
            rr.cancel()
            raise
        session = rr.session_path
    if compared is None:
        return 1
    if args.format == "json":
        dump_json(
            {
                "original": log.path.name,
                "session": str(session) if session else None,
                "rows": compared.rows,
                "summary": compared.summary,
                "note": compared.note,
            }
        )
    else:
        rows = [{k: v for k, v in r.items()} for r in compared.rows]
        print("\n" + "\n".join(comparison_markdown(rows)))
        for side, s in compared.summary.items():
            ratio = f"{s['speed_ratio']:.2f}x the original's tok/s" if s["speed_ratio"] else "speed not comparable"
            cos = f"mean cosine to the original answers {s['cosine']:.3f}" if s["cosine"] is not None else ""
            print(f"{side.upper()}: {s['new_model']} vs {s['old_model']}: {ratio}; {cos}")
        if compared.note:
            print(f"note: {compared.note}", file=sys.stderr)
        if session:
            print(f"session: {session} (re-run of {log.path.name})")
    return 1 if any(r["new_error"] for r in compared.rows) else 0


def _rm(args) -> int:
    path = sessions.find(args.session)
    if not args.yes:
        if not sys.stdin.isatty():
            raise SessionError(
                f"{path.name}: add --yes to delete without a question (standard input is not a terminal)"
            )
        answer = input(f"delete {path.name}? [y/N] ").strip().lower()
        if answer not in ("y", "yes"):
            print("kept")
            return 1
    sessions.remove(path)
    print(f"deleted {path.name}")
    return 0
