"""Keys as a terminal sends them: the app in a real pseudo-terminal, read by Textual's own
Linux driver and parser, keys written in bursts (as they arrive over SSH or from tmux)."""

import os
import time

import pytest

from llmbench.engine.config import read_settings, save_config
from tests.helpers import LLMBENCH, Terminal

pytestmark = pytest.mark.slow  # the app in a pty


def _temperature_after(burst: bytes) -> float | None:
    """The settings form's temperature (``2.0`` before) after End, then ``burst`` in one
    write, then Ctrl+S; what the app saved."""
    save_config(duel_params={"temperature": 2.0, "max_tokens": 8})
    term = Terminal([LLMBENCH], dict(os.environ))
    try:
        term.wait_for(b"Ask the models")
        term.write(b"\x0f")  # Ctrl+O: the settings form, the mode field focused
        term.wait_for(b"Duel settings")
        for _ in range(2):  # Tab to repeat, then to temperature
            time.sleep(0.3)
            term.write(b"\t")
        term.wait_for(b"sampling temperature", 10)
        time.sleep(0.3)
        term.write(b"\x1b[F")  # End: the cursor after "2.0", the selection gone
        time.sleep(0.3)
        term.write(burst)  # one write: one burst, as over SSH
        time.sleep(0.5)
        term.write(b"\x13")  # Ctrl+S: apply
        end = time.monotonic() + 10
        while time.monotonic() < end:
            params = read_settings()[0].get("duel_params") or {}
            if params.get("temperature") != 2.0:
                return params.get("temperature")
            time.sleep(0.1)
        return 2.0
    finally:
        term.close()


def test_a_burst_with_backspace_keeps_its_order_through_the_real_driver():
    """Three Backspaces and ``0.7`` in one write on ``2.0``: Textual ran the Backspaces after
    the printable keys of the same burst (``2.00.7``, then three deleted: ``2.0``, as if
    nothing had been typed)."""
    assert _temperature_after(b"\x7f\x7f\x7f0.7") == pytest.approx(0.7)


def test_more_backspaces_than_characters_then_keys_in_one_write():
    """Four Backspaces (the last has nothing left to delete) and ``1.`` on ``2.0``."""
    assert _temperature_after(b"\x7f\x7f\x7f\x7f1.") == pytest.approx(1.0)
