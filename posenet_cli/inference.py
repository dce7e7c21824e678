"""How the network runs on an image: at one input size or several (multi-scale testing), with or without its
horizontal mirror (flip testing), and on which grid the outputs are fused and decoded.

The same weights find keypoints more accurately when the outputs of several views of the image are averaged
before decoding (test-time augmentation, as bottom-up pose models commonly do); docs/accuracy.md has the
measurements and `ACCURATE` the preset they chose. Everything here is numpy and runner-agnostic: a runner is
called with a batch of network inputs and returns the four output tensors.

The four output tensors are laid out as decode.py's docstring says, with [n, ...] in front for a batch; an
input side is (cells - 1) * stride + 1. A plan (`sizing.InputPlan`) maps input pixels to
image pixels per axis: x_image = x_input * scale_x - pad_left (likewise y).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import PoseNetError
from .keypoints import MIRRORED_EDGE, MIRRORED_PART, NUM_EDGES, NUM_KEYPOINTS
from .models.signature import OUTPUT_NAMES, Runner
from .sizing import InputPlan, SizingError, SizingOptions

Outputs = dict[str, np.ndarray]


class InferenceError(PoseNetError, ValueError):
    """Inference options that cannot work (a scale that is not a positive number, a decode stride that is
    not a divisor of the output stride)."""


@dataclass(frozen=True)
class InferenceOptions:
    """Which views of an image the network runs on, and where their outputs are fused for the decoder.

    `scales`: the sizing's size (long edge, scale factor or resolution) times each; every scale is its own
    network pass, and their outputs are resampled onto the grid of the largest and averaged. `flip`: each
    input (True), or those of the scales whose entry is True (one per scale), also runs mirrored, in the same
    batch, and the mirror's outputs are mapped back and averaged in. `decode_stride`: decode on a grid this
    many input pixels apart, finer than the network's output stride (the outputs upsampled bilinearly), or
    None for the network's own grid. The defaults are one plain pass: exactly what the network gives.
    """

    scales: tuple[float, ...] = (1.0,)
    flip: bool | tuple[bool, ...] = False
    decode_stride: int | None = None

    def __post_init__(self) -> None:
        scales = tuple(self.scales)
        if not scales:
            raise InferenceError("give at least one scale")
        for s in scales:
            if isinstance(s, bool) or not isinstance(s, numbers.Real) or not math.isfinite(s) or s <= 0:
                raise InferenceError(f"scales must be positive numbers (got {s!r})")
        object.__setattr__(self, "scales", tuple(float(s) for s in scales))
        if not isinstance(self.flip, bool):
            flips = tuple(self.flip)
            if len(flips) != len(scales) or not all(isinstance(f, bool) for f in flips):
                raise InferenceError(f"flip must be True, False or one of them per scale (got {self.flip!r})")
            object.__setattr__(self, "flip", flips)
        d = self.decode_stride
        if d is not None and (isinstance(d, bool) or not isinstance(d, int) or d < 1):
            raise InferenceError(f"decode stride must be a positive whole number (got {d!r})")

    @classmethod
    def accurate(cls) -> InferenceOptions:
        """The `--accurate` preset (ACCURATE)."""
        return ACCURATE

    @property
    def plain(self) -> bool:
        """One pass at the sizing's own size, decoded on the network's grid: no fusion at all."""
        return self.scales == (1.0,) and not any(self.flips) and self.decode_stride is None

    @property
    def flips(self) -> tuple[bool, ...]:
        """Whether each scale also runs mirrored."""
        return (self.flip,) * len(self.scales) if isinstance(self.flip, bool) else self.flip

    def grid_stride(self, output_stride: int) -> int:
        """The stride of the grid the fused outputs are on (and decoded at)."""
        return output_stride if self.decode_stride is None else self.decode_stride

    def check(self, output_stride: int, sizing: SizingOptions | None = None) -> InferenceOptions:
        """These options, if they can work at `output_stride` (and each scale of `sizing`, on a typical image),
        so that a bad one fails before a model loads."""
        d = self.decode_stride
        if d is not None and (d > output_stride or output_stride % d):
            raise InferenceError(f"decode stride must divide the output stride {output_stride} (got {d})")
        for s in self.scales if sizing is not None else ():
            try:
                sizing.scaled(s).check(output_stride)
            except SizingError as e:
                raise SizingError(f"at scale {s:g}: {e}") from None
        return self

    def settings(self) -> dict[str, Any]:
        """The options as recorded with results: none for a plain pass, so its records are as before."""
        out: dict[str, Any] = {}
        if self.scales != (1.0,):
            out["scales"] = list(self.scales)
        if any(self.flips):
            out["flip"] = self.flip if isinstance(self.flip, bool) else list(self.flip)
        if self.decode_stride is not None:
            out["decode_stride"] = self.decode_stride
        return out

    def plans(self, sizing: SizingOptions, height: int, width: int, output_stride: int) -> tuple[InputPlan, ...]:
        """One plan per scale for an image of `height` x `width` (raises InferenceError or SizingError when the
        options cannot work for it)."""
        self.check(output_stride)
        return tuple(sizing.scaled(s).plan(height, width, output_stride) for s in self.scales)

    def run(self, runner: Runner, inputs: Sequence[np.ndarray]) -> list[Outputs]:
        """Each scale's outputs for a batch of images: `inputs[s]` holds the images' network inputs at scale s
        (float32 [n, H, W, 3]); one runner call per scale, with the mirrors in the same batch, so the extra
        passes share the call. Returns [n, h, w, C] tensors per scale, the mirrors mapped back and averaged in."""
        results = []
        for batch, flip in zip(inputs, self.flips):
            if not flip:
                results.append(dict(runner(batch)))
                continue
            n = len(batch)
            both = runner(np.concatenate([batch, batch[:, :, ::-1]]))  # [2n, ...]: the inputs, then their mirrors
            back = unmirror({k: both[k][n:] for k in OUTPUT_NAMES})
            results.append({k: (both[k][:n] + back[k]) * np.float32(0.5) for k in OUTPUT_NAMES})
        return results

    def fuse(self, plans: Sequence[InputPlan], outputs: Sequence[Outputs], output_stride: int
             ) -> tuple[InputPlan, Outputs]:
        """One image's outputs at each of its `plans` (batch axis removed) as one set of outputs on the grid of
        the largest plan at `grid_stride`: the plan to decode them with, and the outputs (as they are for a
        plain pass)."""
        stride = self.grid_stride(output_stride)
        if len(plans) == 1 and stride == output_stride:
            return plans[0], outputs[0]
        target = max(plans, key=lambda p: p.input_height * p.input_width)
        on_target = [o if p == target and stride == output_stride else resample(o, p, output_stride, target, stride)
                     for p, o in zip(plans, outputs)]
        return target, {k: sum(o[k] for o in on_target) / np.float32(len(on_target)) for k in OUTPUT_NAMES}


def parse_scales(text: str) -> tuple[float, ...]:
    """'1,1.33' -> (1.0, 1.33)."""
    try:
        return tuple(float(v) for v in text.split(","))
    except ValueError:
        raise InferenceError(f"scales must be comma-separated numbers, like 1,1.5 (got {text!r})") from None


# Channel gathers and signs that map a mirrored input's outputs back to the original's frame: channel k of a
# tensor takes the mirror's channel PERM[k]; x channels change sign, y channels do not.
_OFFSET_PERM = np.array(MIRRORED_PART + tuple(NUM_KEYPOINTS + k for k in MIRRORED_PART))
_OFFSET_SIGN = np.array([1.0] * NUM_KEYPOINTS + [-1.0] * NUM_KEYPOINTS, np.float32)
_DISP_PERM = np.array(MIRRORED_EDGE + tuple(NUM_EDGES + e for e in MIRRORED_EDGE))
_DISP_SIGN = np.array([1.0] * NUM_EDGES + [-1.0] * NUM_EDGES, np.float32)


def unmirror(outputs: Mapping[str, np.ndarray]) -> Outputs:
    """The outputs of a horizontally mirrored input ([..., h, w, C]) in the frame of the input itself, to be
    averaged with its own outputs.

    Grid columns are reversed: the input's width is (w - 1) * stride + 1, so the mirror's column j (input
    x = j * stride) is the original's x = (w - 1 - j) * stride, cell for cell. A part the network sees as
    leftWrist in the mirror is the original's rightWrist, so channels take their mirrored part's (heatmaps,
    offsets) or mirrored edge's (displacements, fwd stays fwd), and x offsets and x displacements change sign.
    """
    return {
        "heatmap_scores": np.ascontiguousarray(outputs["heatmap_scores"][..., ::-1, :][..., list(MIRRORED_PART)]),
        "offsets": outputs["offsets"][..., ::-1, :][..., _OFFSET_PERM] * _OFFSET_SIGN,
        "displacement_fwd": outputs["displacement_fwd"][..., ::-1, :][..., _DISP_PERM] * _DISP_SIGN,
        "displacement_bwd": outputs["displacement_bwd"][..., ::-1, :][..., _DISP_PERM] * _DISP_SIGN,
    }


def _grid(plan: InputPlan, stride: int) -> tuple[int, int]:
    return (plan.input_height - 1) // stride + 1, (plan.input_width - 1) // stride + 1


def _axis_map(src: InputPlan, dst: InputPlan) -> tuple[tuple[float, float], tuple[float, float]]:
    """((a_y, b_y), (a_x, b_x)) with dst_input = a * src_input + b per axis, through image pixels:
    image = src_input * src.scale - src.pad, dst_input = (image + dst.pad) / dst.scale."""
    return ((src.scale_y / dst.scale_y, (dst.pad_top - src.pad_top) / dst.scale_y),
            (src.scale_x / dst.scale_x, (dst.pad_left - src.pad_left) / dst.scale_x))


def _bilinear(coords: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For positions in grid units on an axis of `size` cells: lower cell, upper cell and the upper cell's
    weight; positions beyond the grid take its border cell."""
    c = np.clip(coords, 0.0, size - 1)
    lo = np.floor(c).astype(np.intp)
    return lo, np.minimum(lo + 1, size - 1), (c - lo).astype(np.float32)


def resample(outputs: Mapping[str, np.ndarray], src: InputPlan, src_stride: int, dst: InputPlan, dst_stride: int
             ) -> Outputs:
    """One image's outputs for plan `src` (grid stride `src_stride`) on the grid of plan `dst` (`dst_stride`).

    Each destination cell is mapped through image pixels to a point of the source grid, sampled bilinearly:
    scores as they are; offsets as the absolute keypoint positions they point at (in destination input
    pixels), turned back into offsets from the destination cell, so a cell between or beyond the source's
    cells still points at the keypoint its neighbours predict; displacements scaled from source to
    destination input pixels per axis.
    """
    (ay, by), (ax, bx) = _axis_map(src, dst)
    hs, ws = _grid(src, src_stride)
    hd, wd = _grid(dst, dst_stride)
    dst_y = np.arange(hd, dtype=np.float64) * dst_stride  # the destination cells, in destination input pixels
    dst_x = np.arange(wd, dtype=np.float64) * dst_stride
    y0, y1, wy = _bilinear((dst_y - by) / ay / src_stride, hs)  # the same points in source grid units
    x0, x1, wx = _bilinear((dst_x - bx) / ax / src_stride, ws)

    off = np.asarray(outputs["offsets"], np.float32)
    src_y = (np.arange(hs, dtype=np.float32) * src_stride)[:, None, None]
    src_x = (np.arange(ws, dtype=np.float32) * src_stride)[None, :, None]
    # [hs, ws, 115]: scores 0..16, absolute y then x of each keypoint 17..50, fwd 51..82, bwd 83..114.
    field = np.concatenate([
        np.asarray(outputs["heatmap_scores"], np.float32),
        (src_y + off[..., :NUM_KEYPOINTS]) * np.float32(ay) + np.float32(by),
        (src_x + off[..., NUM_KEYPOINTS:]) * np.float32(ax) + np.float32(bx),
        np.asarray(outputs["displacement_fwd"], np.float32),
        np.asarray(outputs["displacement_bwd"], np.float32)], axis=2)
    rows = field[y0] * (1 - wy)[:, None, None] + field[y1] * wy[:, None, None]  # [hd, ws, 115]
    out = rows[:, x0] * (1 - wx)[None, :, None] + rows[:, x1] * wx[None, :, None]  # [hd, wd, 115]

    heat, pos, fwd, bwd = np.split(out, np.cumsum([NUM_KEYPOINTS, 2 * NUM_KEYPOINTS, 2 * NUM_EDGES]), axis=2)
    vector_scale = np.array([ay] * NUM_EDGES + [ax] * NUM_EDGES, np.float32)
    return {
        "heatmap_scores": np.ascontiguousarray(heat),
        "offsets": np.concatenate([pos[..., :NUM_KEYPOINTS] - dst_y.astype(np.float32)[:, None, None],
                                   pos[..., NUM_KEYPOINTS:] - dst_x.astype(np.float32)[None, :, None]], axis=2),
        "displacement_fwd": fwd * vector_scale,
        "displacement_bwd": bwd * vector_scale,
    }


# Chosen by COCO keypoint AP against time on the shared labelled photos (docs/accuracy.md).
ACCURATE = InferenceOptions(scales=(0.89, 1.33), flip=(True, False), decode_stride=8)
