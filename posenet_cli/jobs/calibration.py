"""Calibration inputs for int8 quantisation: photos and video frames prepared exactly as estimation prepares
them (the same sizing and resize), so the int8 model is calibrated on the value ranges it will see."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from ..media.images import read_image
from ..media.inputs import IMAGE, kind_of
from ..media.video import VideoReader
from ..sizing import SizingOptions
from ..stream.frames import Frame

FRAME_STEP = 12  # every 12th frame of a video: neighbouring frames add little the calibration does not have
MAX_INPUTS = 200  # more gives the same activation ranges for longer


def calibration_images(paths: list[Path], frame_step: int = FRAME_STEP) -> Iterator[np.ndarray]:
    """RGB images: each photo, and every `frame_step`-th frame of each video."""
    for path in paths:
        if kind_of(path) == IMAGE:
            yield read_image(path)
            continue
        with VideoReader(path, every=frame_step) as reader:  # the frames between are skipped undecoded
            for frame in reader:
                if isinstance(frame, Frame):
                    yield frame.image


def calibration_inputs(paths: list[Path], sizing: SizingOptions, output_stride: int,
                       limit: int = MAX_INPUTS) -> list[np.ndarray]:
    """Network inputs [1, h, w, 3] for at most `limit` images from `paths` (see `calibration_images`)."""
    inputs = []
    for image in calibration_images(paths):
        plan = sizing.plan(image.shape[0], image.shape[1], output_stride)
        inputs.append(plan.prepare(image)[None])
        if len(inputs) == limit:
            break
    return inputs


def describe(paths: list[Path]) -> str:
    """A short record of a calibration set, kept with the model it made: how many files, and a digest of
    their names and sizes (which tells two sets apart without reading them again)."""
    digest = hashlib.sha256()
    for path in paths:
        digest.update(f"{path.name}\0{path.stat().st_size}\0".encode())
    return f"{len(paths)} files, {digest.hexdigest()[:12]}"
