"""A modal form for the duel's mode and generation parameters."""

from __future__ import annotations

from dataclasses import dataclass

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Label, Select, Static

from llmbench.engine.errors import ParamError
from llmbench.engine.runtime.duel import MODES
from llmbench.engine.runtime.params import GenParams, schema

REPEAT_HELP = "answers per side for each prompt, interleaved after a warmup: the stats show mean ± stddev"


def _short(help_text: str) -> str:
    """A check box's label: the help up to its first colon or parenthesis."""
    return help_text.split(":")[0].split(" (")[0]


@dataclass(frozen=True)
class DuelSettings:
    params: GenParams
    mode: str
    repeat: int = 1  # answers per side per prompt, interleaved (mean ± stddev, a verdict that knows the noise)


class ParamsScreen(ModalScreen[DuelSettings | None]):
    DEFAULT_CSS = """
    ParamsScreen { align: center middle; }
    ParamsScreen > Vertical { width: 64; height: auto; max-height: 100%; border: thick $primary; background: $surface; padding: 0 1; overflow-y: auto; }
    ParamsScreen Grid { grid-size: 2; grid-columns: 18 1fr; grid-rows: 1; height: auto; grid-gutter: 0 1; }
    ParamsScreen Input, ParamsScreen Select { height: 1; border: none; padding: 0 1; }
    ParamsScreen Select > SelectCurrent { border: none; height: 1; padding: 0 1; }
    ParamsScreen Checkbox { border: none; height: 1; padding: 0; }
    ParamsScreen #error { color: $error; height: auto; }
    ParamsScreen Horizontal { height: 1; margin-top: 1; align-horizontal: right; }
    ParamsScreen Button { height: 1; min-width: 10; border: none; margin-left: 1; }
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
                yield Select([(m, m) for m in MODES], value=self.settings.mode, allow_blank=False, id="mode")
                yield Label("repeat")
                yield Input(str(self.settings.repeat), id="repeat", tooltip=REPEAT_HELP)
                for name, param in schema():
                    yield Label(name)
                    if param.kind is bool:
                        yield Checkbox(_short(param.help), getattr(p, name), id=name)
                    else:
                        yield Input(
                            param.show(getattr(p, name)), id=name, placeholder=param.metavar or "", tooltip=param.help
                        )
            yield Static("", id="error")
            with Horizontal():
                yield Button("Apply", variant="primary", id="apply")
                yield Button("Cancel", id="cancel")

    def read(self) -> DuelSettings:
        """The form's values, parsed and checked by the parameter schema (ParamError if not)."""
        values: dict = {}
        for name, param in schema():
            if param.kind is bool:
                values[name] = self.query_one(f"#{name}", Checkbox).value
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
