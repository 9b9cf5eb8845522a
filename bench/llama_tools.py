#!/usr/bin/env python3
"""llama.cpp's own tools (llama-perplexity, llama-bench, llama-quantize), the references
llmbench's benchmarks compare against, built from the llama.cpp sources vendored in
the llama-cpp-python sdist that llmbench runs on, with the same AMX-off flags as
scripts/bootstrap.py. Built once into ~/.cache/llmbench/llama-tools/VERSION/.

    python bench/llama_tools.py            # build (about 5 minutes on 2 cores), print the paths
    python bench/llama_tools.py --script compare-llama-bench.py   # one of llama.cpp's scripts/, its path

The scripts (``compare-llama-bench.py`` reads llmbench's ``bench -o sql``) come from the
same sdist, into the same folder, without a build.
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


def script(name: str) -> Path | None:
    """``vendor/llama.cpp/scripts/NAME`` of the sdist, kept in the tools folder; None
    (and why, on standard error) when the sdist cannot be fetched."""
    path = tools_dir() / "scripts" / name
    if path.is_file():
        return path
    try:
        with tempfile.TemporaryDirectory(prefix="llama-tools-") as tmp, tarfile.open(_sdist(Path(tmp)), "r|gz") as tar:
            for member in tar:  # read as a stream, up to the one file
                if member.isfile() and member.name.endswith(f"/vendor/llama.cpp/scripts/{name}"):
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.write_bytes(tar.extractfile(member).read())
                    path.chmod(0o755)
                    return path
        raise StopIteration
    except (OSError, subprocess.CalledProcessError, StopIteration, tarfile.TarError) as exc:
        print(f"llama_tools: cannot fetch {name}: {exc or 'not in the sdist'}", file=sys.stderr)
        return None
    return path


def _sdist(folder: Path) -> Path:
    print(f"llama_tools: fetching the llama-cpp-python {_version()} sdist", file=sys.stderr)
    subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--no-binary", ":all:",
                    f"llama-cpp-python=={_version()}", "-d", str(folder)], check=True)  # fmt: skip
    return next(folder.glob("llama_cpp_python-*.tar.gz"))


def _build() -> None:
    """Sources and build tree stay in the cache folder until the tools are copied out, so
    an interrupted build goes on where it stopped."""
    for needed in ("cmake", "c++"):
        if shutil.which(needed) is None:
            raise RuntimeError(f"{needed} is not installed")
    out = tools_dir()
    out.mkdir(parents=True, exist_ok=True)
    src = out / "src"
    if not (src / "CMakeLists.txt").is_file():
        with tempfile.TemporaryDirectory(prefix="llama-tools-") as tmp:
            with tarfile.open(_sdist(Path(tmp))) as tar:
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
    if sys.argv[1:2] == ["--script"] and len(sys.argv) == 3:
        found = script(sys.argv[2])
        print(found or "", end="")
        sys.exit(0 if found else 1)
    paths = [tool(name, build=i == 0) for i, name in enumerate(TOOLS)]  # one build makes them all
    for name, path in zip(TOOLS, paths):
        print(f"{name}: {path or 'not built'}")
