"""``inspect_source`` in a spawned process.

Importing torch and transformers, building a model on the meta device, or loading
one holds the interpreter lock for seconds at a time; in a thread of the TUI that
freezes the screen. A child process keeps the UI responsive, its memory goes away
when it ends, and a crash in a quantization kernel becomes an error message.
"""

from __future__ import annotations

import multiprocessing as mp
import os
from collections.abc import Callable

from ..errors import LlmbenchError
from ..util.childproc import StopWatch, child_setup, ensure_resource_tracker, last_log_line, log_path

POLL_S = 0.1


class InspectCancelled(LlmbenchError):
    code = "cancelled"


def _child(conn, src: str, tree: bool, log_file: str) -> None:
    child_setup(log_file)  # transformers' progress bars and import noise: not on the TUI
    from .source import inspect_source

    try:
        conn.send(("ok", inspect_source(src, tree=tree)))
    except LlmbenchError as exc:
        conn.send(("error", exc))
    except Exception as exc:  # noqa: BLE001 - reported to the user as one line, the log keeps the rest
        conn.send(("error", LlmbenchError(f"{src}: {type(exc).__name__}: {exc}")))
    conn.close()


def inspect_isolated(src: str, tree: bool = False, cancelled: Callable[[], bool] = lambda: False):
    """``inspect_source(src, tree)`` run in a child process; raises what it raises."""
    ensure_resource_tracker()
    ctx = mp.get_context("spawn")
    log = log_path("inspect")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(child, src, tree, str(log)), daemon=True, name="llmbench-inspect")
    proc.start()
    child.close()
    answered = False
    watch = StopWatch(proc.pid)
    try:
        while not parent.poll(POLL_S):
            if cancelled():
                raise InspectCancelled(f"{src}: inspection cancelled")
            if stopped := watch.why():
                raise LlmbenchError(f"{src}: the inspecting process was given up ({stopped})")
            if not proc.is_alive() and not parent.poll(0):
                why = last_log_line(log) or f"exit code {proc.exitcode}"
                raise LlmbenchError(f"{src}: the inspecting process died ({why})")
        try:
            kind, value = parent.recv()
            answered = True
        except EOFError:
            raise LlmbenchError(f"{src}: the inspecting process died ({last_log_line(log)})") from None
    finally:
        if proc.is_alive():
            proc.join(timeout=2 if answered else 0)
            if proc.is_alive():
                proc.kill()
                proc.join(timeout=2)
        parent.close()
    if kind == "error":
        raise value
    try:
        os.unlink(log)
    except OSError:
        pass
    return value
