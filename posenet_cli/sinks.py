"""Where results go: one writer interface over JSON, JSONL, CSV and COCO files (or stdout).

Streaming formats (JSONL, CSV) write and flush a line per item, so an interrupted run keeps every
finished item; whole-document formats (JSON, COCO) are written atomically when the run closes.
"""

from __future__ import annotations

import csv
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any, TextIO

from . import formats
from .pose import Pose

FORMATS = ("json", "jsonl", "csv", "coco")


class OutputError(Exception):
    """An output that cannot be written (exists without --overwrite, unwritable folder, ...)."""


def atomic_write_text(path: Path, text: str) -> None:
    """Write a whole file via a temp file in the same folder + rename: readers never see half a file."""
    try:
        fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    except OSError as e:
        raise OutputError(f"cannot write {path}: {e.strerror or e}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600 files; give the usual permissions
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def dumps(record: Any, pretty: bool = False) -> str:
    """One-line JSON (formats.dumps), or indented for a person reading stdout or a per-image file."""
    return json.dumps(record, indent=2, allow_nan=False) if pretty else formats.dumps(record)


class Sink:
    """Receives one item's poses (an image or a video frame) or its error, in order."""

    def __init__(self, fmt: str, path: Path | None, *, kind: str, settings: dict[str, Any],
                 stdout: TextIO | None = None, append: bool = False) -> None:
        if fmt not in FORMATS:
            raise OutputError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
        self.fmt, self.path, self.kind, self.settings = fmt, path, kind, settings
        self.records: list[dict[str, Any]] = []
        self.count = 0
        self._csv: Any = None
        self._stream: TextIO | None = None
        if fmt in ("jsonl", "csv"):
            if path is None:
                self._stream = stdout or sys.stdout
            else:
                try:
                    self._stream = open(path, "a" if append else "w", encoding="utf-8", newline="")
                except OSError as e:
                    raise OutputError(f"cannot write {path}: {e.strerror or e}") from None
            if fmt == "csv":
                self._csv = csv.writer(self._stream)
                if not append or path is None or path.stat().st_size == 0:
                    self._csv.writerow(formats.csv_header())

    def _emit(self, line: str) -> None:
        assert self._stream is not None
        self._stream.write(line + "\n")
        self._stream.flush()

    def write(self, item: str | int, poses: list[Pose], *, width: int, height: int, time_ms: float = 0.0) -> None:
        """Record one item's poses."""
        self.count += 1
        if self.kind == "video":
            record = formats.frame_record(int(item), time_ms, poses)
        else:
            record = formats.image_record(str(item), width, height, poses, self.settings)
        if self.fmt == "jsonl":
            self._emit(dumps(record))
        elif self.fmt == "csv":
            for row in formats.csv_rows(item, poses):
                self._csv.writerow(row)
            self._stream.flush()  # type: ignore[union-attr]
        elif self.fmt == "coco":
            image_id = int(item) if self.kind == "video" else self.count
            self.records.extend(formats.coco_results(image_id, poses))
        else:
            self.records.append(record)

    def error(self, item: str | int, message: str) -> None:
        """Record that one item failed (JSON/JSONL keep an error record; CSV/COCO skip it)."""
        record = formats.error_record(item, message)
        if self.fmt == "jsonl":
            self._emit(dumps(record))
        elif self.fmt == "json":
            self.records.append(record)

    def close(self) -> None:
        """Finish the output: whole-document formats are written now, atomically."""
        if self.fmt in ("json", "coco"):
            if self.fmt == "json" and self.kind == "image" and len(self.records) == 1:
                doc: Any = self.records[0]
            elif self.fmt == "json" and self.kind == "video":
                doc = {"settings": self.settings, "frames": self.records}
            else:
                doc = self.records
            text = dumps(doc, pretty=self.path is None)
            if self.path is None:
                out = sys.stdout
                out.write(text + "\n")
                out.flush()
            else:
                atomic_write_text(self.path, text + "\n")
        elif self._stream is not None and self.path is not None:
            self._stream.close()

    def __enter__(self) -> Sink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class DirSink:
    """Image results as one `<name>.json` per input in a folder (each written atomically)."""

    def __init__(self, folder: Path, settings: dict[str, Any], overwrite: bool) -> None:
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise OutputError(f"cannot create output folder {folder}: {e.strerror or e}") from None
        self.folder, self.settings, self.overwrite = folder, settings, overwrite
        self.count = 0

    def write(self, item: str | int, poses: list[Pose], *, width: int, height: int, time_ms: float = 0.0) -> None:
        self.count += 1
        self._save(item, formats.image_record(str(item), width, height, poses, self.settings))

    def error(self, item: str | int, message: str) -> None:
        self._save(item, formats.error_record(item, message))

    def _save(self, item: str | int, record: dict[str, Any]) -> None:
        atomic_write_text(self.folder / (Path(str(item)).stem + ".json"), dumps(record, pretty=True) + "\n")

    def close(self) -> None:
        pass

    def __enter__(self) -> DirSink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

