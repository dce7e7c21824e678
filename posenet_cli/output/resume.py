"""Resuming an interrupted run from its JSON lines: the records already written, with a cut-off last line
removed so that appending continues cleanly."""

from __future__ import annotations

import json
import os
import urllib.parse
from pathlib import Path
from typing import Any

from .records import FormatError


def _parse_line(line: bytes) -> dict[str, Any] | None:
    try:
        value = json.loads(line)
    except (ValueError, UnicodeDecodeError):
        return None
    return value if isinstance(value, dict) else None


def read_jsonl_resume(path: str | os.PathLike[str]) -> tuple[list[dict[str, Any]], int | None]:
    """The records already in a JSON-lines results file, and the last frame index among them.

    For resuming an interrupted run: a last line cut off mid-write is removed from the file (a last
    line that is complete JSON but lacks its newline gets one), so appending continues cleanly. A bad
    line elsewhere raises FormatError rather than losing data. A missing file gives ([], None).
    """
    p = Path(path)
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        return [], None
    except OSError as e:
        raise FormatError(f"cannot read '{p}': {e.strerror or e}") from None
    lines = data.split(b"\n")
    tail = lines.pop()  # b"" when the file ends with a newline
    records: list[dict[str, Any]] = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        record = _parse_line(line)
        if record is None:
            raise FormatError(f"cannot resume from '{p}': line {n} is not a JSON object")
        records.append(record)
    if tail:
        record = _parse_line(tail)
        try:
            with open(p, "rb+") as f:
                if record is not None:
                    records.append(record)
                    f.seek(0, os.SEEK_END)
                    f.write(b"\n")
                else:
                    f.truncate(len(data) - len(tail))
        except OSError as e:
            raise FormatError(f"cannot repair '{p}': {e.strerror or e}") from None
    frames = [r["frame"] for r in records if isinstance(r.get("frame"), int) and not isinstance(r["frame"], bool)]
    return records, (max(frames) if frames else None)


def recorded_path(record: dict[str, Any], key: str = "image") -> str | None:
    """The path a record names, exactly as the run was given it: from `<key>_bytes` when the path was not
    valid UTF-8 (records.path_fields), else from `key`. None if the record names none."""
    if isinstance(record.get(f"{key}_bytes"), str):
        return os.fsdecode(urllib.parse.unquote_to_bytes(record[f"{key}_bytes"]))
    value = record.get(key)
    return value if isinstance(value, str) else None
