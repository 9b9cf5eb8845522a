"""The Sessions tab: every recorded duel, chat and evaluation; filter, open (replay),
rename, tag, export and delete. Replays play in the tab the session came from."""

from __future__ import annotations

import time
from pathlib import Path

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import DataTable, Input, Markdown, Static

from llmbench.engine import paths, sessions
from llmbench.engine.errors import LlmbenchError, SessionError
from llmbench.engine.sessions.digest import Digest, load_all, matches, parse_query
from llmbench.engine.sessions.export import EXPORTERS, markdown, write_export
from llmbench.engine.sessions.replay import Timeline

from ..messages import Ready
from ..workers import ReportsWorkerErrors, engine_work

PREVIEW_CHARS = 6000
STACK_BELOW_COLS = 140  # narrower: the list above the preview, each the full width
COMPACT_PREVIEW_COLS = 70  # narrower preview (or a stacked one): facts and stats as lines, not tables


class SessionTable(DataTable):
    """The list: Home and End go to the first and last session (not sideways)."""

    BINDINGS = [
        Binding("home", "first", "First", show=False),
        Binding("end", "last", "Last", show=False),
    ]

    def action_first(self) -> None:
        self.move_cursor(row=0)

    def action_last(self) -> None:
        self.move_cursor(row=max(0, self.row_count - 1))


def columns_for(width: int) -> list[tuple[str, int]]:
    """The list's columns and their widths for a table ``width`` cells wide: id, kind, name and
    stats always (name and stats share what is left); the date, models and runs where they fit."""
    cols = [("id", 7), ("kind", 12)]
    if width >= 90:
        cols.insert(1, ("date", 16))
    if width >= 130:
        cols += [("models", 30), ("runs", 4)]
    rest = max(20, width - 2 - sum(w + 2 for _, w in cols) - 4)  # scrollbar; two cells' padding each
    name = rest * 2 // 5
    return [*cols[:3], ("name / first prompt", name), *cols[3:], ("stats", rest - name)]


def _short(text: str, n: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"


class SessionsView(ReportsWorkerErrors, Vertical):
    BINDINGS = [
        Binding("enter", "open", "Replay", show=True),
        Binding("i", "open_instant", "Open at once", show=False),
        Binding("r", "rename", "Rename"),
        Binding("t", "tag", "Tag"),
        Binding("e", "export", "Export"),
        Binding("delete,d", "delete", "Delete"),
        Binding("ctrl+r", "reload", "Reload"),  # F5 is the Quant tab
        Binding("slash", "filter", "Filter", show=False),
    ]

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.digests: list[Digest] = []
        self.shown: list[Digest] = []
        self._loaded_at = 0.0
        self._columns: list[tuple[str, int]] = []

    def compose(self) -> ComposeResult:
        with Horizontal(id="sessions-bar"):
            yield Input(placeholder="filter (/): words, kind:duel, model:smol, tag:NAME", id="sessions-filter")
            yield Static("", id="sessions-count")
        with Horizontal(id="sessions-main"):
            yield SessionTable(id="sessions-table", cursor_type="row", zebra_stripes=True)
            with VerticalScroll(id="sessions-preview"):  # focusable: Tab reaches it, arrows and PgDn scroll it
                yield Markdown("")
        yield Static("Enter replays · i opens at once · / filters · Tab: the preview", id="sessions-status")

    def on_resize(self, event) -> None:
        stacked = event.size.width < STACK_BELOW_COLS
        self.set_class(stacked, "-stacked")
        width = event.size.width if stacked else event.size.width * 2 // 3
        if columns_for(width) != self._columns:
            self._columns = columns_for(width)
            self.query_one(DataTable).clear(columns=True)
            for label, w in self._columns:
                self.query_one(DataTable).add_column(label, width=w)
            self._fill()

    def status(self, text: str) -> None:
        self.query_one("#sessions-status", Static).update(text)

    # ------------------------------------------------------------ loading

    def refresh_if_stale(self, max_age_s: float = 2.0) -> None:
        if time.monotonic() - self._loaded_at > max_age_s:
            self.action_reload()

    def action_reload(self) -> None:
        self.load()

    @engine_work("sessions-load")
    def load(self) -> None:
        self.post_message(Ready("sessions", load_all()))

    async def on_ready(self, message: Ready) -> None:
        if message.what == "sessions":
            self._loaded(*message.value)
        elif message.what == "replay":
            await self._replay(message)
        elif message.what == "export":
            self._exported(message)
        elif message.what == "edited":
            self._edited(message)

    def _loaded(self, digests: list[Digest], problems: list[str]) -> None:
        self._loaded_at = time.monotonic()
        self.digests = digests
        self._fill()
        if problems:
            self.notify("\n".join(problems[:5]), title="unreadable session files", severity="warning", timeout=10)

    @on(Input.Changed, "#sessions-filter")
    def filter_changed(self, event: Input.Changed) -> None:
        self._fill()

    @on(Input.Submitted, "#sessions-filter")
    def filter_done(self, event: Input.Submitted) -> None:
        self.query_one(DataTable).focus()

    def action_filter(self) -> None:
        self.query_one("#sessions-filter", Input).focus()

    def _fill(self) -> None:
        query = parse_query(self.query_one("#sessions-filter", Input).value)
        table = self.query_one(DataTable)
        selected = self.selected
        table.clear()
        self.shown = [d for d in self.digests if matches(d, **query)]
        name_w = dict(self._columns).get("name / first prompt", 40)
        for d in self.shown:
            title = d.title if d.title and d.title != d.first_prompt else d.first_prompt
            extra = f" [{', '.join(d.tags)}]" if d.tags else ""
            if d.warnings:
                extra += " ⚠"
            cells = {
                "id": d.short_id + ("*" if d.sample else ""),
                "date": d.created[:16].replace("T", " "),
                "kind": d.kind,
                "name / first prompt": _short(title, max(8, name_w - len(extra))) + extra,  # the tags stay
                "models": " vs ".join(d.models.values()),
                "runs": str(len(d.turns)),
                "stats": d.key_stats(),
            }
            table.add_row(*(_short(cells[label], w) for label, w in self._columns), key=d.path)
        samples = sum(d.sample for d in self.shown)
        self.query_one("#sessions-count", Static).update(
            f"{len(self.shown)} of {len(self.digests)}" + (f" · * {samples} sample(s)" if samples else "")
        )
        if selected is not None and selected in self.shown:
            table.move_cursor(row=self.shown.index(selected))
        self._preview()

    @property
    def selected(self) -> Digest | None:
        table = self.query_one(DataTable)
        if not self.shown or table.cursor_row is None or table.cursor_row >= len(self.shown):
            return None
        return self.shown[table.cursor_row]

    @on(DataTable.RowHighlighted)
    def highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._preview()

    def _preview(self) -> None:
        d = self.selected
        preview = self.query_one("#sessions-preview")
        compact = self.has_class("-stacked") or preview.size.width < COMPACT_PREVIEW_COLS
        text = (
            markdown(d, compact)
            if d
            else (
                "No sessions match."
                if self.digests
                else f"No sessions yet. Every duel, chat and evaluation is recorded to `{paths.sessions_dir()}`."
            )
        )
        if len(text) > PREVIEW_CHARS:
            text = text[:PREVIEW_CHARS] + "\n\n*… (export for the whole session)*"
        self.query_one("#sessions-preview Markdown", Markdown).update(text)

    # ------------------------------------------------------------ actions

    @on(DataTable.RowSelected)
    def row_selected(self, event: DataTable.RowSelected) -> None:
        self.action_open()

    def action_open(self, speed: float = 1.0) -> None:
        d = self.selected
        if d is not None:
            self.read_for_replay(d, speed)

    @engine_work("sessions-open")
    def read_for_replay(self, d: Digest, speed: float) -> None:
        """The session read and laid out on a timeline, in a worker; then replayed in its tab."""
        try:
            log = sessions.read_session(d.path)
        except LlmbenchError as exc:
            self.post_message(Ready("replay", error=str(exc)))
            return
        self.post_message(Ready("replay", (Timeline.from_log(log), d, speed, log.warnings)))

    async def _replay(self, message: Ready) -> None:
        if message.error:
            self.notify(message.error, severity="error", timeout=10)
            return
        timeline, d, speed, warnings = message.value
        for warning in warnings:
            self.notify(warning, severity="warning", timeout=10)
        await self.app.open_session(timeline, d, speed)

    def action_open_instant(self) -> None:
        self.action_open(speed=0.0)

    def _own(self, d: Digest, what: str) -> bool:
        if d.sample:
            self.notify(f"{d.id} is a sample shipped with llmbench: it cannot be {what}.", severity="warning")
            return False
        return True

    def _edit_meta(self, what: str, question: str, value: str, change) -> None:
        """Ask for a name or tags, then write them beside the session (``change(d, text)``)."""
        from ..modals.dialogs import AskText

        d = self.selected
        if d is None or not self._own(d, what):
            return

        def done(text: str | None) -> None:
            if text is not None:
                self.edit(lambda: change(d, text), "")

        self.app.push_screen(
            AskText(question.format(id=d.short_id), value.format(title=d.title, tags=" ".join(d.tags))), done
        )

    def action_rename(self) -> None:
        def change(d: Digest, text: str) -> None:
            d.title = sessions.write_meta(Path(d.path), title=text)["title"]

        self._edit_meta("renamed", "Name for {id}", "{title}", change)

    def action_tag(self) -> None:
        def change(d: Digest, text: str) -> None:
            d.tags = sessions.write_meta(Path(d.path), tags=text.replace(",", " ").split()).get("tags", [])

        self._edit_meta("tagged", "Tags for {id} (space or comma separated)", "{tags}", change)

    @engine_work("sessions-edit")
    def edit(self, change, said: str, removed: str | None = None) -> None:
        """A name, tags or a deletion written in a worker; then the list is shown again."""
        try:
            change()
        except LlmbenchError as exc:
            self.post_message(Ready("edited", error=str(exc)))
            return
        self.post_message(Ready("edited", (said, removed)))

    def _edited(self, message: Ready) -> None:
        if message.error:
            self.notify(message.error, severity="error")
            return
        said, removed = message.value
        if removed:
            self.digests = [x for x in self.digests if x.path != removed]
        self._fill()
        if said:
            self.status(said)

    def action_export(self) -> None:
        d = self.selected
        if d is not None:
            self.export(d)

    @engine_work("sessions-export")
    def export(self, d: Digest) -> None:
        """The Markdown, CSV and JSON exports into the data folder's exports/, in a worker."""
        folder = paths.data_dir() / "exports"
        written = []
        try:
            for fmt in EXPORTERS:
                write_export(d, fmt, folder / f"{d.id}.{fmt}")
                written.append(f"{d.id}.{fmt}")
        except SessionError as exc:
            self.post_message(Ready("export", error=str(exc)))
            return
        self.post_message(Ready("export", (folder, written)))

    def _exported(self, message: Ready) -> None:
        if message.error:
            self.notify(message.error, severity="error")
            return
        folder, written = message.value
        self.notify(f"{folder}/\n" + "\n".join(written), title="exported", timeout=10)
        self.status(f"exported to {folder}: {', '.join(written)}")

    def action_delete(self) -> None:
        from ..modals.dialogs import Confirm

        d = self.selected
        if d is None or not self._own(d, "deleted"):
            return

        def done(yes: bool | None) -> None:
            if yes:
                self.edit(lambda: sessions.remove(Path(d.path)), f"deleted {d.id}", removed=d.path)

        title = d.title if d.title != d.first_prompt else _short(d.first_prompt, 50)
        self.app.push_screen(
            Confirm(f"Delete the {d.kind} session “{title}” ({d.short_id})? This cannot be undone."), done
        )
