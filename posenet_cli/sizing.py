"""Input sizing: how an image becomes a network input, and how poses map back to the image.

Three conventions, all ending in a network input of valid size (k * stride + 1 on each side):

- scale factor (tfjs 1.x): each side d becomes floor((d * f - 1) / stride) * stride + 1, no padding;
- input resolution (tfjs 2.x): zero-pad the image to the target aspect ratio, then resize to the target;
- long edge (this product's default): the scale factor f = N / max(H, W), so the long side is about N px.

The resize is TensorFlow's legacy bilinear resize (align_corners=False, half_pixel_centers=False),
which samples source pixel `dst * in_size / out_size`; OpenCV's INTER_LINEAR samples half-pixel
centres instead and would shift every keypoint.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .pose import Pose

DEFAULT_LONG_EDGE = 641
VALID_STRIDES = (8, 16, 32)


class SizingError(ValueError):
    """An input size that cannot work (scale factor out of range, image too small, ...)."""


@dataclass(frozen=True)
class InputPlan:
    """Where an image of `height` x `width` goes in the network, and how to map poses back.

    Padding is applied to the raw image before the resize (2.x convention); it is zero otherwise.
    """

    height: int
    width: int
    input_height: int
    input_width: int
    pad_top: int = 0
    pad_bottom: int = 0
    pad_left: int = 0
    pad_right: int = 0

    @property
    def scale_y(self) -> float:
        return (self.height + self.pad_top + self.pad_bottom) / self.input_height

    @property
    def scale_x(self) -> float:
        return (self.width + self.pad_left + self.pad_right) / self.input_width

    def to_image(self, pose: Pose, flip_horizontal: bool = False) -> Pose:
        """Map a pose from network-input pixels to image pixels (and mirror it if asked)."""
        out = pose.scaled(self.scale_x, self.scale_y, self.pad_left, self.pad_top)
        return out.mirrored(self.width) if flip_horizontal else out

    def prepare(self, image: np.ndarray) -> np.ndarray:
        """The network input for `image` (RGB [H, W, 3], any numeric dtype): float32 0..255."""
        if image.shape[:2] != (self.height, self.width):
            raise SizingError(f"plan is for {self.width}x{self.height} images, got {image.shape[1]}x{image.shape[0]}")
        if self.pad_top or self.pad_bottom or self.pad_left or self.pad_right:
            pads = ((self.pad_top, self.pad_bottom), (self.pad_left, self.pad_right), (0, 0))
            image = np.pad(image, pads)
        return resize_bilinear(image, self.input_height, self.input_width)


def check_stride(output_stride: int) -> int:
    if output_stride not in VALID_STRIDES:
        raise SizingError(f"output stride must be one of 8, 16, 32 (got {output_stride})")
    return output_stride


def valid_size(size: float, output_stride: int) -> int:
    """The largest valid network size (k * stride + 1) not above `size` + 1: floor(size / stride) * stride + 1."""
    return math.floor(size / output_stride) * output_stride + 1


def _check_image(height: int, width: int) -> None:
    if height < 1 or width < 1:
        raise SizingError(f"image is empty ({width}x{height})")


def plan_scale_factor(height: int, width: int, scale_factor: float, output_stride: int) -> InputPlan:
    """tfjs 1.x sizing: each side d -> floor((d * f - 1) / stride) * stride + 1, no padding."""
    check_stride(output_stride)
    _check_image(height, width)
    if not (0.0 < scale_factor <= 1.0) or not math.isfinite(scale_factor):
        raise SizingError(f"scale factor must be in (0, 1] (got {scale_factor})")
    in_h = valid_size(height * scale_factor - 1, output_stride)
    in_w = valid_size(width * scale_factor - 1, output_stride)
    if in_h < 1 or in_w < 1:
        raise SizingError(
            f"image {width}x{height} is too small for scale factor {scale_factor} at stride {output_stride}"
        )
    return InputPlan(height, width, in_h, in_w)


def plan_long_edge(height: int, width: int, long_edge: int, output_stride: int) -> InputPlan:
    """This product's default: scale so the long side is about `long_edge` px, aspect kept, no padding.

    Each side is snapped to a valid size as the 1.x convention does; small images are scaled up.
    """
    check_stride(output_stride)
    _check_image(height, width)
    if long_edge < output_stride + 1:
        raise SizingError(f"long edge must be at least {output_stride + 1} px at stride {output_stride}")
    f = long_edge / max(height, width)
    in_h = max(1, valid_size(height * f - 1, output_stride))
    in_w = max(1, valid_size(width * f - 1, output_stride))
    return InputPlan(height, width, in_h, in_w)


def parse_resolution(text: str | int | tuple[int, int]) -> tuple[int, int]:
    """'513', 513, '641x481' or (641, 481) -> (width, height)."""
    if isinstance(text, tuple):
        w, h = text
    elif isinstance(text, int):
        w = h = text
    else:
        parts = text.lower().replace("*", "x").split("x")
        try:
            nums = [int(p) for p in parts]
        except ValueError:
            raise SizingError(f"resolution must be N or WxH (got {text!r})") from None
        if len(nums) == 1:
            w = h = nums[0]
        elif len(nums) == 2:
            w, h = nums
        else:
            raise SizingError(f"resolution must be N or WxH (got {text!r})")
    if w < 1 or h < 1:
        raise SizingError(f"resolution must be positive (got {w}x{h})")
    return int(w), int(h)


def plan_resolution(
    height: int, width: int, resolution: str | int | tuple[int, int], output_stride: int
) -> InputPlan:
    """tfjs 2.x sizing: zero-pad symmetrically to the target aspect ratio, then resize to the target.

    An invalid target side r becomes floor(r / stride) * stride + 1.
    """
    check_stride(output_stride)
    _check_image(height, width)
    target_w, target_h = parse_resolution(resolution)
    in_w = target_w if (target_w - 1) % output_stride == 0 else valid_size(target_w, output_stride)
    in_h = target_h if (target_h - 1) % output_stride == 0 else valid_size(target_h, output_stride)
    target_aspect = in_w / in_h
    if width / height < target_aspect:
        pad = js_round(0.5 * (target_aspect * height - width))
        return InputPlan(height, width, in_h, in_w, pad_left=pad, pad_right=pad)
    pad = js_round(0.5 * (width / target_aspect - height))
    return InputPlan(height, width, in_h, in_w, pad_top=pad, pad_bottom=pad)


def make_plan(
    height: int,
    width: int,
    output_stride: int,
    *,
    scale_factor: float | None = None,
    resolution: str | int | tuple[int, int] | None = None,
    long_edge: int | None = None,
) -> InputPlan:
    """Pick the sizing convention from whichever option is given (at most one; long edge 641 if none)."""
    given = [name for name, v in (("scale_factor", scale_factor), ("resolution", resolution),
                                  ("long_edge", long_edge)) if v is not None]
    if len(given) > 1:
        raise SizingError(f"give only one of scale factor, resolution and long edge (got {', '.join(given)})")
    if scale_factor is not None:
        return plan_scale_factor(height, width, scale_factor, output_stride)
    if resolution is not None:
        return plan_resolution(height, width, resolution, output_stride)
    return plan_long_edge(height, width, long_edge or DEFAULT_LONG_EDGE, output_stride)


def js_round(x: float) -> int:
    """JavaScript's Math.round: halves go up."""
    return math.floor(x + 0.5)


def resize_bilinear(image: np.ndarray, out_height: int, out_width: int) -> np.ndarray:
    """TensorFlow's legacy bilinear resize (no corner alignment, no half-pixel centres) of an [H, W, C]
    image to float32 [out_height, out_width, C].

    This is the op itself: it equals the input tfjs 2.x (WASM backend) fed its network bit for bit,
    and tfjs 1.x's JavaScript CPU backend within 0.012 of 255 (tests/test_sizing.py). It runs in
    TensorFlow's C++ kernels, about 6x faster than the same arithmetic in numpy, which matters on video.
    """
    import tensorflow as tf

    images = np.ascontiguousarray(image)[None]
    out = tf.raw_ops.ResizeBilinear(images=images, size=[out_height, out_width], align_corners=False,
                                    half_pixel_centers=False)
    return out.numpy()[0]
