"""Where results go: one small writer class per output format, behind one interface.

A writer receives items in order (an image or a video frame): `write` for one item's poses, `error` for an
item that failed, `close` at the end. Line formats (JSON lines, CSV) write and flush each item as it comes,
so an interrupted run keeps every finished item; document formats (JSON, COCO) are written whole, and
atomically, when the writer closes. `open_writer` picks the class for a format name.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, BinaryIO, TextIO

from ..errors import OutputError, WriteError, write_error
from ..files import append_whole, atomic_write, removed_while_open
from ..media.inputs import IMAGE, VIDEO  # what the items are: image paths, or frame indexes
from ..pose import Pose
from . import records
from .openpose import openpose_document, openpose_name

FORMATS = ("json", "jsonl", "csv", "coco", "openpose")
FOLDER_FORMATS = ("openpose",)  # formats that write a folder of files, never one file or stdout


class Writer:
    """The interface, and what every format shares: the record of an item, whose kind (IMAGE or VIDEO)
    decides its shape, the settings recorded with image results, and the precision of what is written
    (Pose.rounded; None: full precision)."""

    def __init__(self, kind: str, settings: dict[str, Any], precision: int | None = None) -> None:
        self.kind, self.settings, self.precision = kind, settings, precision
        self.count = 0  # items written (failures not counted)

    def record(self, item: str | int, poses: list[Pose], width: int, height: int, time_ms: float) -> dict[str, Any]:
        if self.kind == VIDEO:
            return records.frame_record(int(item), time_ms, poses)
        return records.image_record(str(item), width, height, poses, self.settings)

    def write(self, item: str | int, poses: list[Pose], *, width: int, height: int, time_ms: float = 0.0) -> None:
        """Record one item's poses."""
        if self.precision is not None:
            poses = [p.rounded(self.precision) for p in poses]
        self.add(item, poses, width, height, time_ms)
        self.count += 1

    def add(self, item: str | int, poses: list[Pose], width: int, height: int, time_ms: float) -> None:
        """Write one item's poses, as rounded, in the format."""
        raise NotImplementedError

    def error(self, item: str | int, message: str) -> None:
        """Record that one item failed; formats without error records (CSV, COCO) leave it out."""

    def close(self) -> None:
        """Finish the output."""

    def __enter__(self) -> Writer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _write_stream(stream: TextIO, text: str) -> None:
    """Write `text` to a stream (stdout, say) and flush it; WriteError if it cannot take it."""
    try:
        stream.write(text)
        stream.flush()
    except OSError as e:
        raise write_error("<stdout>" if stream is sys.stdout else "<stream>", e) from None


class _LineWriter(Writer):
    """A line format: a file (created, or appended to) or a stream such as stdout, each item written as it
    comes. A file takes each item whole or not at all (files.append_whole): after a failed write it
    ends at its last whole record, and WriteError says so."""

    def __init__(self, path: Path | None, *, kind: str, settings: dict[str, Any], stream: TextIO | None = None,
                 append: bool = False, precision: int | None = None) -> None:
        super().__init__(kind, settings, precision)
        self.path = path
        self.appending = False  # continuing a file that already holds items
        self.file: BinaryIO | None = None
        if path is None:
            self.stream: TextIO = stream or sys.stdout
            return
        try:
            self.file = open(path, "ab" if append else "wb", buffering=0)
        except OSError as e:
            raise write_error(path, e) from None
        self.appending = append and self.file.seekable() and self.file.tell() > 0

    def emit(self, text: str) -> None:
        """Write one item's text, and flush it."""
        if self.file is None:
            _write_stream(self.stream, text)
            return
        try:
            append_whole(self.file.fileno(), text.encode("utf-8"))
        except OSError as e:
            raise write_error(self.path, e, "it ends at its last whole record") from None
        if removed_while_open(self.file.fileno()):  # writes to a deleted file succeed, and are lost
            self.close()

    def close(self) -> None:
        file, self.file = self.file, None
        if file is None:
            return
        gone = removed_while_open(file.fileno())
        file.close()
        if gone:
            raise WriteError(f"cannot write {self.path}: it was deleted while being written (its folder removed?)")


class JsonLinesWriter(_LineWriter):
    """One compact JSON record per line; failures as {"image"|"frame", "error"} records in their place.
    A file of frames whose settings say how the source is timed ("source") is headed by them once: its first
    frame record carries "settings", so the file alone is enough to re-sync (a continued file has them,
    unless the run it continues wrote nothing but errors)."""

    def __init__(self, path: Path | None, **kwargs: Any) -> None:
        super().__init__(path, **kwargs)
        self.headed = (self.kind == VIDEO and "source" in self.settings
                       and not (self.appending and path is not None and _has_header(path)))

    def add(self, item: str | int, poses: list[Pose], width: int, height: int, time_ms: float) -> None:
        header = self.headed and self.count == 0  # the first frame record (failures are not counted)
        record = (records.frame_record(int(item), time_ms, poses, self.settings) if header
                  else self.record(item, poses, width, height, time_ms))
        self.emit(records.dumps(record) + "\n")

    def error(self, item: str | int, message: str) -> None:
        self.emit(records.dumps(records.error_record(item, message)) + "\n")


def _has_header(path: Path) -> bool:
    """Whether a JSON lines file already holds a record with the run's "settings" (read back whole: only
    when a run is continued)."""
    with open(path, "rb") as f:  # the lines are whole JSON objects: resuming checked them (resume.py)
        return any(b'"settings"' in line and "settings" in json.loads(line) for line in f)


class CsvWriter(_LineWriter):
    """One row per pose (records.csv_header); the header once, not again when appending. `angles`: the angle
    columns (motion analysis); `filled`: the columns saying what was filled in."""

    def __init__(self, path: Path | None, *, angles: Sequence[str] = (), filled: bool = False, **kwargs: Any
                 ) -> None:
        super().__init__(path, **kwargs)
        self.angles, self.filled = tuple(angles), filled
        if not self.appending:
            self.emit(_csv_text([records.csv_header(self.angles, filled)]))

    def add(self, item: str | int, poses: list[Pose], width: int, height: int, time_ms: float) -> None:
        self.emit(_csv_text(records.csv_rows(item, poses, self.angles, self.filled)))


def _csv_text(rows: list[list[Any]]) -> str:
    """Rows as CSV text (csv's own quoting and \\r\\n line ends)."""
    buf = io.StringIO()
    csv.writer(buf).writerows(rows)
    return buf.getvalue()


class _DocumentWriter(Writer):
    """A whole-document format: kept in memory, written when the writer closes (atomically to a file,
    indented to a stream)."""

    def __init__(self, path: Path | None, *, kind: str, settings: dict[str, Any], stream: TextIO | None = None,
                 append: bool = False, precision: int | None = None) -> None:
        super().__init__(kind, settings, precision)
        if append:
            raise OutputError(f"{path}: only JSON lines files can be continued")
        self.path, self.stream = path, stream
        self.items: list[dict[str, Any]] = []

    def document(self) -> Any:
        raise NotImplementedError

    def close(self) -> None:
        if self.path is None:
            _write_stream(self.stream or sys.stdout, records.dumps(self.document(), pretty=True) + "\n")
            return
        try:
            atomic_write(self.path, records.dumps(self.document()) + "\n")
        except OSError as e:
            raise write_error(self.path, e, "not written: the file is as it was") from None


class JsonWriter(_DocumentWriter):
    """One image: its record. Several images: a list of records. A video: {"settings", "frames"}."""

    def add(self, item: str | int, poses: list[Pose], width: int, height: int, time_ms: float) -> None:
        self.items.append(self.record(item, poses, width, height, time_ms))

    def error(self, item: str | int, message: str) -> None:
        self.items.append(records.error_record(item, message))

    def document(self) -> Any:
        if self.kind == VIDEO:
            return {"settings": self.settings, "frames": self.items}
        return self.items[0] if len(self.items) == 1 else self.items


def coco_image_ids(paths: Sequence[str | Path]) -> dict[str, int]:
    """COCO image ids for the inputs of a run: the numbers COCO files are named by (000000252219.jpg ->
    252219) when every input is so named, else each input's place among them (from 1)."""
    stems = [Path(p).stem for p in paths]
    if all(stem.isdigit() for stem in stems) and len(set(map(int, stems))) == len(stems):
        return {str(p): int(stem) for p, stem in zip(paths, stems)}
    return {str(p): n for n, p in enumerate(paths, 1)}


class CocoWriter(_DocumentWriter):
    """COCO keypoint results (a list pycocotools loads). Image ids from `image_ids` (coco_image_ids of the
    run's inputs; else the order images come in); a video's frame indexes."""

    def __init__(self, path: Path | None, *, image_ids: Mapping[str, int] | None = None, **kwargs: Any) -> None:
        super().__init__(path, **kwargs)
        self.image_ids = image_ids or {}

    def add(self, item: str | int, poses: list[Pose], width: int, height: int, time_ms: float) -> None:
        image_id = int(item) if self.kind == VIDEO else self.image_ids.get(str(item), self.count + 1)
        self.items.extend(records.coco_results(image_id, poses))

    def document(self) -> Any:
        return self.items


class FolderWriter(Writer):
    """Results as one file per item in a folder, each written atomically: for images `<name>.json`."""

    def __init__(self, folder: Path, settings: dict[str, Any], precision: int | None = None, kind: str = IMAGE
                 ) -> None:
        super().__init__(kind, settings, precision)
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise write_error(folder, e) from None
        self.folder = folder

    def path_for(self, item: str | int) -> Path:
        return self.folder / result_name(item)

    def add(self, item: str | int, poses: list[Pose], width: int, height: int, time_ms: float) -> None:
        self._save(item, records.dumps(self.record(item, poses, width, height, time_ms), pretty=True) + "\n")

    def error(self, item: str | int, message: str) -> None:
        self._save(item, records.dumps(records.error_record(item, message), pretty=True) + "\n")

    def _save(self, item: str | int, text: str) -> None:
        path = self.path_for(item)
        try:
            atomic_write(path, text)
        except OSError as e:
            raise write_error(path, e, "not written; the files before it are whole") from None


class OpenPoseWriter(FolderWriter):
    """OpenPose's `--write_json` layout (output.openpose): `<name>_keypoints.json` per image, or
    `<stem>_<frame:012d>_keypoints.json` per frame of the video `stem`; items that failed get no file."""

    def __init__(self, folder: Path, *, kind: str, min_part_score: float, stem: str | None = None,
                 precision: int | None = None) -> None:
        super().__init__(folder, {}, precision, kind)
        self.min_part_score, self.stem = min_part_score, stem

    def path_for(self, item: str | int) -> Path:
        return self.folder / openpose_name(item, self.stem)

    def add(self, item: str | int, poses: list[Pose], width: int, height: int, time_ms: float) -> None:
        document = openpose_document(poses, self.min_part_score, width, height, self.precision)
        self._save(item, records.dumps(document) + "\n")

    def error(self, item: str | int, message: str) -> None:
        """OpenPose's layout has no error records: a failed item has no file."""


class SummaryWriter(_LineWriter):
    """For a person at a terminal: one line per item, `<item>: N poses (scores)`, best first; results are
    kept elsewhere, or not at all (drawings only)."""

    def __init__(self, kind: str, settings: dict[str, Any], stream: TextIO | None = None) -> None:
        super().__init__(None, kind=kind, settings=settings, stream=stream)

    def add(self, item: str | int, poses: list[Pose], width: int, height: int, time_ms: float) -> None:
        scores = sorted((p.score for p in poses), reverse=True)
        line = f"{item}: {len(poses)} {'pose' if len(poses) == 1 else 'poses'}"
        self.emit(line + (f" ({', '.join(f'{s:.2f}' for s in scores)})" if scores else "") + "\n")


def result_name(item: str | int | Path) -> str:
    """The file an image's result gets in a results folder: `<name>.json`."""
    return Path(str(item)).stem + ".json"


_CLASSES: dict[str, type[_LineWriter] | type[_DocumentWriter]] = {
    "json": JsonWriter, "jsonl": JsonLinesWriter, "csv": CsvWriter, "coco": CocoWriter}


def open_writer(fmt: str, path: Path | None, *, kind: str, settings: dict[str, Any], stream: TextIO | None = None,
                append: bool = False, precision: int | None = None, inputs: Sequence[str | Path] = (),
                min_part_score: float = 0.5, stem: str | None = None, angles: Sequence[str] = (),
                filled: bool = False) -> Writer:
    """A writer of format `fmt` to `path` (None: `stream`, by default stdout); `append` continues a JSON
    lines or CSV file; `precision` rounds what is written (Pose.rounded); `inputs`, the run's images,
    give COCO results their image ids. OpenPose's format writes the folder `path` (`stem`: the video's
    name, for frames; `min_part_score`: the lowest score of a part written as seen). `angles` and `filled`
    add motion analysis columns to CSV (the other formats write what the poses carry)."""
    if fmt in FOLDER_FORMATS:
        if path is None:
            raise OutputError(f"`fmt={fmt!r}` writes a folder of files: give `path=FOLDER/`")
        return OpenPoseWriter(path, kind=kind, min_part_score=min_part_score, stem=stem, precision=precision)
    if fmt not in _CLASSES:
        raise OutputError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    extra: dict[str, Any] = {"image_ids": coco_image_ids(inputs)} if fmt == "coco" and inputs else {}
    if fmt == "csv":
        extra.update(angles=angles, filled=filled)
    return _CLASSES[fmt](path, kind=kind, settings=settings, stream=stream, append=append, precision=precision,
                         **extra)


def format_for(path: Path | None, given: str | None, default: str) -> str:
    """The format: as given, else from the output file's extension (.json, .jsonl, .csv), else `default`."""
    if given is not None:
        return given
    if path is not None and path.suffix.lower() in (".json", ".jsonl", ".csv"):
        return path.suffix.lower()[1:]
    return default
