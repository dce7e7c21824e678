"""What the user names as inputs: files, folders, globs and list files, expanded once, each file once."""

from __future__ import annotations

import glob
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from ..errors import PoseNetError

IMAGE, VIDEO = "image", "video"
IMAGE_EXTENSIONS: frozenset[str] = frozenset(
    {".jpg", ".jpeg", ".jpe", ".png", ".bmp", ".dib", ".webp", ".tif", ".tiff", ".gif", ".avif",
     ".jp2", ".pbm", ".pgm", ".ppm", ".pnm", ".pxm", ".sr", ".ras", ".hdr", ".pic"}
)
VIDEO_EXTENSIONS: frozenset[str] = frozenset(
    {".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".mpg", ".mpeg", ".wmv", ".flv", ".ts", ".mts",
     ".m2ts", ".3gp", ".ogv", ".gif"}
)
_GLOB_CHARS = frozenset("*?[")


class MediaError(PoseNetError):
    """An input that cannot be read or a media output that cannot be written; the message is one line."""


def kind_of(path: Path) -> str | None:
    """IMAGE or VIDEO by extension (.gif reads as an image, its first frame), else None."""
    ext = path.suffix.lower()
    if ext in IMAGE_EXTENSIONS:
        return IMAGE
    if ext in VIDEO_EXTENSIONS:
        return VIDEO
    return None


def read_list(path: str | os.PathLike[str]) -> list[str]:
    """Inputs from a list file: one per line; blank lines and lines starting with # are skipped.
    Relative paths are taken from the current folder, as on the command line."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
        raise MediaError(f"cannot read list file '{path}': {reason}") from None
    return [s for s in (line.strip() for line in text.splitlines()) if s and not s.startswith("#")]


def expand_inputs(inputs: Sequence[str | os.PathLike[str]], kinds: Iterable[str] = (IMAGE,),
                  list_files: Sequence[str | os.PathLike[str]] = ()) -> list[Path]:
    """Files, folders (their media of `kinds`, sorted, not recursive), globs, and `@list.txt` / list
    files (expanded in place), in order, each file once (the same file named twice, relative and
    absolute, is one input).

    A named file is kept whatever its extension (reading it says what is wrong); folders and globs
    contribute only files of `kinds` by extension and skip hidden files. A missing path, or a folder or
    glob without media, raises MediaError.
    """
    kinds = frozenset(kinds)
    what = "images" if kinds == {IMAGE} else "videos" if kinds == {VIDEO} else "images or videos"
    args: list[str] = []
    for text in [*map(os.fspath, inputs), *(f"@{os.fspath(lf)}" for lf in list_files)]:
        if text.startswith("@") and len(text) > 1 and not Path(text).exists():
            args.extend(read_list(text[1:]))  # in place; an entry may be a folder or a glob
        else:
            args.append(text)

    def media(paths: Iterable[Path]) -> list[Path]:
        return sorted(p for p in paths if kind_of(p) in kinds and not p.name.startswith(".") and p.is_file())

    seen: set[Path] = set()
    out: list[Path] = []
    for text in args:
        p = Path(text)
        if p.is_dir():
            found = media(p.iterdir())
            if not found:
                raise MediaError(f"no {what} found in '{text}'")
        elif p.is_file():
            found = [p]
        elif _GLOB_CHARS & set(text):
            found = media(Path(m) for m in glob.glob(text, recursive=True))
            if not found:
                raise MediaError(f"no {what} match '{text}'")
        elif p.exists():
            raise MediaError(f"cannot read '{text}': not a regular file")
        else:
            raise MediaError(f"cannot read '{text}': no such file or directory")
        for f in found:
            key = f.resolve()
            if key not in seen:
                seen.add(key)
                out.append(f)
    if not out:
        raise MediaError(f"no inputs: give {what}, folders, globs or a list file")
    return out
