"""Where libraries' chatter goes: the log file, not the user's screen.

A library's warning about a feature the command does not use (bitsandbytes looking
for an optional kernel, transformers' advice) is not the user's business on stderr.
``route_library_output`` sends Python warnings and every log record to
``cache/logs/llmbench.log``, and to stderr as well with ``--verbose``; libraries'
tqdm bars are off unless ``--verbose``. What
concerns what the user asked is llmbench's own line, raised as an ``LlmbenchError`` or
printed by the command. Child processes keep their own log files (``childproc``).
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

from .. import paths

FORMAT = "%(asctime)s %(process)d %(name)s %(levelname)s: %(message)s"
HANDLER_NAME = "llmbench-log-file"
# libraries that hang their own stderr handler on their root logger and stop propagation
OWN_HANDLERS = ("transformers", "huggingface_hub")


class _LogFile(logging.FileHandler):
    """The log file; a record it cannot write (a full disk) is dropped without a word:
    the log must never be what breaks a command or prints a traceback."""

    def handleError(self, record: logging.LogRecord) -> None:  # noqa: N802 (logging's name)
        pass


def log_file() -> Path:
    return paths.cache_dir() / "logs" / "llmbench.log"


def route_library_output(verbose: bool = False) -> Path | None:
    """Warnings and log records to the log file (and stderr when ``verbose``); the file,
    or None when it cannot be opened (then they are dropped unless ``verbose``)."""
    root = logging.getLogger()
    for h in [h for h in root.handlers if h.get_name() == HANDLER_NAME]:
        root.removeHandler(h)
        h.close()
    path: Path | None = log_file()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handler: logging.Handler = _LogFile(path, encoding="utf-8", delay=True)
    except OSError:
        path, handler = None, logging.NullHandler()
    handler.set_name(HANDLER_NAME)
    handler.setFormatter(logging.Formatter(FORMAT))
    root.addHandler(handler)
    if verbose:
        stream = logging.StreamHandler(sys.stderr)
        stream.set_name(HANDLER_NAME)
        stream.setFormatter(logging.Formatter("%(name)s %(levelname)s: %(message)s"))
        root.addHandler(stream)
    root.setLevel(logging.INFO if verbose else logging.WARNING)
    logging.captureWarnings(False)  # (again: whoever swapped warnings.showwarning since, it is ours now)
    logging.captureWarnings(True)  # warnings.warn -> the "py.warnings" logger -> the handlers above
    os.environ["LLMBENCH_VERBOSE"] = "1" if verbose else "0"  # for the libraries imported later
    if not verbose:  # libraries' own tqdm bars (transformers' GGUF conversion): llmbench shows its progress
        os.environ.setdefault("TQDM_DISABLE", "1")
    for name in OWN_HANDLERS:
        if name in sys.modules:
            adopt_library_logger(name)
    return path


def adopt_library_logger(name: str) -> None:
    """A library that installed its own stderr handler (``OWN_HANDLERS``): its records go
    through the root's handlers instead, at warning level (info with ``--verbose``)."""
    logger = logging.getLogger(name)
    for h in list(logger.handlers):
        if isinstance(h, logging.StreamHandler) and not isinstance(h, logging.FileHandler):
            logger.removeHandler(h)
    logger.propagate = True
    logger.setLevel(logging.INFO if os.environ.get("LLMBENCH_VERBOSE") == "1" else logging.WARNING)
