"""The errors a user can cause, as one family: the CLI prints any of them as one line.

Each package raises its own subclass (a bad image, a model that cannot be fetched, an output that cannot
be written); everything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import tempfile
from pathlib import Path


class PoseNetError(Exception):
    """Something the user can fix; its message is one line that says what and where."""


class OutputError(PoseNetError):
    """An output that cannot be written (exists without --overwrite, unwritable folder, full disk, ...)."""


def first_line(error: BaseException) -> str:
    """An exception's message as one line (its first), or its type's name when it has none."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def unwritable(folder: Path) -> str | None:
    """Why no file can be made in `folder` (None if one can): found by making and removing a temporary file,
    which also catches read-only file systems and quotas that permission bits do not show."""
    try:
        with tempfile.TemporaryFile(dir=folder):
            return None
    except OSError as e:
        return e.strerror or str(e)
