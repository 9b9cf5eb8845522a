"""The Doctor page (command palette: "Doctor"): ``llmbench doctor``'s checks, gathered in
a child process so that importing torch and llama.cpp never freezes the screen."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Footer, Static

from llmbench.engine.doctor import FAIL, WARN, Doctor
from llmbench.engine.errors import LlmbenchError
from llmbench.engine.util.service import Service

from ...render.doctor_table import doctor_table
from ..messages import Ready
from ..workers import ReportsWorkerErrors, engine_work
from .page import PageScreen


class DoctorScreen(ReportsWorkerErrors, PageScreen):
    BINDINGS = [Binding("r", "check", "Check again")]

    def __init__(self) -> None:
        super().__init__()
        self.checks: list | None = None

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(
                "checking llama.cpp, torch, the GPUs, memory and paths…", id="doctor-status", classes="page-status"
            )
            with VerticalScroll(id="doctor-scroll", classes="page-body"):
                yield Static("", id="doctor-table")
        yield Footer()

    def on_mount(self) -> None:
        self.action_check()

    def action_check(self) -> None:
        self.query_one("#doctor-status", Static).update("checking llama.cpp, torch, the GPUs, memory and paths…")
        self.check()

    @engine_work("doctor")
    def check(self) -> None:
        service = Service(Doctor, "doctor")
        try:
            self.post_message(Ready("doctor", service.call("run")))
        except LlmbenchError as exc:
            self.post_message(Ready("doctor", error=str(exc)))
        finally:
            service.stop(graceful=True)

    def on_ready(self, message: Ready) -> None:
        status = self.query_one("#doctor-status", Static)
        if message.error:
            status.update(Text(f"doctor: {message.error}", style="bold red"))
            return
        _, self.checks = message.value
        counts = {v: sum(c.verdict == v for c in self.checks) for v in (FAIL, WARN)}
        status.update(f"{len(self.checks)} checks: {counts[FAIL]} failed, {counts[WARN]} warnings "
                      "(r: check again · `llmbench doctor` prints the same)")  # fmt: skip
        self.query_one("#doctor-table", Static).update(doctor_table(self.checks, title=None))
