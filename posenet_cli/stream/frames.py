"""The values a stream of video frames carries: a decoded frame, or the place of one that failed to decode;
and which frames of a video a run reads (`FrameSpan`).

A reader yields both in source order, so a consumer reports a broken frame where it happened (an error
record between the frames around it) without asking the reader for side lists.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Frame:
    """One video frame: its index in the source, its time in milliseconds and the RGB image [H, W, 3]."""

    index: int
    time_ms: float
    image: np.ndarray


@dataclass(frozen=True)
class BrokenFrame:
    """A frame of the source that could not be decoded: its index and why."""

    index: int
    error: str = "the frame could not be decoded"


@dataclass(frozen=True)
class FrameSpan:
    """Which frames of a video to read: from `start` seconds to `end` (exclusive; None: to the end of the
    source), every `every`th frame."""

    start: float = 0.0
    end: float | None = None
    every: int = 1
