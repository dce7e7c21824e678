"""Steps several commands share: loading the model with progress, and refusing to clobber outputs."""

from __future__ import annotations

import tempfile
from pathlib import Path

from ..estimator import PoseNet
from ..models import ModelRef
from ..models.runtime import import_tensorflow
from .errors import fail
from .ui import Ui


def start_tensorflow(ui: Ui) -> None:
    """Import TensorFlow (quietly; seconds, so with a spinner on a terminal)."""
    with ui.step("starting TensorFlow"):
        import_tensorflow()


def load_net(model: ModelRef, ui: Ui) -> PoseNet:
    """The PoseNet for `model`: downloaded and converted on first use (with progress), loaded from the
    cache after."""
    start_tensorflow(ui)
    return PoseNet(runner=model.load(ui))


def check_output(path: Path | None, overwrite: bool) -> None:
    """One output file: its folder must exist and take files, and the file must not exist unless
    `overwrite` (then it must be a file)."""
    if path is None:
        return
    if path.is_dir():
        fail(f"cannot write {path}: it is a folder")
    if path.is_file() and not overwrite:
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


def unwritable(folder: Path) -> str | None:
    """Why no file can be made in `folder` (None if one can): found by making and removing a temporary
    file, which also catches read-only file systems and quotas that permission bits do not show."""
    try:
        with tempfile.TemporaryFile(dir=folder):
            return None
    except OSError as e:
        return e.strerror or str(e)


def check_outputs(paths: list[Path], overwrite: bool) -> None:
    """Per-input outputs in a folder: two inputs must not write the same file, nor any an existing one."""
    seen: set[Path] = set()
    for path in paths:
        if path in seen:
            fail(f"two inputs would both write {path}; give inputs with different names")
        seen.add(path)
        if not overwrite and path.exists():
            fail(f"{path} exists; pass --overwrite to replace it (or --resume to skip done images)")
