"""The shape of the code holds: subsystems import one way (downwards), no import cycle,
project code names itself only as ``llmbench.*`` or relatively, no module over 500
lines, and no function over 60 lines without a reason written above it.

Imports inside functions count: a cycle hidden in a function is still a cycle."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.helpers import ROOT

# Lower layers never import higher ones. The ground floor of each package is 0.
LAYERS = {
    "engine": {
        "": 0,
        "errors": 0,
        "paths": 0,
        "config": 0,
        "jobs": 0,  # the one shape of long work (Progress, Finished, Job), for every subsystem
        "util": 0,
        "models": 1,
        "inspect": 2,
        "runtime": 3,
        "rag": 4,
        "sessions": 5,
        "experiments": 6,
        "doctor": 6,
    },
    "tui": {  # a dotted key is a floor inside a package: the longest that matches counts
        "": 0,
        "render": 0,  # Rich renderers: tables, charts; what the CLI prints and the app reuses
        "app": 1,
        "app.bridge": 1,
        "app.messages": 1,
        "app.workers": 1,
        "app.themes": 1,
        "app.widgets": 2,
        "app.modals": 3,
        "app.tabs": 4,
        "app.app": 5,
        "cli": 6,  # beside the app, never importing it (nor it the CLI): see the test below
        "main": 7,  # the entry point: the one module that knows both
    },
}
MAX_MODULE_LINES = 500
MAX_FUNCTION_LINES = 60
LONG_REASON = "# long:"


def module_files() -> dict[str, Path]:
    out = {}
    for package in LAYERS:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def imports_of(name: str, text: str, is_package: bool, known: set[str]) -> tuple[set[str], list[str]]:
    """The project modules module ``name`` imports (anywhere in its text), and any import
    that names the project without its ``llmbench.`` namespace."""
    tree = ast.parse(text)
    package = name.split(".") if is_package else name.split(".")[:-1]
    found, bare = set(), []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            candidates = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = ".".join(package[: len(package) - node.level + 1] + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            candidates = [f"{base}.{a.name}" for a in node.names] + [base]
        else:
            continue
        for target in candidates:
            if target.split(".")[0] in LAYERS:
                if isinstance(node, ast.Import) or not node.level:
                    bare.append(f"{name}:{node.lineno}: {target}")
                    continue
            target = target.removeprefix("llmbench.")
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found, bare


def graph() -> tuple[dict[str, set[str]], list[str]]:
    files = module_files()
    edges, bare = {}, []
    for name, path in files.items():
        edges[name], wrong = imports_of(name, path.read_text(encoding="utf-8"), path.name == "__init__.py", set(files))
        bare += wrong
    return edges, bare


def layer(module: str) -> tuple[str, int]:
    package, _, rest = module.partition(".")
    parts = rest.split(".")
    for i in range(len(parts), 0, -1):  # the longest key that matches: app.tabs.duel -> app.tabs
        if (key := ".".join(parts[:i])) in LAYERS[package]:
            return package, LAYERS[package][key]
    return package, 0


def upward_imports(edges: dict[str, set[str]]) -> list[str]:
    """Imports from a lower layer into a higher one, and from the engine into the UI."""
    out = []
    for source, targets in edges.items():
        src_pkg, src_layer = layer(source)
        for target in sorted(targets):
            dst_pkg, dst_layer = layer(target)
            if src_pkg == "engine" and dst_pkg == "tui":
                out.append(f"{source} -> {target} (the engine never imports the UI)")
            elif src_pkg == dst_pkg and dst_layer > src_layer:
                out.append(f"{source} -> {target} (layer {src_layer} imports layer {dst_layer})")
    return out


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def long_functions(path: Path) -> list[str]:
    lines = path.read_text(encoding="utf-8").splitlines()
    out = []
    for node in ast.walk(ast.parse("\n".join(lines))):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            length = node.end_lineno - node.lineno + 1
            first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            above = " ".join(lines[max(0, first - 4) : first - 1])
            if length > MAX_FUNCTION_LINES and LONG_REASON not in above:
                out.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({length} lines)")
    return out


@pytest.fixture(scope="module")
def project():
    return graph()


def test_subsystems_import_downwards_only(project):
    edges, _ = project
    assert upward_imports(edges) == []


def test_no_import_cycles(project):
    edges, _ = project
    assert cycles(edges) == []


def test_the_project_names_itself_as_llmbench(project):
    _, bare = project
    assert bare == [], "import llmbench.engine..., llmbench.tui..., or relatively"


def test_no_module_over_500_lines():
    big = [
        f"{p.relative_to(ROOT)} ({n} lines)"
        for p in module_files().values()
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES
    ]
    assert big == []


def test_no_function_over_60_lines_without_a_reason():
    assert [f for p in module_files().values() for f in long_functions(p)] == []


def test_the_checks_can_fail():
    """The checkers on a small made-up graph: an upward import, a cycle, a bare name."""
    edges = {
        "engine.models.spec": {"engine.runtime.duel"},
        "engine.runtime.duel": {"engine.models.spec"},
        "engine.errors": {"tui.app"},
        "tui.app.widgets.stats": {"tui.app.tabs.duel"},
    }
    assert len(upward_imports(edges)) == 3
    assert cycles(edges) == [["engine.models.spec", "engine.runtime.duel"]]
    assert layer("engine.sessions.replay") == ("engine", 5) and layer("tui.cli.duel") == ("tui", 6)
    assert layer("tui.app.tabs.duel") == ("tui", 4) and layer("tui.app.app") == ("tui", 5)
    known = set(module_files())
    text = (
        "from engine.errors import SpecError\ndef f():\n    from ..runtime import duel\n    import llmbench.tui.app\n"
    )
    found, bare = imports_of("engine.models.spec", text, False, known)
    assert bare == ["engine.models.spec:1: engine.errors.SpecError", "engine.models.spec:1: engine.errors"]
    assert found == {"engine.runtime", "engine.runtime.duel", "tui.app"}  # a package runs its __init__ too


# ---------------------------------------------------------------- the worker's requests and the backends

PRIVATE_LLAMA = (r"(?<!self)\._(model|ctx|batch)\b",)  # llama-cpp-python's private attributes (a Llama's)


def test_private_llama_cpp_attributes_are_read_in_one_adapter():
    import re

    adapter = ROOT / "engine" / "runtime" / "backends" / "llama_handles.py"
    found = [
        f"{p.relative_to(ROOT)}:{i}"
        for p in module_files().values()
        if p != adapter
        for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
        if any(re.search(pattern, line) for pattern in PRIVATE_LLAMA)
    ]
    assert found == []


def test_every_request_kind_is_served_and_has_a_client_method():
    import typing

    from llmbench.engine.runtime import requests
    from llmbench.engine.runtime.worker import ModelWorker

    kinds = set(typing.get_args(requests.Request))
    assert set(requests.SERVE) == kinds
    client = {n for n, f in vars(ModelWorker).items() if callable(f) and not n.startswith("_")}
    aliases = {"piecesof": "pieces", "serverlogprobs": "server_logprobs"}  # ModelWorker.pieces sends PiecesOf...
    names = {aliases.get(requests.code(k), requests.code(k)) for k in kinds}
    assert names <= client, sorted(names - client)


def test_no_request_is_built_as_a_tuple():
    calls = [
        f"{p.relative_to(ROOT)}:{i}"
        for p in module_files().values()
        for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
        if ".request((" in line or "_send((" in line
    ]
    assert calls == []


def test_every_backend_implements_the_whole_protocol():
    from llmbench.engine.runtime.backends.base import Backend
    from llmbench.engine.runtime.backends.hf import HFBackend
    from llmbench.engine.runtime.backends.llama_cpp import LlamaCppBackend
    from llmbench.engine.runtime.backends.remote import OpenAIBackend

    declared = {n for n in vars(Backend) if not n.startswith("_")} | set(Backend.__annotations__)
    assert {"load", "generate", "text_tokens", "logits", "bench", "prompt_logprobs", "RETUNES"} <= declared
    for cls in (LlamaCppBackend, HFBackend, OpenAIBackend):
        missing = [n for n in declared if not hasattr(cls, n)]
        assert missing == [], (cls.__name__, missing)


# ---------------------------------------------------------------- the UI's rooms

TEXTUAL = ("textual", "textual_plotext")


def _imports_names(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_the_cli_and_the_app_never_import_each_other(project):
    edges, _ = project
    crossing = [
        f"{src} -> {dst}"
        for src, targets in edges.items()
        for dst in targets
        if (src.startswith("tui.cli") and dst.startswith("tui.app"))
        or (src.startswith("tui.app") and dst.startswith("tui.cli"))
    ]
    assert crossing == []
    both = [src for src, targets in edges.items() if any(t.startswith("tui.app") for t in targets)
            and any(t.startswith("tui.cli") for t in targets)]  # fmt: skip
    assert both == ["tui.main"]


def test_the_renderers_and_the_cli_import_no_textual():
    files = module_files()
    found = [
        f"{name}: {sorted(_imports_names(path) & set(TEXTUAL))}"
        for name, path in files.items()
        if name.startswith(("tui.render", "tui.cli")) and _imports_names(path) & set(TEXTUAL)
    ]
    assert found == []
    assert any(name.startswith("tui.render.") for name in files)


def test_the_app_keeps_its_rooms():
    """Tabs, modals and widgets each in their own folder; nothing left at the UI's top."""
    top = sorted(
        p.name for p in (ROOT / "tui").iterdir() if p.suffix == ".py" or (p.is_dir() and p.name != "__pycache__")
    )
    assert top == ["__init__.py", "app", "cli", "main.py", "render"]
    assert {p.name for p in (ROOT / "tui" / "app").iterdir() if p.is_dir() and p.name != "__pycache__"} >= {
        "tabs", "modals", "widgets", "styles"}  # fmt: skip
    tabs = {p.stem.split("_")[0] for p in (ROOT / "tui" / "app" / "tabs").glob("*.py") if p.stem != "__init__"}
    assert tabs <= {p.stem for p in (ROOT / "tui" / "app" / "styles").glob("*.tcss")}, "each tab's styles in a .tcss"
    assert [p.name for p in (ROOT / "tui" / "app" / "tabs").glob("*.py") if "DEFAULT_CSS" in p.read_text()] == []


def test_test_modules_never_import_each_other():
    """What several tests share lives in tests/helpers.py (or fuzzing.py, children.py)."""
    found = []
    for path in sorted((ROOT / "tests").rglob("test_*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module:
                last = node.module.rsplit(".", 1)[-1]
                if last.startswith("test_") or last == "conftest":
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.module}")
    assert found == []
