"""TensorFlow's legacy bilinear resize (`ResizeBilinear`, align_corners=False, half_pixel_centers=False) in
numpy, bit for bit, so that sizing an image needs no TensorFlow.

TensorFlow's CPU kernel computes, per output axis of size `out` from `inp`, in float32:

    scale = inp / out;   src = i * scale
    lower = max(floor(src), 0);   upper = min(ceil(src), inp - 1);   lerp = src - floor(src)

and per output value, in float32 and in this order (no fused multiply-add):

    top = tl + (tr - tl) * x_lerp;   bottom = bl + (br - bl) * x_lerp;   out = top + (bottom - top) * y_lerp

with the four corners cast to float32 first. This module does those very operations in that order, so its
result equals the op's (tests/test_sizing.py compares them element for element).

The gathers and the arithmetic run on preallocated buffers, kept per size and per thread: a video (one
frame size) allocates them once. Fresh temporaries of this size cost more in page faults than the
arithmetic itself on some machines.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from functools import lru_cache

import numpy as np

_MAX_PLANS = 8  # a video needs one; a folder of photos cycles through a few sizes


@lru_cache(maxsize=64)
def axis_table(in_size: int, out_size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(lower, upper, lerp) for one axis as the kernel computes them: int indices, float32 weights."""
    scale = np.float32(in_size) / np.float32(out_size)
    src = np.arange(out_size, dtype=np.float32) * scale
    floor = np.floor(src)
    lower = np.maximum(floor.astype(np.intp), 0)
    upper = np.minimum(np.ceil(src).astype(np.intp), in_size - 1)  # ceil, not floor + 1: equal where lerp > 0
    lerp = (src - floor).astype(np.float32)
    for table in (lower, upper, lerp):
        table.flags.writeable = False
    return lower, upper, lerp


class _Plan:
    """Tables and scratch buffers for one (input size, output size, channels, dtype)."""

    def __init__(self, in_h: int, in_w: int, out_h: int, out_w: int, channels: int, dtype: np.dtype) -> None:
        self.shape = (out_h, out_w, channels)
        y_lower, y_upper, y_lerp = axis_table(in_h, out_h)
        x_lower, x_upper, x_lerp = axis_table(in_w, out_w)
        self.rows = (y_lower, y_upper)
        c = np.arange(channels)
        self.cols = ((x_lower[:, None] * channels + c).ravel(), (x_upper[:, None] * channels + c).ravel())
        self.y_lerp = y_lerp[:, None]
        self.x_lerp = np.repeat(x_lerp, channels)  # one weight per (x, channel)
        # An axis whose weights are all 0 (the same size, or a whole-number downscale) only needs its lower
        # samples: a + (b - a) * 0 == a exactly for finite a, b, which integer images guarantee.
        whole = np.dtype(dtype).kind in "ui"
        self.x_zero = whole and not x_lerp.any()
        self.y_zero = whole and not y_lerp.any()
        self.x_same = self.x_zero and in_w == out_w
        self.top = np.empty((out_h, out_w * channels), np.float32)
        self.bottom = np.empty((out_h, out_w * channels), np.float32)
        self.row_buf = np.empty((out_h, in_w * channels), dtype)
        self.corners = np.empty((2, out_h, out_w * channels), dtype)

    def _row_lerp(self, flat: np.ndarray, rows: np.ndarray, acc: np.ndarray) -> None:
        """acc = left + (right - left) * x_lerp on the rows `rows` of the [H, W * C] image."""
        np.take(flat, rows, axis=0, out=self.row_buf, mode="clip")
        if self.x_same:
            np.copyto(acc, self.row_buf, casting="unsafe")
            return
        left, right = self.corners
        np.take(self.row_buf, self.cols[0], axis=1, out=left, mode="clip")
        if self.x_zero:
            np.copyto(acc, left, casting="unsafe")
            return
        np.take(self.row_buf, self.cols[1], axis=1, out=right, mode="clip")
        np.subtract(right, left, out=acc, dtype=np.float32)  # the corners cast to float32 first, as the op does
        acc *= self.x_lerp
        np.add(acc, left, out=acc, dtype=np.float32)

    def run(self, image: np.ndarray, out: np.ndarray) -> np.ndarray:
        out_h, out_w, channels = self.shape
        flat = image.reshape(image.shape[0], -1)
        out2 = out.reshape(out_h, out_w * channels)
        if self.y_zero:
            self._row_lerp(flat, self.rows[0], out2)
            return out
        self._row_lerp(flat, self.rows[0], self.top)
        self._row_lerp(flat, self.rows[1], self.bottom)
        self.bottom -= self.top
        self.bottom *= self.y_lerp
        np.add(self.top, self.bottom, out=out2)
        return out


_local = threading.local()


def _plan(in_h: int, in_w: int, out_h: int, out_w: int, channels: int, dtype: np.dtype) -> _Plan:
    plans: OrderedDict[tuple, _Plan] | None = getattr(_local, "plans", None)
    if plans is None:
        plans = _local.plans = OrderedDict()
    key = (in_h, in_w, out_h, out_w, channels, dtype.str)
    plan = plans.get(key)
    if plan is None:
        plan = plans[key] = _Plan(in_h, in_w, out_h, out_w, channels, dtype)
        while len(plans) > _MAX_PLANS:
            plans.popitem(last=False)
    else:
        plans.move_to_end(key)
    return plan


def resize_bilinear(image: np.ndarray, out_height: int, out_width: int, *, out: np.ndarray | None = None
                    ) -> np.ndarray:
    """An [H, W, C] image of any real dtype as float32 [out_height, out_width, C], equal to TensorFlow's
    legacy ResizeBilinear. `out`: a C-contiguous float32 array of that shape to write into (a runtime's
    input tensor, say) instead of a new one."""
    image = np.asarray(image)
    if image.ndim != 3:
        raise ValueError(f"expected an image [H, W, C], got shape {image.shape}")
    in_h, in_w, channels = image.shape
    out_height, out_width = int(out_height), int(out_width)
    if min(out_height, out_width, in_h, in_w, channels) < 1:
        raise ValueError(f"cannot resize {in_w}x{in_h}x{channels} to {out_width}x{out_height}")
    if image.dtype not in (np.uint8, np.float32):
        image = image.astype(np.float32)  # what the kernel does to every value it reads
    image = np.ascontiguousarray(image)
    shape = (out_height, out_width, channels)
    if out is None:
        out = np.empty(shape, np.float32)
    elif out.shape != shape or out.dtype != np.float32 or not out.flags.c_contiguous:
        raise ValueError(f"out must be a C-contiguous float32 array of shape {shape}")
    return _plan(in_h, in_w, out_height, out_width, channels, image.dtype).run(image, out)
