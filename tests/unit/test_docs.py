"""The documentation holds: a short README whose links resolve, a CLI reference that
matches the parser (so it cannot drift), and a screenshot that is one of the TUI's
snapshots. ``make test`` also builds the site with ``mkdocs build --strict``."""

from __future__ import annotations

import importlib.util
import re

from tests.helpers import ROOT

README_MAX_BYTES = 12 * 1024


def _cli_reference():
    spec = importlib.util.spec_from_file_location("cli_reference", ROOT / "scripts" / "cli_reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_readme_is_short_and_its_links_resolve():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(text.encode()) <= README_MAX_BYTES
    links = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text)
    assert links and [link for link in links if not (ROOT / link).exists()] == []
    for command in ("make demo", "make test"):
        assert command in text


def test_the_cli_reference_matches_the_parser():
    """Every command's --help renders (a stray % once broke `sessions --help`) and
    docs/cli.md says the same; regenerate it with scripts/cli_reference.py."""
    ref = _cli_reference()
    generated = ref.render()
    assert "## `llmbench duel`" in generated and "### `llmbench sessions replay`" in generated
    assert ref.TARGET.read_text(encoding="utf-8") == generated, "run: .venv/bin/python scripts/cli_reference.py"


def test_the_screenshot_is_a_snapshot_of_the_tui():
    snapshot = ROOT / "tests" / "tui" / "__snapshots__" / "test_tui_snapshots"
    shot = ROOT / "docs" / "assets" / "sessions.svg"
    assert shot.read_bytes() == (snapshot / "test_duel_and_sessions_at_60x20_and_120x36[f4-size1].svg").read_bytes()


def test_every_page_is_in_the_sites_nav():
    nav = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    pages = sorted(p.name for p in (ROOT / "docs").glob("*.md"))
    assert [p for p in pages if f": {p}" not in nav] == []
