"""A modal form for the duel's mode and generation parameters."""

from __future__ import annotations

from dataclasses import dataclass

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Label, Select, Static

from llmbench.engine.errors import ParamError
from llmbench.engine.runtime.duel import MODES, threads_for
from llmbench.engine.runtime.params import GenParams, schema
from llmbench.engine.util.cpus import cpu_budget, usable_cpus

from ..workers import UI_CORES

# Cores kept for the UI: none. While tokens stream the UI draws at most 4 times a
# second and takes 5 to 6 % of one core (bench/tui_overhead.py), so ``auto`` gives
# the models every core, as headless `llmbench duel` does.
REPEAT_HELP = "answers per side for each prompt, interleaved after a warmup: the stats show mean ± stddev"


def auto_why(mode: str) -> str:
    """What ``auto`` threads means on this machine, in words."""
    kept = f", {UI_CORES} kept for the UI" if UI_CORES else "; the UI takes 5–6% of one as tokens stream"
    halved = ", halved: both models run at once" if mode == "concurrent" else ""
    return f"{cpu_budget().source}{halved}, less those others keep busy{kept}"


def share_warning(settings: DuelSettings) -> str | None:
    """A warning when the model threads asked for outnumber the cores: llama.cpp's
    threads wait for each other, so one that shares a core with another thread (the
    other model's, or the UI's) slows them all."""
    threads = settings.params.threads
    if not threads:
        return None
    running = threads * (2 if settings.mode == "concurrent" else 1)
    cores = usable_cpus()
    if running + UI_CORES <= cores:
        return None
    return (
        f"threads {threads}: {running} model threads on {cores} usable CPUs, and the UI shares them too; the threads "
        f"wait for each other, so expect lower tok/s than with auto ({threads_for(settings.mode, GenParams(), UI_CORES)})"
    )


class Tick(Checkbox):
    """A check box that reads on any terminal: ✓ when on, blank when off (not a colour)."""

    @property
    def BUTTON_INNER(self) -> str:  # noqa: N802 (Textual's name)
        return "✓" if self.value else " "


def _short(help_text: str) -> str:
    """A check box's label: the help up to its first colon or parenthesis."""
    return help_text.split(":")[0].split(" (")[0]


@dataclass(frozen=True)
class DuelSettings:
    params: GenParams
    mode: str
    repeat: int = 1  # answers per side per prompt, interleaved (mean ± stddev, a verdict that knows the noise)


class ParamsScreen(ModalScreen[DuelSettings | None]):
    # kept in the widget tier, not in styles/: its focus colours layer with Input's and
    # Select's own DEFAULT_CSS (in the app tier they override them: the snapshot differs)
    DEFAULT_CSS = """
    ParamsScreen { align: center middle; }
    ParamsScreen > Vertical { width: 64; max-width: 100%; height: auto; max-height: 100%; border: thick $primary; background: $surface; padding: 0 1; overflow-y: auto; }
    ParamsScreen Grid { grid-size: 2; grid-columns: 16 1fr; grid-rows: 1; height: auto; grid-gutter: 0 1; }
    ParamsScreen Input { padding: 0 1; }
    ParamsScreen Input:focus, ParamsScreen Select:focus-within { background: $boost; }
    ParamsScreen #help { color: $text-muted; height: 2; margin-top: 1; }
    ParamsScreen #error { color: $error; height: auto; }
    ParamsScreen #buttons { height: 1; margin-top: 1; align-horizontal: right; }
    ParamsScreen Button { margin-left: 1; min-width: 10; }
    """
    BINDINGS = [Binding("escape", "dismiss_none", "Cancel"), Binding("ctrl+s", "apply", "Apply")]

    def __init__(self, settings: DuelSettings):
        super().__init__()
        self.settings = settings

    def compose(self) -> ComposeResult:
        p = self.settings.params
        with Vertical():
            yield Static("[b]Duel settings[/b]  (Tab moves, Ctrl+S applies, Esc cancels)")
            with Grid():
                yield Label("mode")
                yield Select(
                    [(m, m) for m in MODES], value=self.settings.mode, allow_blank=False, id="mode", compact=True
                )
                yield Label("repeat")
                yield Input(str(self.settings.repeat), id="repeat", compact=True, select_on_focus=True)
                for name, param in schema():
                    yield Label(name)
                    if param.kind is bool:
                        yield Tick(_short(param.help), getattr(p, name), id=name, compact=True)
                    else:
                        value = param.show(getattr(p, name))
                        yield Input(value, id=name, placeholder=param.metavar or "", compact=True, select_on_focus=True)
            yield Static("", id="help")
            yield Static("", id="error")
            with Horizontal(id="buttons"):
                yield Button("Apply", variant="primary", id="apply", compact=True)
                yield Button("Cancel", id="cancel", compact=True)

    def help_for(self, name: str | None) -> str:
        """The focused field's help, for a keyboard user (a tooltip needs a mouse)."""
        if name == "mode":
            return "sequential: A answers, then B, each with every core; concurrent: both at once, half each"
        if name == "repeat":
            return REPEAT_HELP
        param = dict(schema()).get(name or "")
        if param is None:
            return ""
        if name == "threads":
            mode = str(self.query_one("#mode", Select).value)
            n = threads_for(mode, GenParams(), UI_CORES)
            return f"threads per model; auto (or empty) = {n} here: {auto_why(mode)}"
        return f"{name}: {param.help}"

    def on_descendant_focus(self, event) -> None:
        widget = event.widget
        name = widget.id or (widget.parent.id if widget.parent else None)
        self.query_one("#help", Static).update(self.help_for(name))

    def on_select_changed(self, event: Select.Changed) -> None:
        self.query_one("#help", Static).update(self.help_for("mode"))

    def read(self) -> DuelSettings:
        """The form's values, parsed and checked by the parameter schema (ParamError if not)."""
        values: dict = {}
        for name, param in schema():
            if param.kind is bool:
                values[name] = self.query_one(f"#{name}", Tick).value
            else:
                values[name] = param.parse(name, self.query_one(f"#{name}", Input).value)
        params = GenParams(**values).validate()
        text = self.query_one("#repeat", Input).value.strip()
        if not text.isdigit() or int(text) < 1:
            raise ParamError(f"repeat must be a whole number, at least 1, got {text!r}")
        return DuelSettings(params, str(self.query_one("#mode", Select).value), int(text))

    def action_apply(self) -> None:
        try:
            self.dismiss(self.read())
        except ParamError as exc:
            self.query_one("#error", Static).update(str(exc))

    def action_dismiss_none(self) -> None:
        self.dismiss(None)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "apply":
            self.action_apply()
        else:
            self.dismiss(None)
