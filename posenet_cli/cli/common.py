"""Steps several commands share: loading the model with progress, and refusing to clobber outputs."""

from __future__ import annotations

from pathlib import Path

from ..estimator import PoseNet
from ..models import ModelRef
from ..models.runtime import import_tensorflow
from .errors import fail
from .ui import Ui


def load_net(model: ModelRef, ui: Ui) -> PoseNet:
    """The PoseNet for `model`: downloaded and converted on first use (with progress), loaded from the
    cache after."""
    import_tensorflow()
    return PoseNet(runner=model.load(progress=ui.download_progress))


def check_output(path: Path | None, overwrite: bool) -> None:
    """One output file: its folder must exist, and the file must not unless `overwrite`."""
    if path is None:
        return
    if path.exists() and path.is_file() and not overwrite:
        fail(f"{path} exists; pass --overwrite to replace it")
    if not path.parent.exists():
        fail(f"cannot write {path}: folder {path.parent} does not exist")


def check_outputs(paths: list[Path], overwrite: bool) -> None:
    """Per-input outputs in a folder: two inputs must not write the same file, nor any an existing one."""
    seen: set[Path] = set()
    for path in paths:
        if path in seen:
            fail(f"two inputs would both write {path}; give inputs with different names")
        seen.add(path)
        if not overwrite and path.exists():
            fail(f"{path} exists; pass --overwrite to replace it (or --resume to skip done images)")
