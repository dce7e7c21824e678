"""What a run writes where, checked before any work: results to stdout, one file or a folder of per-item files,
and drawings to a file or a folder; what exists already (replaced only with `overwrite`, continued with
`resume`), and the writer that puts results there.

The destinations are types, so what each needs is never missing: a `Folder` always has its path, `Stdout`
never has one. `posenet image`, `posenet video`/`webcam` and `posenet batch` plan their outputs here.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import OutputError
from ..files import unwritable
from .openpose import last_openpose_frame, openpose_name
from .resume import read_jsonl_resume, recorded_path
from .writers import FOLDER_FORMATS, FolderWriter, SummaryWriter, Writer, open_writer, result_name


class OutputExists(OutputError):
    """An output that exists already, and neither `overwrite` nor `resume` was asked for; `resumable`: a
    run could continue it instead."""

    def __init__(self, path: Path, what: str = "exists", *, resumable: bool = False) -> None:
        super().__init__(f"{path} {what}")
        self.path, self.what, self.resumable = path, what, resumable


@dataclass(frozen=True)
class Stdout:
    """Results on standard output in `format`."""

    format: str


@dataclass(frozen=True)
class Summary:
    """A line per item on standard output (a terminal), for a person to read; no results to keep."""


@dataclass(frozen=True)
class File:
    """One file (or a pipe or a device) that takes every item's results in `format`, or a drawing."""

    path: Path
    format: str = "json"


@dataclass(frozen=True)
class Folder:
    """A file per item in the folder `path`: `<name>.json` (format json), OpenPose's `<name>_keypoints.json` or
    `<stem>_<frame>_keypoints.json` (format openpose), or an image's drawing (format None: its own name)."""

    path: Path
    format: str | None = "json"
    stem: str | None = None  # the video's name, for the files of its frames

    def name(self, item: str | int | Path) -> str:
        if self.format in FOLDER_FORMATS:
            return openpose_name(item, self.stem)
        return result_name(item) if self.format is not None else Path(str(item)).name


Results = Stdout | Summary | File | Folder | None
Drawings = File | Folder | None


def names_folder(arg: str | None) -> bool:
    """Whether an output argument names a folder: an existing one, or a path ending in a slash (hence
    strings, not Paths, up to here: a Path drops the trailing slash)."""
    return arg is not None and (Path(arg).is_dir() or arg.endswith(("/", os.sep)))


@dataclass(frozen=True)
class OutputPlan:
    """Where results and drawings go, and whether outputs that exist may be replaced (`overwrite`) or are
    continued (`resume`)."""

    results: Results
    drawings: Drawings = None
    overwrite: bool = False
    resume: bool = False

    @property
    def resumable(self) -> bool:
        """Whether an interrupted run can go on from what it wrote: results as JSON lines or a folder."""
        r = self.results
        return isinstance(r, Folder) or (isinstance(r, File) and r.format == "jsonl")

    def check(self, items: Sequence[str | int | Path] = (), drawn: Sequence[str | int | Path] | None = None
              ) -> None:
        """Before any work: every output can be written, two items never write one file, and nothing that
        exists is replaced unless `overwrite` (or continued, with `resume`); folders are made. `items` name
        the per-item files of folders (`drawn` those of the drawings folder, when they differ)."""
        keep = self.overwrite or self.resume
        for target, names in ((self.results, items), (self.drawings, items if drawn is None else drawn)):
            if isinstance(target, File) and not (self.resume and target is self.results):
                check_file(target.path, self.overwrite)
            elif isinstance(target, Folder):
                check_folder(target.path)
                check_new([target.path / target.name(item) for item in names], keep)
                if target.stem is not None and not keep and target.path.is_dir() \
                        and last_openpose_frame(target.path, target.stem) is not None:
                    raise OutputExists(target.path, f"holds OpenPose files of {target.stem}", resumable=True)
                make_folder(target.path)

    def drawing(self, item: str | Path) -> Path:
        """Where an item's drawing goes: the drawings file, or its file in the drawings folder."""
        d = self.drawings
        if d is None:
            raise OutputError("no drawings are planned")
        return d.path if isinstance(d, File) else d.path / d.name(item)

    def images_left(self, paths: list[Path]) -> list[Path]:
        """The images an interrupted run has not written yet (failed ones count as done where they are
        recorded: in JSON lines and JSON folders, not in OpenPose folders, which have no error records)."""
        r = self.results
        if isinstance(r, Folder):
            return [p for p in paths if not (r.path / r.name(p)).is_file()]
        if isinstance(r, File):
            records, _ = read_jsonl_resume(r.path)
            done = {recorded_path(rec) for rec in records}
            return [p for p in paths if str(p) not in done]
        return paths

    def frames_done(self) -> tuple[list[dict[str, Any]], int | None]:
        """The frame records an interrupted run wrote (JSON lines; none for OpenPose folders, which keep
        no state to replay) and the last frame index among them."""
        r = self.results
        if isinstance(r, Folder):
            return [], last_openpose_frame(r.path, r.stem or "")
        if isinstance(r, File):
            return read_jsonl_resume(r.path)  # a cut-off last line is removed
        return [], None

    def writer(self, kind: str, settings: dict[str, Any], *, precision: int | None = None,
               min_part_score: float = 0.5, inputs: Sequence[str | Path] = (), angles: Sequence[str] = (),
               filled: bool = False) -> Writer | None:
        """The writer of the results (None when there are none to write); `angles` and `filled`: the motion
        analysis columns of CSV (open_writer)."""
        r = self.results
        if isinstance(r, Summary):
            return SummaryWriter(kind, settings)
        if isinstance(r, Folder) and r.format not in FOLDER_FORMATS:
            return FolderWriter(r.path, settings, precision, kind)
        if r is None:
            return None
        path = None if isinstance(r, Stdout) else r.path
        return open_writer(r.format or "json", path, kind=kind, settings=settings, append=self.resume,
                           precision=precision, inputs=inputs, min_part_score=min_part_score,
                           stem=r.stem if isinstance(r, Folder) else None, angles=angles, filled=filled)


def check_file(path: Path, overwrite: bool, *, folder: bool = False) -> None:
    """One output: its parent folder must exist and take files, and the output must not exist unless
    `overwrite`; it is a file, or with `folder` a folder made whole (a SavedModel, say). A pipe or a
    device (/dev/stdout) is written in place: it only has to be writable."""
    if path.exists() and not path.is_file() and not path.is_dir():
        if not os.access(path, os.W_OK):
            raise OutputError(f"cannot write {path}: permission denied")
        return
    if path.is_dir() != folder and path.exists():
        raise OutputError(f"cannot write {path}: it is a {'file' if folder else 'folder'}")
    if path.exists() and not overwrite:
        raise OutputExists(path)
    if not path.parent.is_dir():
        raise OutputError(f"cannot write {path}: folder {path.parent} does not exist")
    reason = unwritable(path.parent)
    if reason:
        raise OutputError(f"cannot write {path}: {reason}")


def check_folder(path: Path) -> None:
    """A folder of outputs: not a file."""
    if path.exists() and not path.is_dir():
        raise OutputError(f"{path} is a file, not a folder")


def check_new(paths: Sequence[Path], keep: bool) -> None:
    """Per-item outputs: two items must not write the same file, nor any an existing one unless `keep`."""
    seen: set[Path] = set()
    for path in paths:
        if path in seen:
            raise OutputError(f"two inputs would both write {path}; give inputs with different names")
        seen.add(path)
        if not keep and path.exists():
            raise OutputExists(path, resumable=True)


def make_folder(path: Path) -> None:
    """Create an output folder (and its parents) now, before any work, and check that it takes files."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputError(f"cannot create folder {path}: {e.strerror or e}") from None
    reason = unwritable(path)
    if reason:
        raise OutputError(f"cannot write in folder {path}: {reason}")

