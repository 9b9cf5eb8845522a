#!/usr/bin/env python3
"""llama.cpp's own tools (llama-perplexity, llama-bench, llama-quantize), the references
llmbench's benchmarks compare against, built from the llama.cpp sources vendored in
the llama-cpp-python sdist that llmbench runs on, with the same AMX-off flags as
scripts/bootstrap.py. Built once into ~/.cache/llmbench/llama-tools/VERSION/.

    python bench/llama_tools.py            # build (about 5 minutes on 2 cores), print the paths
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

TOOLS = ("llama-perplexity", "llama-bench", "llama-quantize")
NO_AMX = "-mno-amx-tile -mno-amx-int8 -mno-amx-bf16"


def _version() -> str:
    from importlib.metadata import version

    return version("llama_cpp_python")


def tools_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "llmbench" / "llama-tools" / _version()


def tool(name: str, build: bool = True) -> Path | None:
    """The path of a built tool, building them all first if need be; None (and why, on
    standard error) when it cannot be built here."""
    path = tools_dir() / "bin" / name
    if path.is_file():
        return path
    if not build:
        return None
    try:
        _build()
    except (OSError, subprocess.CalledProcessError, RuntimeError) as exc:
        print(f"llama_tools: cannot build llama.cpp's tools here: {exc}", file=sys.stderr)
        return None
    return path if path.is_file() else None


def reference(name: str, script: str) -> Path | None:
    """``tool(name)`` for a benchmark: None, after one SKIP line naming ``script``, when
    the reference cannot be built here (a skip, not a failure: the figures need it)."""
    path = tool(name)
    if path is None:
        print(f"{script}: SKIP: {name} cannot be built here (see above)")
    return path


def _build() -> None:
    """Sources and build tree stay in the cache folder until the tools are copied out, so
    an interrupted build goes on where it stopped."""
    for needed in ("cmake", "c++"):
        if shutil.which(needed) is None:
            raise RuntimeError(f"{needed} is not installed")
    version = _version()
    out = tools_dir()
    out.mkdir(parents=True, exist_ok=True)
    src = out / "src"
    if not (src / "CMakeLists.txt").is_file():
        with tempfile.TemporaryDirectory(prefix="llama-tools-") as tmp:
            print(f"llama_tools: fetching the llama-cpp-python {version} sdist", file=sys.stderr)
            subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--no-binary", ":all:",
                            f"llama-cpp-python=={version}", "-d", tmp], check=True)  # fmt: skip
            sdist = next(Path(tmp).glob("llama_cpp_python-*.tar.gz"))
            with tarfile.open(sdist) as tar:
                tar.extractall(tmp, filter="data")
            shutil.rmtree(src, ignore_errors=True)
            shutil.move(str(next(Path(tmp).glob("llama_cpp_python-*/vendor/llama.cpp"))), src)
    env = dict(os.environ)
    if _x86():
        for var in ("CFLAGS", "CXXFLAGS"):
            env[var] = f"{env.get(var, '')} {NO_AMX}".strip()
    build = out / "build"
    print(f"llama_tools: building {', '.join(TOOLS)} (a few minutes)", file=sys.stderr)
    subprocess.run(["cmake", "-S", str(src), "-B", str(build), "-DCMAKE_BUILD_TYPE=Release", "-DLLAMA_CURL=OFF",
                    "-DLLAMA_BUILD_TESTS=OFF", "-DLLAMA_BUILD_EXAMPLES=OFF", "-DLLAMA_BUILD_SERVER=OFF",
                    "-DBUILD_SHARED_LIBS=OFF", *os.environ.get("CMAKE_ARGS", "").split()],
                   env=env, check=True, stdout=subprocess.DEVNULL)  # fmt: skip
    jobs = str(os.cpu_count() or 2)
    subprocess.run(["cmake", "--build", str(build), "--config", "Release", "-j", jobs, "--target", *TOOLS],
                   env=env, check=True, stdout=subprocess.DEVNULL)  # fmt: skip
    (out / "bin").mkdir(exist_ok=True)
    for name in TOOLS:
        shutil.copy2(build / "bin" / name, out / "bin" / name)
    shutil.rmtree(build, ignore_errors=True)
    shutil.rmtree(src, ignore_errors=True)


def _x86() -> bool:
    import platform

    return platform.machine().lower() in {"x86_64", "amd64", "i686", "x86"}


if __name__ == "__main__":
    paths = [tool(name, build=i == 0) for i, name in enumerate(TOOLS)]  # one build makes them all
    for name, path in zip(TOOLS, paths):
        print(f"{name}: {path or 'not built'}")
