"""The one serving signature every PoseNet model here has, and the metadata stored beside it. No TensorFlow:
the CLI describes and inspects models before (or without) loading one.

  input   "image"             float32 [batch, height, width, 3]: RGB 0..255 at network size (k * stride + 1
                              per side for the documented grid; any size works), dynamic batch
  outputs "heatmap_scores" [batch, h, w, 17], "offsets" [batch, h, w, 34], "displacement_fwd" and
          "displacement_bwd" [batch, h, w, 32], all float32, with h = (height - 1) / output_stride + 1
          (likewise w); what each channel holds is explained once, in posenet_cli/decode.py.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from .base import STRIDES

SIGNATURE_KEY = "serving_default"
INPUT_NAME = "image"
OUTPUT_NAMES = ("heatmap_scores", "offsets", "displacement_fwd", "displacement_bwd")
OUTPUT_CHANNELS = {"heatmap_scores": 17, "offsets": 34, "displacement_fwd": 32, "displacement_bwd": 32}
SIGNATURE_DOC = {
    "input": {INPUT_NAME: "float32 [batch, height, width, 3], RGB 0..255 at network size"},
    "outputs": {
        "heatmap_scores": "float32 [batch, h, w, 17], sigmoid applied",
        "offsets": "float32 [batch, h, w, 34], y offsets then x offsets (pixels)",
        "displacement_fwd": "float32 [batch, h, w, 32], y then x, parent -> child",
        "displacement_bwd": "float32 [batch, h, w, 32], y then x, child -> parent",
    },
}
METADATA_PATH = Path("assets.extra") / "posenet.json"
PROBE_SIZE = 129  # (129 - 1) is a multiple of every stride: the grid is 17, 9 or 5 cells for stride 8, 16, 32


def stride_from_grid(grid_height: int, grid_width: int) -> int | None:
    """The output stride that turns a PROBE_SIZE x PROBE_SIZE input into this grid, or None if none does."""
    stride = (PROBE_SIZE - 1) // (grid_height - 1) if grid_height > 1 else 0
    ok = stride in STRIDES and (grid_height - 1) * stride == PROBE_SIZE - 1 and grid_width == grid_height
    return stride if ok else None


def as_batch(images: np.ndarray) -> np.ndarray:
    """float32 images [b, h, w, 3] from a batch or one [h, w, 3] image (a batch of 1); ValueError otherwise."""
    images = np.asarray(images, dtype=np.float32)
    if images.ndim == 3:
        images = images[None]
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"expected RGB images [batch, height, width, 3] or [height, width, 3], "
                         f"got shape {list(images.shape)}")
    return images


def output_stride(run: Callable[[np.ndarray], dict[str, np.ndarray]], metadata: dict[str, Any],
                  error: type[Exception]) -> int:
    """A model's output stride: its metadata's, else (a model converted without it) from the grid it gives a
    probe input; `error` when no stride gives that grid."""
    stride = metadata.get("output_stride")
    if stride in STRIDES:
        return int(stride)
    grid = run(np.zeros((1, PROBE_SIZE, PROBE_SIZE, 3), np.float32))["heatmap_scores"].shape[1:3]
    probed = stride_from_grid(*grid)
    if probed is None:
        raise error(f"cannot tell the output stride: a {PROBE_SIZE}px input gave a {grid[0]}x{grid[1]} grid")
    return probed


def read_metadata(path: Path, name: str | Path = METADATA_PATH) -> dict[str, Any]:
    """The metadata JSON `name` of an exported model folder ({} when absent or unreadable, e.g. a user's own
    export)."""
    try:
        meta = json.loads((Path(path) / name).read_text())
    except (OSError, ValueError):
        return {}
    return meta if isinstance(meta, dict) else {}


class Runner(Protocol):
    """What runs a model: float32 RGB images [b, h, w, 3] in, the four output maps out (`signature.py`)."""

    output_stride: int
    metadata: dict
    path: Path | None
    preferred_batch: int  # the batch size that runs fastest per frame

    def __call__(self, images: np.ndarray) -> dict[str, np.ndarray]: ...

    def workers(self) -> list[Runner]:
        """Runners of this model to call at the same time, one per thread, for the most frames a second."""
        ...
