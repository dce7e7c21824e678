"""Steps several commands share: loading the model with progress, and refusing to clobber outputs."""

from __future__ import annotations

import os
from pathlib import Path

from ..estimator import PoseNet
from ..files import unwritable
from ..models import ModelRef
from .errors import fail
from .ui import Ui


def load_net(model: ModelRef, ui: Ui) -> PoseNet:
    """The PoseNet for `model`: downloaded and converted on first use (with progress), loaded from the
    cache after (TensorFlow started only where it is needed, with a spinner: it takes seconds)."""
    return PoseNet(runner=model.load(ui))


def check_output(path: Path | None, overwrite: bool, *, folder: bool = False) -> None:
    """One output: its parent folder must exist and take files, and the output must not exist unless
    `overwrite`; it is a file, or with `folder` a folder made whole (a SavedModel, say). A pipe or a
    device (/dev/stdout) is written in place: it only has to be writable."""
    if path is None:
        return
    if path.exists() and not path.is_file() and not path.is_dir():
        if not os.access(path, os.W_OK):
            fail(f"cannot write {path}: permission denied")
        return
    if path.is_dir() != folder and path.exists():
        fail(f"cannot write {path}: it is a {'file' if folder else 'folder'}")
    if path.exists() and not overwrite:
        fail(f"{path} exists; pass --overwrite to replace it")
    if not path.parent.is_dir():
        fail(f"cannot write {path}: folder {path.parent} does not exist")
    reason = unwritable(path.parent)
    if reason:
        fail(f"cannot write {path}: {reason}")


def make_folder(path: Path, what: str = "folder") -> None:
    """Create an output folder (and its parents) now, before any work, or fail with one line."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        fail(f"cannot create {what} {path}: {e.strerror or e}")
    reason = unwritable(path)
    if reason:
        fail(f"cannot write in {what} {path}: {reason}")


def check_outputs(paths: list[Path], overwrite: bool) -> None:
    """Per-input outputs in a folder: two inputs must not write the same file, nor any an existing one."""
    seen: set[Path] = set()
    for path in paths:
        if path in seen:
            fail(f"two inputs would both write {path}; give inputs with different names")
        seen.add(path)
        if not overwrite and path.exists():
            fail(f"{path} exists; pass --overwrite to replace it (or --resume to skip done images)")
