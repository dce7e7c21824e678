"""Model folders that appear whole: a SavedModel, a cached `.tflite` with its metadata, a copied model.

Each is built in a hidden folder beside its target and renamed into place once complete, so a reader (another
process loading from a shared cache) never sees half of one and an interrupted build leaves the target as it
was.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def building(target: Path) -> Iterator[Path]:
    """A fresh folder to build `target` in. On a clean exit it replaces `target` (an existing one is moved
    aside, and put back if the rename fails); on an exception it is removed and `target` is left as it was.
    OSError is raised as it comes."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o777 & ~umask)  # mkdtemp makes private folders; a cache is read by whoever shares it
        yield tmp
        _replace(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _replace(src: Path, dst: Path) -> None:
    """Rename `src` to `dst`; an existing `dst` is moved aside first and removed after."""
    try:
        os.rename(src, dst)
        return
    except OSError:
        if not dst.exists():
            raise
    old = dst.with_name(f".{dst.name}.old-{uuid.uuid4().hex[:8]}")
    os.rename(dst, old)
    try:
        os.rename(src, dst)
    except OSError:
        os.rename(old, dst)  # put the previous one back
        raise
    shutil.rmtree(old, ignore_errors=True)
