"""Outputs that appear whole: every file the tool writes goes to a hidden temporary file beside its target,
which is renamed into place once complete, so a reader (or a resumed run) never sees half a file; files
that grow record by record (JSON lines, CSV) take each record whole or not at all."""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any


def temp_path(path: Path, suffix: str = ".tmp") -> Path:
    """A fresh hidden name beside `path` for its content in the making: `.<name>.<random><suffix>`."""
    return path.parent / f".{path.name}.{secrets.token_hex(4)}{suffix}"


def publish(tmp: Path, path: Path) -> None:
    """Move a finished temporary file to `path` with the permissions a new file gets (umask applied:
    temporary files may have been created private)."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    os.replace(tmp, path)


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike[str], mode: str = "w", **kwargs: Any) -> Iterator[IO[Any]]:
    """Open `path` for writing through a temporary file: on a clean exit it replaces `path`, on an
    exception it is removed and `path` is left as it was. A pipe or a device (/dev/stdout) is written in
    place: it cannot be replaced, and need not be. OSError is raised as it comes."""
    target = Path(path)
    if "b" not in mode:
        kwargs.setdefault("encoding", "utf-8")
    if target.exists() and not target.is_file():
        with open(target, mode, **kwargs) as f:
            yield f
        return
    tmp = temp_path(target)
    try:
        with open(tmp, mode.replace("w", "x"), **kwargs) as f:
            yield f
        publish(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write(path: str | os.PathLike[str], data: str | bytes) -> None:
    """Write a whole file atomically (text as UTF-8)."""
    with atomic_open(path, "wb" if isinstance(data, bytes) else "w", **({} if isinstance(data, bytes)
                                                                         else {"newline": ""})) as f:
        f.write(data)


def append_whole(fd: int, data: bytes) -> None:
    """Append `data` to the file open (for appending) at `fd`: all of it, or none of it. After a failed or
    short write (no space, a file size limit, an I/O error, an interruption) the file is cut back to its
    length before, which needs no free space, and the error is raised."""
    try:
        start: int | None = os.lseek(fd, 0, os.SEEK_END)
    except OSError:  # a pipe or a device: written in place, nothing to cut back
        start = None
    view = memoryview(data)
    try:
        while view:
            view = view[os.write(fd, view):]
    except BaseException:
        if start is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, start)
        raise


def removed_while_open(fd: int) -> bool:
    """Whether the file open at `fd` has been deleted (its folder removed, say): what is written to it is
    then lost at close, though every write succeeds."""
    try:
        return os.fstat(fd).st_nlink == 0
    except OSError:
        return True
