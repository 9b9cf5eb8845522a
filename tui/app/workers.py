"""How the tabs run engine work: in thread workers that never stop the app on an
error, each error reaching one handler (``LlmbenchApp.worker_failed``)."""

from __future__ import annotations

import threading
from collections.abc import Callable

from textual import work
from textual.reactive import var
from textual.widgets import Input
from textual.worker import Worker, WorkerState

# cores kept for the UI when a tab's threads are auto: none; the UI takes 5-6 % of one
# core as tokens stream, and the thread policy gives way to it as to any other process
UI_CORES = 0


def engine_work(group: str):
    """A thread worker of ``group``: a new one replaces a running one; an error is reported, not fatal."""
    return work(thread=True, exclusive=True, exit_on_error=False, group=group)


class ReportsWorkerErrors:
    """A widget or screen whose workers' errors go to the app's one handler, then to
    its own ``worker_failed`` (to leave a "running" state, for instance)."""

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR:
            self.app.worker_failed(event.worker)

    def worker_failed(self, worker: Worker) -> None:
        """Override to tidy up after a failed worker."""


class RunsModels:
    """A tab that streams models' answers. While it runs, its fields' cursors hold still:
    a blinking cursor is two screen updates a second, and on a small machine each update
    takes CPU from the models being measured (issue 16)."""

    running = var(False)

    def watch_running(self, running: bool) -> None:
        for field in self.query(Input):
            field.cursor_blink = not running


def in_background(task: Callable[[], object], name: str) -> None:
    """Work that must finish but that no one waits for (closing worker processes on exit):
    a thread the interpreter waits for, so the event loop never blocks on it."""
    threading.Thread(target=task, name=name, daemon=False).start()
