"""The errors a user can cause, as one family: the CLI prints any of them as one line.

Each package raises its own subclass (a bad image, a model that cannot be fetched, an output that cannot
be written); everything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any


class PoseNetError(Exception):
    """Something the user can fix; its message is one line that says what and where."""


class OutputError(PoseNetError):
    """An output that cannot be written (exists without --overwrite, unwritable folder, full disk, ...)."""


def first_line(error: BaseException) -> str:
    """An exception's message as one line (its first), or its type's name when it has none."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


class WriteError(OutputError):
    """Writing an output failed (no space, quota, an I/O error, a file too large, its folder removed or
    read-only): the message names the path, the cause and what was kept. The CLI's exit status is 74."""


def write_error(path: object, error: OSError, kept: str = "") -> WriteError:
    """`cannot write PATH: CAUSE (KEPT)`, for an OSError met while writing the output at `path`."""
    return WriteError(f"cannot write {path}: {error.strerror or error}" + (f" ({kept})" if kept else ""))


def close_all(closables: Iterable[Any], ending: BaseException | None = None) -> None:
    """Close each of `closables` (None is skipped), every one even when another fails, so each output is
    finished or cleaned up. `ending` is what ended the run, if anything did.

    Failures to close are PoseNetErrors; they come out as one error, one line: the ending error's message
    (when it is a PoseNetError) then theirs, as a WriteError if any of them is one. A bug (any other
    Exception) ending the run is left to propagate with its traceback.
    """
    failures: list[PoseNetError] = []
    for closable in closables:
        if closable is None:
            continue
        try:
            closable.close()
        except PoseNetError as e:
            failures.append(e)
    if not failures or (isinstance(ending, Exception) and not isinstance(ending, PoseNetError)):
        return
    errors = ([ending] if isinstance(ending, PoseNetError) else []) + failures
    kind = WriteError if any(isinstance(e, WriteError) for e in errors) else type(errors[0])
    raise kind("; ".join(str(e) for e in errors))


def unwritable(folder: Path) -> str | None:
    """Why no file can be made in `folder` (None if one can): found by making and removing a temporary file,
    which also catches read-only file systems and quotas that permission bits do not show."""
    try:
        with tempfile.TemporaryFile(dir=folder):
            return None
    except OSError as e:
        return e.strerror or str(e)
