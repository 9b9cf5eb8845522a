#!/usr/bin/env python3
"""Set llmbench up: virtualenv, llama-cpp-python built for this CPU, the package, demo models.

Idempotent and quick the second time: each step leaves a stamp and is skipped when
nothing it depends on changed. Standard library only, so it runs before any install.

    python3 scripts/bootstrap.py            # runtime + demo models
    python3 scripts/bootstrap.py --test     # also the test dependencies

Environment:
    CMAKE_ARGS        passed to the llama.cpp build, e.g. "-DGGML_CUDA=on" or "-DGGML_METAL=on"
    LLMBENCH_AMX      "on" keeps llama.cpp's AMX kernels (by default x86 builds compile them out)
    LLMBENCH_PYTHON   the interpreter that creates the virtualenv (default: this one)
    LLMBENCH_VENV     where the virtualenv lives (default: .venv in the repository)
    LLMBENCH_TORCH    the torch requirement for the Hugging Face stack (default "torch==2.13.0",
                      a CPU build; on a CUDA server e.g. "torch==2.9.1" with PIP_INDEX_URL set to
                      PyTorch's CUDA index); "none" skips transformers, bitsandbytes, quanto, torchao
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = Path(os.environ.get("LLMBENCH_VENV", ROOT / ".venv"))
LLAMA_CPP_VERSION = "0.3.36"
# torch is pinned and installed first (torch==2.13.0 is a CPU build): an unpinned torch,
# asked for by transformers or bitsandbytes, pulls a multi-GB CUDA build on a CPU machine.
TORCH = os.environ.get("LLMBENCH_TORCH", "torch==2.13.0")
NO_AMX = "-mno-amx-tile -mno-amx-int8 -mno-amx-bf16"
DEMO_MODELS = ("smollm2", "gemma3-270m")


def say(msg: str) -> None:
    print(f"[setup] {msg}", flush=True)


def run(cmd: list[str], env: dict | None = None) -> None:
    proc = subprocess.run(cmd, env=env)
    if proc.returncode != 0:
        sys.exit(f"[setup] failed ({proc.returncode}): {' '.join(map(str, cmd))}")


def venv_python() -> Path:
    return VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def ensure_venv() -> Path:
    py = venv_python()
    if py.exists():
        return py
    base = os.environ.get("LLMBENCH_PYTHON", sys.executable)
    say(f"creating the virtualenv {VENV}")
    run([base, "-m", "venv", str(VENV)])
    run([str(py), "-m", "pip", "install", "-q", "--upgrade", "pip", "wheel"])
    return py


# ------------------------------------------------------------------ AMX


def is_x86() -> bool:
    return platform.machine().lower() in {"x86_64", "amd64", "i686", "x86"}


def cpu_reports_amx() -> bool:
    """True when this x86 CPU (or the compiler's view of it) has AMX."""
    if not is_x86():
        return False
    try:
        flags = Path("/proc/cpuinfo").read_text()
        if any(f in flags for f in ("amx_tile", "amx_int8", "amx_bf16")):
            return True
    except OSError:
        pass
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc:  # GGML_NATIVE compiles with -march=native: ask the compiler what that enables
        try:
            out = subprocess.run(
                [cc, "-march=native", "-Q", "--help=target"], capture_output=True, text=True, timeout=30
            ).stdout
            for line in out.splitlines():
                parts = line.split()
                if parts and parts[0].startswith("-mamx") and parts[-1] == "[enabled]":
                    return True
        except (OSError, subprocess.SubprocessError):
            pass
    return False


def cpu_fingerprint() -> str:
    """The build compiles with -march=native, so a cached wheel is only for this CPU."""
    try:
        info = Path("/proc/cpuinfo").read_text().split("\n\n")[0]
        keep = [l for l in info.splitlines() if l.startswith(("model name", "flags", "vendor_id"))]
        return hashlib.sha256("\n".join(keep).encode()).hexdigest()[:12]
    except OSError:
        return platform.processor() or platform.machine()


def llama_build_env() -> tuple[dict, str, str]:
    """Build environment, cache key, and a word on the AMX choice.

    llama.cpp's AMX kernels segfault (ggml_backend_amx_mul_mat) on some AMX CPUs for
    any prompt longer than one token. On x86 the flags that compile them out are
    always passed: where the CPU reports AMX that is the fix, and elsewhere
    -march=native enables no AMX anyway, so they change nothing.
    LLMBENCH_AMX=on keeps the AMX kernels on a host where they work.
    """
    env = dict(os.environ)
    keep_amx = os.environ.get("LLMBENCH_AMX", "").lower() == "on"
    amx = cpu_reports_amx()
    if is_x86() and not keep_amx:
        for var in ("CFLAGS", "CXXFLAGS"):
            env[var] = f"{env.get(var, '')} {NO_AMX}".strip()
        word = "AMX kernels compiled out (this CPU reports AMX)" if amx else "no AMX on this CPU"
    else:
        word = "AMX kernels kept" if amx else "no AMX"
    env.setdefault("CMAKE_BUILD_PARALLEL_LEVEL", str(os.cpu_count() or 2))
    key = "|".join(
        [
            LLAMA_CPP_VERSION,
            env.get("CMAKE_ARGS", ""),
            env.get("CFLAGS", ""),
            env.get("CXXFLAGS", ""),
            platform.machine(),
            platform.python_version(),
            cpu_fingerprint(),
        ]
    )
    return env, hashlib.sha256(key.encode()).hexdigest()[:16], word


def wheel_cache() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    if sys.platform == "darwin":
        base = str(Path.home() / "Library" / "Caches")
    return Path(base) / "llmbench" / "wheels"


def ensure_llama_cpp(py: Path) -> None:
    env, key, amx_word = llama_build_env()
    stamp = VENV / ".llama-cpp-build"
    if stamp.exists() and stamp.read_text().strip() == key and _imports(py, "llama_cpp"):
        return
    folder = wheel_cache() / key
    wheels = sorted(folder.glob("llama_cpp_python-*.whl"))
    if not wheels:
        extra = f", CMAKE_ARGS={env['CMAKE_ARGS']}" if env.get("CMAKE_ARGS") else ""
        say(
            f"building llama-cpp-python {LLAMA_CPP_VERSION} for this CPU ({amx_word}{extra}): "
            "5 to 20 minutes on 2 cores, once; the wheel is cached"
        )
        folder.mkdir(parents=True, exist_ok=True)
        t0 = time.time()
        run(
            [
                str(py),
                "-m",
                "pip",
                "wheel",
                "--no-deps",
                "--no-cache-dir",
                "--no-binary",
                "llama-cpp-python",
                "-w",
                str(folder),
                f"llama-cpp-python=={LLAMA_CPP_VERSION}",
            ],
            env=env,
        )
        say(f"built in {time.time() - t0:.0f} s, cached in {folder}")
        wheels = sorted(folder.glob("llama_cpp_python-*.whl"))
    run([str(py), "-m", "pip", "install", "-q", "--force-reinstall", "--no-deps", str(wheels[-1])])
    # its own small dependencies (numpy, jinja2, diskcache, typing-extensions)
    run([str(py), "-m", "pip", "install", "-q", "numpy", "jinja2", "diskcache", "typing-extensions"])
    stamp.write_text(key)


def _imports(py: Path, module: str) -> bool:
    return subprocess.run([str(py), "-c", f"import {module}"], capture_output=True).returncode == 0


# ------------------------------------------------------------------ package


def ensure_torch(py: Path) -> bool:
    """The pinned torch, before anything that depends on it; False when the HF stack is off."""
    if TORCH.lower() == "none":
        return False
    if not _imports(py, "torch"):
        say(f"installing {TORCH}")
        run([str(py), "-m", "pip", "install", "-q", *TORCH.split()])
    return True


def ensure_package(py: Path, test: bool, hf: bool) -> None:
    wanted = [name for name, on in (("hf", hf), ("rag", hf), ("test", test)) if on]
    extras = f"[{','.join(wanted)}]" if wanted else ""
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes() + extras.encode()).hexdigest()
    stamp = VENV / ".llmbench-install"
    have = stamp.read_text().split() if stamp.exists() else []
    if digest in have and _imports(py, "llmbench.tui.cli"):
        return
    say(f"installing llmbench{extras} (editable)")
    run([str(py), "-m", "pip", "install", "-q", "-e", f"{ROOT}{extras}"])
    stamp.write_text(" ".join(sorted(set(have) | {digest})))


def ensure_models(py: Path) -> None:
    llmbench = VENV / ("Scripts/llmbench.exe" if os.name == "nt" else "bin/llmbench")
    run([str(llmbench), "models", "pull", *DEMO_MODELS, "--quiet-if-present"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--test", action="store_true", help="also install the test dependencies")
    parser.add_argument("--no-models", action="store_true", help="skip pulling the demo models")
    args = parser.parse_args()
    if sys.version_info < (3, 11):
        sys.exit("[setup] llmbench needs Python 3.11 or newer")
    py = ensure_venv()
    ensure_llama_cpp(py)
    ensure_package(py, args.test, ensure_torch(py))
    if not args.no_models:
        ensure_models(py)


if __name__ == "__main__":
    main()
