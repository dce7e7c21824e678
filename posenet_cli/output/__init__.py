"""What comes out: result records (with their JSON Schema), writers per format, drawings, and resuming.

`OutputOptions` is the output concern's one options object, shared by every command that writes results.
"""

from __future__ import annotations

from dataclasses import dataclass

DRAW_STYLES = ("posenet", "openpose")
BACKGROUNDS = ("image", "black")


@dataclass(frozen=True)
class OutputOptions:
    """How results are written: `format` (json, jsonl, csv, coco, openpose; None: from the output file's
    extension), whether existing outputs may be replaced, the lowest part score drawn on annotated media
    (and written as seen in OpenPose files), the decimals positions are written with (`precision`; scores
    keep pose.SCORE_DECIMALS; None: full), and how drawings look: `draw_style` (posenet: the tfjs demo's
    skeleton, a colour per person; openpose: OpenPose's 18-point skeleton and limb colours) on a
    `background` (image: the input; black: a black canvas of the input's size, a pose image)."""

    format: str | None = None
    overwrite: bool = False
    min_part_score: float = 0.5
    precision: int | None = 2  # 0.01 px: far below what the network can tell apart (its offsets' noise)
    draw_style: str = "posenet"
    background: str = "image"

    def __post_init__(self) -> None:
        if self.draw_style not in DRAW_STYLES:
            raise ValueError(f"draw style must be one of {', '.join(DRAW_STYLES)}, got {self.draw_style!r}")
        if self.background not in BACKGROUNDS:
            raise ValueError(f"background must be one of {', '.join(BACKGROUNDS)}, got {self.background!r}")
