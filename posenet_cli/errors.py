"""The errors a user can cause, as one family: the CLI prints any of them as one line.

Each package raises its own subclass (a bad image, a model that cannot be fetched, an output that cannot
be written); everything else is a bug and keeps its traceback.
"""

from __future__ import annotations


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
