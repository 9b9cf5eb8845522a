"""The TUI driven with Textual's Pilot at 80x24, on the real demo models."""

import re
import time

import pytest
from textual.widgets import Checkbox, Input, Markdown, TabbedContent

from llmbench.engine.config import load_config
from llmbench.engine.runtime.params import schema
from llmbench.engine.sessions import read_session
from llmbench.engine.util.cpus import CpuBudget
from llmbench.tui.app.app import LlmbenchApp
from llmbench.tui.app.modals.params import ParamsScreen
from llmbench.tui.app.tabs.duel import DuelView
from llmbench.tui.app.widgets.contestant import ContestantPane
from llmbench.tui.app.widgets.stats import StatsView
from tests.helpers import FIXTURES, ROOT, SIZE, ask, is_one_run_verdict, visible_text, wait_for, wait_shown

pytestmark = pytest.mark.slow  # the TUI driven with Pilot, both demo models


async def inspect_in_tab(pilot, src: str):
    """Open the Inspect tab, type ``src`` and wait for its summary; returns the view."""
    from llmbench.tui.app.tabs.inspect import InspectView

    await pilot.press("f2")
    await pilot.pause()
    view = pilot.app.query_one(InspectView)
    box = pilot.app.query_one("#inspect-src", Input)
    box.focus()
    box.value = src
    await pilot.press("enter")
    await wait_for(pilot, lambda: getattr(view, "summary", None) is not None, timeout=20)
    return view


async def test_duel_streams_both_answers_with_stats_and_verdict(registered):
    app = LlmbenchApp()
    async with app.run_test(size=SIZE) as pilot:
        view = await ask(pilot, "Name a colour.")
        await wait_for(pilot, lambda: not view.running)
        await pilot.pause(0.3)
        log = read_session(view.last_session)
        for side in "ab":
            pane = app.query_one(f"#pane-{side}", ContestantPane)
            done = [e for e in log.events if e["type"] == "done" and e["side"] == side][0]
            streamed = "".join(e["text"] for e in log.events if e["type"] == "token" and e["side"] == side)
            assert pane.text == streamed, "the pane shows every streamed token"
            assert pane.query_one(Markdown).source.strip() == streamed.strip()
            assert pane.status == "done · each figure one sample"
            assert pane.stats.gen_tokens == done["stats"]["gen_tokens"]
            folded = visible_text(pane.query_one(StatsView))  # at 80x24 the answer has the room
            assert re.search(r"gen [\d.]+ tok/s · TTFT \d+ ms\s*\n RAM \d+ MiB", folded), folded
            ram_line = str(pane.query_one(".ram").render())
            assert "RAM" in ram_line and "MiB" in ram_line and "· idle" in ram_line and "CPU" not in ram_line, (
                "no stale CPU% once done"
            )
        title_b = str(app.query_one("#pane-b .title").render())
        assert "gemma3-270m" in title_b and "Q4_K_M" in title_b and "no template" in title_b
        await pilot.press("ctrl+s")  # every stat, asked for
        await pilot.pause()
        for side in "ab":
            shown = visible_text(app.query_one(f"#pane-{side} StatsView"))
            assert "TTFT" in shown and "tok/s" in shown and "MiB" in shown
            assert re.search(r"mem\s+\d+f\+\d+a\s+est\s+[+-]\d+%", shown), "the RSS split, the estimate's error"
        verdict = str(app.query_one("#verdict").render())
        assert is_one_run_verdict(verdict), verdict


async def test_sequential_b_says_it_waits_for_a_not_that_it_loads(registered):
    """B's worker starts only once A is done: while A streams, B says so (not "loading…")."""
    app = LlmbenchApp(spec_a="smollm2", spec_b="smollm2")
    async with app.run_test(size=SIZE) as pilot:
        view = app.query_one(DuelView)
        view.mode = "sequential"
        view.params = view.params.replace(max_tokens=300, temperature=0, ignore_eos=True)  # A streams for seconds
        await ask(pilot, "Count.")
        pane_a, pane_b = app.query_one("#pane-a", ContestantPane), app.query_one("#pane-b", ContestantPane)
        await wait_for(pilot, lambda: pane_a.tokens > 0)
        assert pane_b.status == "waiting for A…"
        assert pane_a.status.startswith("streaming · ")
        prompt = app.query_one("#prompt", Input)
        assert not prompt.cursor_blink, "the cursor holds still while models run: each blink is a screen update"
        await wait_for(pilot, lambda: not view.running)
        assert pane_b.status.startswith("done")
        assert prompt.cursor_blink
        assert "· idle" in str(pane_a.query_one(".ram").render()), "no CPU% shown for a side that is done"


async def test_escape_cancels_at_the_next_tokens(registered):
    """A cannot finish on its own (end-of-sequence ruled out), so Esc is what ends it, a few
    tokens after the key by the worker's own clock (one clock for every process): a count,
    not a time, so a busy machine cannot fail it."""
    app = LlmbenchApp(spec_a="smollm2", spec_b="smollm2")
    async with app.run_test(size=SIZE) as pilot:
        view = app.query_one(DuelView)
        view.params = view.params.replace(max_tokens=2000, temperature=0, ignore_eos=True)
        await ask(pilot, "Count to a thousand.")
        pane_a = app.query_one("#pane-a", ContestantPane)
        await wait_for(pilot, lambda: pane_a.tokens > 3)
        pressed_ns = time.monotonic_ns()
        await pilot.press("escape")
        await wait_for(pilot, lambda: not view.running, timeout=10)
        assert pane_a.status == "cancelled"
        log = read_session(view.last_session)
    done = next(e for e in log.events if e["type"] == "done" and e["side"] == "a")
    assert done["finish_reason"] == "cancelled" and done["stats"]["gen_tokens"] < 2000
    after = [e for e in log.events if e["type"] == "token" and e.get("side") == "a" and e["t_ns"] > pressed_ns]
    assert len(after) <= 25, f"{len(after)} tokens after Esc"
    b_end = [e for e in log.events if e.get("side") == "b" and e["type"] in ("done", "error")]
    assert len(b_end) == 1 and "cancelled" in (b_end[0].get("code"), b_end[0].get("finish_reason"))


async def test_escape_while_only_b_answers_leaves_a_done(registered):
    """Sequential: A is done and B streams when Esc comes; A keeps its 'done' (it said
    'cancelling…' for good), B ends cancelled."""
    app = LlmbenchApp(spec_a="smollm2", spec_b="smollm2")
    async with app.run_test(size=SIZE) as pilot:
        view = app.query_one(DuelView)
        view.mode = "sequential"
        view.params = view.params.replace(max_tokens=200, temperature=0, ignore_eos=True)
        await ask(pilot, "Tell a story.")
        pane_a, pane_b = app.query_one("#pane-a", ContestantPane), app.query_one("#pane-b", ContestantPane)
        await wait_for(pilot, lambda: pane_b.tokens > 0)
        assert pane_a.status == "done · each figure one sample"
        await pilot.press("escape")
        await wait_for(pilot, lambda: not view.running, timeout=30)
        assert pane_a.status == "done · each figure one sample" and pane_a.stats is not None
        assert pane_b.status == "cancelled" and pane_b.tokens < 200


async def test_a_bad_model_shows_its_error_and_the_other_side_answers(registered, tmp_path):
    bad = tmp_path / "broken.gguf"
    bad.write_text("not a model")
    app = LlmbenchApp(spec_a="smollm2", spec_b=str(bad))
    async with app.run_test(size=SIZE) as pilot:
        view = await ask(pilot, "Hi")
        await wait_for(pilot, lambda: not view.running)
        pane_b = app.query_one("#pane-b", ContestantPane)
        assert pane_b.status == "error" and pane_b.has_class("-error")
        assert "broken.gguf: not a GGUF file" in pane_b.query_one(Markdown).source
        assert app.query_one("#pane-a", ContestantPane).status.startswith("done")


async def test_a_duel_just_run_is_listed_in_the_sessions_tab_and_replays(registered):
    from textual.widgets import DataTable

    from llmbench.tui.app.tabs.sessions import SessionsView
    from llmbench.tui.app.widgets.replay_bar import ReplayBar

    app = LlmbenchApp()
    async with app.run_test(size=SIZE) as pilot:
        view = await ask(pilot, "Say hi.")
        await wait_for(pilot, lambda: not view.running)
        answer = app.query_one("#pane-a", ContestantPane).text
        await pilot.press("f4")
        assert app.query_one(TabbedContent).active == "sessions"
        sessions_view = app.query_one(SessionsView)
        await wait_for(pilot, lambda: sessions_view.digests, timeout=20)
        newest = sessions_view.selected
        assert (
            newest.path == view.last_session and not newest.sample and app.focused is sessions_view.query_one(DataTable)
        )
        await pilot.press("i")  # open at once, in the Duel tab
        assert app.query_one(TabbedContent).active == "duel"
        bar = view.query_one(ReplayBar)
        await wait_for(pilot, lambda: bar.active and bar.player.finished, timeout=10)
        await pilot.pause(0.2)
        assert app.query_one("#pane-a", ContestantPane).text == answer
        view.mode = "concurrent"  # the live setting differs: the replay shows the recorded one
        await pilot.press("escape")
        assert not bar.active
        await pilot.press("f4", "i")  # the same session again, with the live mode changed
        await wait_for(pilot, lambda: bar.active and bar.player.finished, timeout=10)
        assert "replay · sequential, as recorded" in str(view.query_one("#settings").render())
        assert view.shown_mode == "sequential"
        await pilot.press("escape")
        assert "concurrent" in str(view.query_one("#settings").render())


async def test_closing_a_replay_gives_the_panes_back_to_the_pickers_models(registered):
    """A replay of smollm2 against gemma3-270m over pickers that read smollm2 / smollm2:
    after Esc, pane B is titled with the picker's model again, not the replay's."""

    from llmbench.engine.sessions.replay import Timeline
    from llmbench.tui.app.widgets.replay_bar import ReplayBar

    sample = next((ROOT / "sessions").glob("*-duel-*.jsonl"))
    app = LlmbenchApp(spec_a="smollm2", spec_b="smollm2")
    async with app.run_test(size=SIZE) as pilot:
        view = app.query_one(DuelView)
        await view.replay(Timeline.from_log(read_session(sample)), "sample", {"a": "smollm2", "b": "gemma3-270m"}, 0.0)
        bar = view.query_one(ReplayBar)
        await wait_for(pilot, lambda: bar.active and bar.player.finished, timeout=10)
        await wait_for(pilot, lambda: "gemma3-270m" in str(app.query_one("#pane-b .title").render()), timeout=10)
        await pilot.press("escape")
        await pilot.pause()
        pane_b = app.query_one("#pane-b", ContestantPane)
        assert "smollm2" in str(pane_b.query_one(".title").render()) and "gemma" not in pane_b.title_text
        assert pane_b.text == "" and pane_b.status.startswith("ready")


async def test_settings_modal_by_keyboard_and_remembered(registered):
    app = LlmbenchApp()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+o")
        await pilot.pause()
        assert isinstance(app.screen, ParamsScreen)
        for name, param in schema():  # one field per parameter, from the one schema
            assert app.screen.query_one(f"#{name}", Checkbox if param.kind is bool else Input)
        threads = app.screen.query_one("#threads", Input)
        assert threads.value == "auto"
        threads.value = "2"
        field = app.screen.query_one("#max_tokens", Input)
        field.value = "-4"
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert isinstance(app.screen, ParamsScreen), "a bad value keeps the form open"
        assert "max_tokens must be at least 1" in str(app.screen.query_one("#error").render())
        field.value = "33"
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert not isinstance(app.screen, ParamsScreen)
        assert app.query_one(DuelView).params.max_tokens == 33 and app.query_one(DuelView).params.threads == 2
        await pilot.press("ctrl+o")
        await pilot.pause()
        app.screen.query_one("#threads", Input).value = "auto"  # typed as the form shows it
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert not isinstance(app.screen, ParamsScreen) and app.query_one(DuelView).params.threads is None
    assert load_config()["duel_params"]["max_tokens"] == 33
    app2 = LlmbenchApp()
    async with app2.run_test(size=SIZE) as pilot:
        assert app2.query_one(DuelView).params.max_tokens == 33


async def test_settings_typed_by_keyboard_show_what_is_typed(registered, monkeypatch):
    """Keys only: Tab to threads, type `auto` over `3`; space ticks a box and it shows ✓;
    the help line says what auto means here; more threads than cores gets a warning."""
    import llmbench.tui.app.modals.params as params_screen

    monkeypatch.setattr(params_screen, "cpu_budget", lambda: CpuBudget(2, 2, None, 2, 2, (0, 1)))
    monkeypatch.setattr(params_screen, "usable_cpus", lambda: 2)
    app = LlmbenchApp()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+o", *["tab"] * 10)
        threads = app.screen.query_one("#threads", Input)
        assert app.screen.focused is threads
        assert "auto (or empty) = 2 here: 2 CPUs, less those others keep busy; the UI takes 5–6% of one" in str(
            app.screen.query_one("#help").render()
        )
        await pilot.press("3")  # the field's text is selected on focus: typing replaces it
        assert threads.value == "3"
        await pilot.press("tab", "tab")
        box = app.screen.query_one("#ignore_eos", params_screen.Tick)
        assert app.screen.focused is box and "✓" not in str(box.render())
        await pilot.press("space")
        assert box.value and "✓" in str(box.render())
        await pilot.press("ctrl+s")
        await pilot.pause()
        view = app.query_one(DuelView)
        assert view.params.threads == 3 and view.params.ignore_eos
        assert any("3 model threads on 2 usable CPUs" in n.message for n in app._notifications)
        await pilot.press("ctrl+o", *["tab"] * 10, *"auto", "ctrl+s")
        await pilot.pause()
        assert view.params.threads is None


async def test_themes_from_the_themes_folder_are_remembered(registered):
    app = LlmbenchApp()
    async with app.run_test(size=SIZE) as pilot:
        assert app.theme == "llmbench-dark"
        assert {"llmbench-dark", "llmbench-light", "solarized-terminal"} <= set(app.available_themes)
        app.theme = "llmbench-light"
        await pilot.pause(0.2)
    assert load_config()["theme"] == "llmbench-light"
    app2 = LlmbenchApp()
    async with app2.run_test(size=SIZE) as pilot:
        assert app2.theme == "llmbench-light"


async def test_a_16_colour_terminal_gets_the_terminals_own_colours_not_remembered(registered, monkeypatch):
    """TERM=linux or TERM=xterm: a theme's shades collapse (the prompt's border went black on
    black); the ANSI theme of the same darkness is used for the run, and the saved one kept."""
    from llmbench.engine.config import save_config

    save_config(theme="llmbench-light")
    monkeypatch.setattr(LlmbenchApp, "few_colours", lambda self: True)
    app = LlmbenchApp()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0.2)
        assert app.theme == "ansi-light"
        assert any("16 colours" in n.message for n in app._notifications)
    assert load_config()["theme"] == "llmbench-light"
    monkeypatch.setattr(LlmbenchApp, "few_colours", lambda self: False)
    async with LlmbenchApp().run_test(size=SIZE) as pilot:
        assert pilot.app.theme == "llmbench-light"


async def test_a_damaged_registry_and_config_are_named_and_nothing_is_dropped(registered):
    """The TUI used to die on a registry of `{corrupt` (exiting 0), and on quit wrote over a
    damaged config.json with only its own settings."""
    from llmbench.engine import paths

    paths.registry_path().write_text("{corrupt")
    paths.config_path().write_text('{"api_key": "sk-keep", ')
    app = LlmbenchApp()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0.2)
        said = " ".join(n.message for n in app._notifications)
        assert "model registry is unreadable" in said and "settings are unreadable" in said
        assert "smollm2" in app.model_names and app.query_one(DuelView).spec_a == "smollm2"
        app.theme = "llmbench-light"  # a setting saved while the file is damaged
        await pilot.pause(0.3)
    kept = list(paths.config_path().parent.glob("config.json.damaged-*"))
    assert len(kept) == 1 and "sk-keep" in kept[0].read_text()
    assert load_config()["theme"] == "llmbench-light"


async def test_theme_switch_from_the_command_palette(registered):
    app = LlmbenchApp()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+p")
        await pilot.pause(0.3)
        await pilot.press(*"theme")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await pilot.pause(0.5)
        await pilot.press(*"solarized-terminal")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await pilot.pause(0.5)
        assert app.theme == "solarized-terminal"
    assert load_config()["theme"] == "solarized-terminal"


async def test_keyboard_only_change_a_model_and_ask(registered):
    """Tab to model B's picker, type a name (the suggestion is accepted with →),
    Tab back to the prompt and send: no mouse, no direct widget access."""
    app = LlmbenchApp(spec_a="smollm2", spec_b="gemma3-270m")
    async with app.run_test(size=SIZE) as pilot:
        view = app.query_one(DuelView)
        await pilot.pause()
        assert app.focused.id == "prompt"
        while app.focused.id != "spec-b":
            await pilot.press("shift+tab")
        await pilot.press("ctrl+a", "ctrl+k", *"smo", "right")  # clear, type, accept suggestion
        assert app.focused.value == "smollm2"
        while app.focused.id != "prompt":
            await pilot.press("tab")
        await pilot.press(*"Hi", "enter")
        await wait_for(pilot, lambda: view.running)
        await wait_for(pilot, lambda: not view.running)
        assert "smollm2" in str(app.query_one("#pane-b .title").render())
        assert app.query_one("#pane-b", ContestantPane).status.startswith("done")
    assert load_config()["duel_b"] == "smollm2"


async def test_two_paths_in_one_folder_are_told_apart(demo_paths, home, tmp_path):
    """Pickers show a path's end (its file name) when not being edited; the pane titles show
    the file names, never a blank title because a path is too long."""
    folder = tmp_path / "a-data-folder-with-a-long-name" / "models"
    folder.mkdir(parents=True)
    paths = {}
    for name, src in demo_paths.items():
        paths[name] = folder / src.name
        paths[name].symlink_to(src)
    app = LlmbenchApp(spec_a=str(paths["smollm2"]), spec_b=str(paths["gemma3-270m"]))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0.3)
        for side, name in (("a", "smollm2"), ("b", "gemma3-270m")):
            picker = visible_text(app.query_one(f"#spec-{side}", Input))
            assert picker.strip().endswith(paths[name].name[-12:]), picker
            title = visible_text(app.query_one(f"#pane-{side} .title"))
            assert paths[name].name[:12] in title and "a-data-folder" not in title, title
        picker = app.query_one("#spec-a", Input)
        picker.focus()
        await pilot.press("home")  # being edited: the start, as typed
        await pilot.pause()
        assert visible_text(picker).strip().startswith(str(tmp_path)[:8])
        await pilot.press("tab")
        await pilot.pause(0.2)
        assert visible_text(picker).strip().endswith(paths["smollm2"].name[-12:])


async def test_inspect_tab_summary_compare_and_memory(registered, tmp_path):

    configs = FIXTURES / "configs"
    app = LlmbenchApp()
    async with app.run_test(size=SIZE) as pilot:
        view = await inspect_in_tab(pilot, "smollm2")
        src = app.query_one("#inspect-src", Input)
        await wait_shown(pilot, app.query_one("#inspect-summary"), "RMSNorm")
        summary = visible_text(app.query_one("#inspect-summary"))
        assert "49,152" in summary and "576" in summary and "RMSNorm" in summary
        await wait_shown(pilot, app.query_one("#inspect-projections"), "k_proj")
        await wait_shown(pilot, app.query_one("#inspect-memory"), "Q4_K_M")
        view.summary = None
        src.value = str(configs / "meta-llama-3-8b.json")
        app.query_one("#inspect-compare", Input).value = str(configs / "qwen2-1.5b-instruct-gptq-int8.json")
        await pilot.press("enter")
        await wait_for(pilot, lambda: view.summary is not None, timeout=20)
        text = visible_text(app.query_one("#inspect-summary"))
        assert "128,256" in text and "151,936" in text
        memory = visible_text(app.query_one("#inspect-memory"))
        assert "memory: meta-llama-3-8b" in memory and "memory: qwen2-1.5b" in memory, "both models' memory tables"
        results = app.query_one("#inspect-results")
        assert results.scroll_y == 0, "a comparison opens at its top"
        await wait_for(pilot, lambda: results.max_scroll_y > 0, timeout=10)  # laid out (later on a busy machine)
        await pilot.press("pagedown", "pagedown")  # from the model field: type, Enter, read
        await wait_for(pilot, lambda: results.scroll_y > 0, timeout=10)
        assert app.focused is src
        src.value = str(tmp_path)  # a folder with no config
        await pilot.press("enter")
        await wait_for(pilot, lambda: "no config.json" in str(app.query_one("#inspect-error").render()), timeout=20)


async def test_inspect_module_tree_of_an_80_layer_config(home):

    from textual.widgets import Tree

    config = FIXTURES / "configs" / "meta-llama-3-70b.json"
    app = LlmbenchApp()
    async with app.run_test(size=SIZE) as pilot:
        await inspect_in_tab(pilot, str(config))
        tree = app.query_one("#inspect-modules", Tree)
        assert not tree.has_class("-ready"), "the summary shows before the module tree is built"
        assert "building" in str(app.query_one("#inspect-modules-status").render())
        await wait_for(pilot, lambda: tree.has_class("-ready"), timeout=60)
        assert tree.cursor_line == 0, "a cursor from the start: Enter after Tab folds a branch"
        labels = [str(node.label) for node in tree.root.children[0].children[0].children]
        assert any("layers" in label for label in labels)
        layers = [n for n in tree.root.children[0].children[0].children if "layers" in str(n.label)][0]
        assert "×80" in str(layers.children[0].label) and "LlamaDecoderLayer" in str(layers.children[0].label)
        assert len(layers.children) == 1, "80 identical layers are one node"
        layers.children[0].expand()
        await pilot.pause()
        assert "k_proj" in visible_text(tree) or any("self_attn" in str(c.label) for c in layers.children[0].children)


async def test_inspect_tab_shows_a_lora_adapter(home, tmp_path):
    from tests.helpers import write_gguf_lora

    app = LlmbenchApp()
    async with app.run_test(size=SIZE) as pilot:
        await inspect_in_tab(pilot, str(write_gguf_lora(tmp_path / "lora.gguf")))
        text = visible_text(app.query_one("#inspect-summary"))
        assert "LoRA adapter" in text and "attn_q, attn_v" in text and "rank r" in text


async def test_three_contestants_answer_in_two_rows_at_80x24_and_replay(registered):
    """ "+ C, D" takes a third model: three panes (two rows at 80 columns), each with its
    answer and stats, a verdict against the fastest; the session replays three panes."""
    from llmbench.engine.sessions.digest import digest
    from llmbench.engine.sessions.replay import Timeline

    app = LlmbenchApp(spec_a="smollm2", spec_b="smollm2")
    async with app.run_test(size=SIZE) as pilot:
        app.query_one("#spec-more", Input).value = "smollm2"
        await pilot.pause()
        view = app.query_one(DuelView)
        assert view.sides == ["a", "b", "c"] and view.has_class("-rows")
        view.params = view.params.replace(max_tokens=6, temperature=0)
        await ask(pilot, "Say hello.")
        await wait_for(pilot, lambda: not view.running)
        await pilot.pause(0.3)
        for side in "abc":
            pane = app.query_one(f"#pane-{side}", ContestantPane)
            assert pane.text and pane.stats is not None and pane.status.startswith("done"), side
        assert not app.query_one("#pane-d", ContestantPane).display
        assert "fastest" in str(app.query_one("#verdict").render())
        log = read_session(view.last_session)
        assert set(log.header["contestants"]) == {"a", "b", "c"}
        await app.open_session(Timeline.from_log(log), digest(log), speed=100.0)
        await wait_for(pilot, lambda: app.query_one("#pane-c", ContestantPane).stats is not None, timeout=20)
        assert app.query_one("#pane-c", ContestantPane).title_text
    assert load_config()["duel_more"] == "smollm2"
