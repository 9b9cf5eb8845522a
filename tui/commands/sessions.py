"""``llmbench sessions list|show|export|replay|rerun|rm|rename|tag``."""

from __future__ import annotations

import sys
from pathlib import Path

from engine import sessions
from engine.errors import SessionError
from engine.replay import EvalRecord, RunStart, Timeline, play
from engine.session_report import EXPORTERS, comparison_markdown, digest, load_all, matches

from .duel import print_events


def _load(ref: str, quiet: bool = False):
    log = sessions.read_session(sessions.find(ref))
    if not quiet:
        for warning in log.warnings:
            print(f"warning: {warning}", file=sys.stderr)
    return log


def run(args) -> int:
    actions = {"list": _list, "show": _show, "export": _export, "replay": _replay, "rerun": _rerun, "rm": _rm,
               "rename": _rename, "tag": _tag}
    return actions[args.sessions_command](args)


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
        from ..cli import dump_json

        dump_json([{"id": d.id, "path": d.path, "created": d.created, "kind": d.kind, "title": d.title,
                    "tags": d.tags, "models": d.models, "first_prompt": d.first_prompt, "runs": len(d.turns),
                    "stats": {s: d.side_stats(s) for s in d.models}, "sample": d.sample, "rerun_of": d.rerun_of,
                    "warnings": d.warnings} for d in rows])
    else:
        from rich.console import Console
        from rich.table import Table

        table = Table(title=f"sessions · {sessions.paths.sessions_dir()}", title_justify="left")
        for col in ("id", "date", "kind", "models", "name / first prompt", "runs", "stats"):
            table.add_column(col, overflow="fold", no_wrap=col in ("id", "date"))
        for d in rows:
            title = d.title if d.title and d.title != d.first_prompt else d.first_prompt
            extra = (" (sample)" if d.sample else "") + (f" [{', '.join(d.tags)}]" if d.tags else "")
            table.add_row(d.short_id, d.created[:16].replace("T", " "), d.kind, " vs ".join(d.models.values()),
                          _short(title, 60) + extra, str(len(d.turns)), d.key_stats())
        console = Console()
        console.print(table)
        if not rows:
            console.print("no sessions match" if found else "no sessions yet: run a duel, a chat or an evaluation")
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


def _export(args) -> int:
    log = _load(args.session)
    d = digest(log)
    text = EXPORTERS[args.format](d)
    if args.out in (None, "-"):
        sys.stdout.write(text)
        return 0
    out = Path(args.out).expanduser()
    if out.is_dir():
        out = out / f"{d.id}.{args.format}"
    if out.exists() and not args.force:
        raise SessionError(f"{out}: already exists (--force overwrites it)")
    try:
        out.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise SessionError(f"{out}: cannot write the export ({exc.strerror})") from None
    print(f"exported {d.id} → {out}", file=sys.stderr)
    return 0


def _speed(value: str) -> float:
    v = value.lower().removesuffix("x")
    if v in ("instant", "max", "0"):
        return 0.0
    try:
        speed = float(v)
    except ValueError:
        raise SessionError(f"--speed must be a number (1, 2, 4) or 0 for instant, got {value!r}") from None
    if speed < 0:
        raise SessionError(f"--speed must be 0 (instant) or more, got {value!r}")
    return speed


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
    print(f"replaying {d.id} ({d.kind}, {len(timeline.runs)} run(s), {timeline.duration:.1f} s recorded) {pace}",
          file=sys.stderr)

    def other(side, event) -> None:
        if isinstance(event, RunStart):
            print(f"\n━━ {event.run}. {event.prompt}")
        elif side == "rag" and not args.no_passages:
            from .rag import print_passages

            print_passages(event.hits)
        elif isinstance(event, EvalRecord):
            for row in event.rows:
                cos = f"cosine {row['cosine']:.3f}" if row.get("cosine") is not None else (row.get("error") or "")
                print(f"   {row.get('model')}: {cos}")

    line = print_events(play(timeline, speed), labels, True, other)
    if line:
        print(line)
    return 0


def _rerun(args) -> int:
    from engine.rerun import Compared, Rerun, original_params

    log = _load(args.session)
    params = original_params(log)
    changes = {k: getattr(args, k) for k in ("max_tokens", "temperature", "seed", "n_ctx", "threads", "n_gpu_layers")
               if getattr(args, k) is not None}
    params = params.replace(**changes).validate()
    stream = not args.quiet and args.format == "table"
    compared: Compared | None = None

    def other(side, event) -> None:
        nonlocal compared
        if isinstance(event, RunStart) and stream:
            print(f"\n━━ {event.run}. {event.prompt}")
        elif isinstance(event, Compared):
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
        from ..cli import dump_json

        dump_json({"original": log.path.name, "session": str(session) if session else None,
                   "rows": compared.rows, "summary": compared.summary, "note": compared.note})
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
            raise SessionError(f"{path.name}: add --yes to delete without a question (standard input is not a terminal)")
        answer = input(f"delete {path.name}? [y/N] ").strip().lower()
        if answer not in ("y", "yes"):
            print("kept")
            return 1
    sessions.remove(path)
    print(f"deleted {path.name}")
    return 0
