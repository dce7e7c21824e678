"""The file-system helpers every package writes through. Outputs appear whole: every file the tool writes goes to
a hidden temporary file beside its target, which is renamed into place once complete, so a reader (or a resumed
run) never sees half a file; files that grow record by record (JSON lines, CSV) take each record whole or not
at all; model folders (a SavedModel, a cached `.tflite` with its metadata) are built in a hidden folder beside
their target and renamed into place, so another process loading from a shared cache never sees half of one.
Also: whether a folder takes files at all (`unwritable`), and closing every output of a run (`close_all`)."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import tempfile
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from .errors import PoseNetError, WriteError

TEMP_SUFFIX = ".tmp"
# The names `temp_path` and `part_path` make, as globs: what an interrupted run leaves (`remove_leftovers`).
LEFTOVERS = (f".*{TEMP_SUFFIX}", ".*.part*of*", ".*.part.*")  # the last: a video's (media/video.py)


def temp_path(path: Path, suffix: str = TEMP_SUFFIX) -> Path:
    """A fresh hidden name beside `path` for its content in the making: `.<name>.<random><suffix>`."""
    return path.parent / f".{path.name}.{secrets.token_hex(4)}{suffix}"


def part_path(path: Path, part: int, parts: int) -> Path:
    """Where part `part` of `parts` of a file written in parts (by several processes) waits, hidden beside
    it, until the parts are joined: `.<name>.part0001of0004`."""
    return path.parent / f".{path.name}.part{part:04d}of{parts:04d}"


def remove_leftovers(folder: Path) -> None:
    """Remove the temporary files and parts (LEFTOVERS) an interrupted run left in `folder`, never a complete
    output; what cannot be removed (a read-only folder) is left."""
    for pattern in LEFTOVERS:
        for path in folder.glob(pattern):
            with contextlib.suppress(OSError):
                path.unlink(missing_ok=True)


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


def unwritable(folder: Path) -> str | None:
    """Why no file can be made in `folder` (None if one can): found by making and removing a temporary file,
    which also catches read-only file systems and quotas that permission bits do not show."""
    try:
        with tempfile.TemporaryFile(dir=folder):
            return None
    except OSError as e:
        return e.strerror or str(e)


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
