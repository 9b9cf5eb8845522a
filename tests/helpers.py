"""What several test modules share: the command, files the tests write (GGUFs, PDFs),
the CLI as a subprocess, the TUI driven with Pilot, the sample sessions. Test modules
import from here, never from each other."""

import contextlib
import http.server
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent  # the repository
FIXTURES = Path(__file__).resolve().parent / "fixtures"
LLMBENCH = str(Path(sys.executable).with_name("llmbench"))  # the installed command, in this venv


def is_one_run_verdict(line: str) -> bool:
    """The verdict of one run each: speeds and no ratio, or none at all because one side ran
    on a busy host and the other on a quiet one (a test cannot choose how busy CI is)."""
    return line.startswith("one run each, no interval: ") or bool(
        re.match(r"no verdict: .+ ran on a busy host \(host busy: .+\), .+ on a quiet one", line)
    )


class Terminal:
    """A program in a pseudo-terminal of a given size, read as it draws: what a person at
    an SSH session has. ``write`` sends its bytes in one write, as a burst of keys arrives."""

    def __init__(self, argv: list[str], env: dict, cols: int = 80, rows: int = 24):
        import fcntl
        import os
        import pty
        import struct
        import termios
        import threading

        env = {**env, "TERM": "xterm-256color", "COLUMNS": str(cols), "LINES": str(rows)}
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child: the program itself
            os.execvpe(argv[0], argv, env)
        fcntl.ioctl(self.fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        self.seen = bytearray()
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self) -> None:
        import os

        while True:
            try:
                data = os.read(self.fd, 65536)
            except OSError:
                return
            if not data:
                return
            self.seen += data
            del self.seen[: -(1 << 20)]  # the last MiB: a long run streams far more

    def wait_for(self, text: bytes, timeout: float = 60.0) -> None:
        import time

        end = time.monotonic() + timeout
        while text not in self.seen:
            assert time.monotonic() < end, f"the program never showed {text!r}"
            time.sleep(0.05)

    def write(self, data: bytes) -> None:
        import os

        os.write(self.fd, data)

    def close(self) -> int | None:
        """Ctrl+Q, then the exit status (the program is killed if it has not ended in 20 s)."""
        import os
        import signal
        import time

        self.write(b"\x11")
        end = time.monotonic() + 20
        while time.monotonic() < end:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                return os.waitstatus_to_exitcode(status)
            time.sleep(0.05)
        os.kill(self.pid, signal.SIGKILL)
        os.waitpid(self.pid, 0)
        return None


# ---------------------------------------------------------------- a small disk


@contextlib.contextmanager
def small_tmpfs(folder: Path, size: str):
    """A real tmpfs of ``size`` (``512k``, ``2m``) mounted on ``folder`` for the block;
    the test is skipped where this process cannot mount one (not root, no CAP_SYS_ADMIN)."""
    import pytest

    folder.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.decode().strip() or done.returncode})")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True)


# ---------------------------------------------------------------- files the tests write


def write_gguf(
    path: Path,
    *,
    arch: str = "llama",
    chat_template: str | None = None,
    file_type: int | None = 1,
    extra: dict | None = None,
) -> Path:
    """A tiny but valid GGUF written with gguf-py, for edge cases."""
    import gguf

    writer = gguf.GGUFWriter(str(path), arch)
    writer.add_name("tiny-test-model")
    writer.add_context_length(128)
    writer.add_block_count(1)
    writer.add_embedding_length(8)
    if file_type is not None:
        writer.add_file_type(file_type)
    if chat_template:
        writer.add_chat_template(chat_template)
    writer.add_token_list([f"t{i}".encode() for i in range(100)])
    for key, value in (extra or {}).items():
        writer.add_string(key, value)
    writer.add_tensor("token_embd.weight", np.ones((16, 8), dtype=np.float16))
    writer.add_tensor("output_norm.weight", np.ones(8, dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def write_gguf_lora(path: Path, rank: int = 16, layers: int = 3, alpha: float = 32.0) -> Path:
    """A LoRA adapter GGUF as llama.cpp's convert_lora_to_gguf writes one (attn_q and attn_v)."""
    import gguf

    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_type("adapter")
    writer.add_string("adapter.type", "lora")
    writer.add_float32("adapter.lora.alpha", alpha)
    for layer in range(layers):
        for name, out in (("attn_q", 576), ("attn_v", 192)):
            writer.add_tensor(f"blk.{layer}.{name}.weight.lora_a", np.zeros((rank, 576), dtype=np.float32))
            writer.add_tensor(f"blk.{layer}.{name}.weight.lora_b", np.zeros((out, rank), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def write_pdf(path: Path, pages: list[str], *, user_password: str | None = None) -> Path:
    """A real PDF with one page per text (fpdf2's core Helvetica font, a text layer)."""
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_font("Helvetica", size=11)
    for text in pages:
        pdf.add_page()
        if text:
            pdf.multi_cell(0, 6, text)
        else:
            pdf.rect(20, 20, 120, 80, style="F")  # a drawing, no text: like a scanned page
    if user_password:
        from fpdf.enums import EncryptionMethod

        pdf.set_encryption(owner_password="owner", user_password=user_password, encryption_method=EncryptionMethod.RC4)
    pdf.output(str(path))
    return path


PAGES = [
    "The warranty covers the pump for five years from the date of purchase.",
    "To reset the controller, hold the blue button for ten seconds until the light blinks.",
    "The filter cartridge must be replaced every six months or after 2000 litres.",
    "Error code E42 means the water inlet is blocked; clean the inlet mesh.",
    "The device draws 45 watts in normal operation and 2 watts on standby.",
]


# ---------------------------------------------------------------- the CLI as a subprocess


def cli(*args, home=None, input=None, timeout=180, env=None):
    env = {**os.environ, **(env or {})}
    if home:
        env["LLMBENCH_HOME"] = str(home)
    return subprocess.run([LLMBENCH, *args], capture_output=True, text=True, env=env, input=input, timeout=timeout)


def one_line_error(proc, *needles):
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = [l for l in proc.stderr.splitlines() if l.strip() and not l.startswith("llama_")]
    assert any(all(n in l for n in needles) for l in lines), proc.stderr


# ---------------------------------------------------------------- a server


class LlamaServerLike(http.server.BaseHTTPRequestHandler):
    """Replies like llama.cpp's llama-server: usage and timings in the last chunk."""

    def do_GET(self):
        self._json({"data": [{"id": "tiny"}]})

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).last_body = body
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        for piece in ("Paris", " is", " the", " capital."):
            self._event({"choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]})
        self._event(
            {
                "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 21, "completion_tokens": 4},
                "timings": {
                    "prompt_n": 21,
                    "prompt_ms": 25.85,
                    "prompt_per_second": 812.5,
                    "predicted_n": 4,
                    "predicted_ms": 42.0,
                    "predicted_per_second": 95.25,
                    "cache_n": 5,
                    "draft_n": 8,
                    "draft_n_accepted": 6,
                },
            }
        )
        self.wfile.write(b"data: [DONE]\n\n")

    def _event(self, obj):
        self.wfile.write(f"data: {json.dumps(obj)}\n\n".encode())
        self.wfile.flush()
        time.sleep(0.01)

    def _json(self, obj):
        data = json.dumps(obj).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


# ---------------------------------------------------------------- sessions


def sample(kind: str):
    """The shipped sample session of ``kind`` (duel, chat, eval)."""
    from llmbench.engine import sessions
    from llmbench.engine.sessions import read_session

    folder = sessions.samples_dir()
    for path in sorted(folder.glob("*.jsonl")):
        log = read_session(path)
        if log.kind == kind:
            return log
    raise AssertionError(f"no {kind} sample in {folder}")


# ---------------------------------------------------------------- the TUI, with Pilot


SIZE = (80, 24)


async def wait_for(pilot, predicate, timeout=90.0):
    start = time.monotonic()
    while not predicate():
        assert time.monotonic() - start < timeout, "timed out waiting in the TUI"
        await pilot.pause(0.1)


async def ask(pilot, text: str):
    """Type ``text`` into the Duel's prompt and send it; the DuelView once it runs."""
    from textual.widgets import Input

    from llmbench.tui.app.tabs.duel import DuelView

    view = pilot.app.query_one(DuelView)
    prompt = pilot.app.query_one("#prompt", Input)
    prompt.focus()
    prompt.value = ""
    await pilot.press(*text)
    await pilot.press("enter")
    await wait_for(pilot, lambda: view.running)
    return view


def screen_text(app) -> str:
    """Every character on the app's screen, as the terminal would show it."""
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


def visible_text(widget) -> str:
    return "\n".join(strip.text for strip in widget.render_lines(widget.region.reset_offset))


async def wait_shown(pilot, widget, text: str, timeout=10.0) -> None:
    """Until ``text`` is on screen in ``widget``: a widget whose content just changed
    is laid out again on a later refresh, so its old height may still cut the new text."""
    await wait_for(pilot, lambda: text in visible_text(widget), timeout=timeout)
