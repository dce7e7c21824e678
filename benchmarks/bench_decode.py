"""Pose decoding time per frame (ms), single and multi-pose, on the reference's real network outputs.

Tensors: the stored outputs in ../shared/reference/raw/ (17 photos per configuration). Stride 16 uses
the real 2.x outputs at 257 and 513 px. Stride 8 has real outputs only from the 1.x model at scale
factor 0.5 (inputs of 233-257 px, mostly 249 x 249); for 257 and 513 px at stride 8 the stride-16
outputs are upsampled 2x by linear interpolation (grid 2R - 1), which keeps them realistic: offsets
interpolate consistently with the cell positions, peaks stay peaks. Multi-pose uses the tfjs defaults
(5 detections, threshold 0.5, radius 20) and the refine steps of the package that made the tensors.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from benchmarks.common import print_table, shared_dir
from posenet_cli.decode import decode_multiple_poses, decode_single_pose

TENSORS = ("heatmapScores", "offsets", "displacementFwd", "displacementBwd")


def _load(config: str) -> list[dict[str, np.ndarray]]:
    folder = shared_dir() / "reference" / "raw" / config
    frames = []
    for path in sorted(Path(folder).glob("*.npz")):
        with np.load(path) as npz:
            frames.append({k: np.ascontiguousarray(npz[k]) for k in TENSORS})
    if not frames:
        raise SystemExit(f"no reference tensors in {folder}")
    return frames


def _upsample2(a: np.ndarray) -> np.ndarray:
    """[R, C, n] -> [2R - 1, 2C - 1, n]: the grid at half the stride, linearly interpolated."""
    for axis in (0, 1):
        a = np.moveaxis(a, axis, 0)
        out = np.empty((2 * a.shape[0] - 1, *a.shape[1:]), a.dtype)
        out[0::2] = a
        out[1::2] = (a[:-1] + a[1:]) / 2
        a = np.moveaxis(out, 0, axis)
    return np.ascontiguousarray(a)


def _per_call_ms(fn: Callable[[], object], repeats: int) -> list[float]:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1e3)
    return times


def _row(label: str, stride: int, frames: list[dict[str, np.ndarray]], refine_steps: int, tensors: str,
         repeats: int) -> dict[str, object]:
    single, multi, per_image, counts = [], [], [], []
    for f in frames:
        args = (f["heatmapScores"], f["offsets"], f["displacementFwd"], f["displacementBwd"], stride)
        single += _per_call_ms(lambda f=f: decode_single_pose(f["heatmapScores"], f["offsets"], stride), repeats)
        times = _per_call_ms(lambda args=args: decode_multiple_poses(*args, refine_steps=refine_steps), repeats)
        multi += times
        per_image.append(statistics.median(times))
        counts.append(len(decode_multiple_poses(*args, refine_steps=refine_steps)))
    grids = sorted({f["heatmapScores"].shape[:2] for f in frames}, key=lambda g: -sum(
        f["heatmapScores"].shape[:2] == g for f in frames))  # most common first
    return {
        "input px": label,
        "stride": stride,
        "grid": ", ".join(f"{h}x{w}" for h, w in grids),
        "tensors": tensors,
        "frames": len(frames),
        "poses/frame": f"{np.mean(counts):.1f}",
        "single ms": f"{statistics.median(single):.3f}",
        "multi ms": f"{statistics.median(multi):.3f}",
        "multi ms, slowest frame": f"{max(per_image):.3f}",
    }


def run(repeats: int = 200) -> list[dict[str, object]]:
    """One row per input size and stride: median decode time per frame over all frames and repeats."""
    r257 = _load("v2-q2m075-s16-r257")
    r513 = _load("v2-q2m075-s16-r513")
    s8 = _load("v1-m075-s8-f050")
    up = {"257": [{k: _upsample2(v) for k, v in f.items()} for f in r257],
          "513": [{k: _upsample2(v) for k, v in f.items()} for f in r513]}
    return [
        _row("257", 16, r257, 2, "real: v2-q2m075-s16-r257, refine 2", repeats),
        _row("513", 16, r513, 2, "real: v2-q2m075-s16-r513, refine 2", repeats),
        _row("233-257", 8, s8, 1, "real: v1-m075-s8-f050, refine 1", repeats),
        _row("257", 8, up["257"], 2, "v2-q2m075-s16-r257 upsampled 2x, refine 2", repeats),
        _row("513", 8, up["513"], 2, "v2-q2m075-s16-r513 upsampled 2x, refine 2", repeats),
    ]


if __name__ == "__main__":
    print_table("Pose decoding (ms/frame, median)", run())
