"""What comes out: result records (with their JSON Schema), writers per format, drawings, and resuming.

`OutputOptions` is the output concern's one options object, shared by every command that writes results.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class OutputOptions:
    """How results are written: `format` (json, jsonl, csv, coco; None: from the output file's extension),
    whether existing outputs may be replaced, the lowest part score drawn on annotated media, and the
    decimals positions are written with (`precision`; scores keep pose.SCORE_DECIMALS; None: full)."""

    format: str | None = None
    overwrite: bool = False
    min_part_score: float = 0.5
    precision: int | None = 2  # 0.01 px: far below what the network can tell apart (its offsets' noise)
