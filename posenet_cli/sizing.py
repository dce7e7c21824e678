"""Input sizing: how an image becomes a network input, and how poses map back to the image.

Three conventions, all ending in a network input of valid size (k * stride + 1 on each side):

- scale factor (tfjs 1.x): each side d becomes floor((d * f - 1) / stride) * stride + 1, no padding;
- input resolution (tfjs 2.x): zero-pad the image to the target aspect ratio, then resize to the target;
- long edge (this product's default): the scale factor f = N / max(H, W), so the long side is about N px.

Sizes are bounded so that no option or image can ask for more memory than a computer has: the network
input is at most MAX_INPUT_PIXELS (4097 x 4097: about 3 GB of activations for MobileNet 0.75, several
times that for ResNet50) and an image padded to the target aspect ratio at most MAX_PADDED_PIXELS; a
plan beyond either is a SizingError, never an out-of-memory kill.

The resize is TensorFlow's legacy bilinear resize (align_corners=False, half_pixel_centers=False),
which samples source pixel `dst * in_size / out_size`, done in numpy bit for bit (`resize.py`); OpenCV's
INTER_LINEAR samples half-pixel centres instead and would shift every keypoint.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import numpy as np

from .errors import PoseNetError
from .models.base import StrideError, check_stride
from .pose import Pose
from .resize import resize_bilinear

DEFAULT_LONG_EDGE = 721  # chosen by COCO keypoint AP against time (docs/accuracy.md)
MAX_INPUT_PIXELS = 4097 * 4097
MAX_SIDE = 1 << 31  # no decoder makes images wider or higher than this
MAX_PADDED_PIXELS = 100_000_000  # an RGB uint8 copy of this many pixels is 300 MB


class SizingError(PoseNetError, ValueError):
    """An input size that cannot work (scale factor out of range, image too small, ...)."""


@dataclass(frozen=True)
class SizingOptions:
    """How images are sized for the network: one of scale_factor (tfjs 1.x), resolution (tfjs 2.x) or
    long_edge; none given means long edge DEFAULT_LONG_EDGE."""

    scale_factor: float | None = None
    resolution: str | int | tuple[int, int] | None = None
    long_edge: int | None = None

    def plan(self, height: int, width: int, output_stride: int) -> InputPlan:
        """The plan for one image size (raises SizingError when the options cannot work for it)."""
        return make_plan(height, width, output_stride, scale_factor=self.scale_factor,
                         resolution=self.resolution, long_edge=self.long_edge)

    def parsed(self) -> SizingOptions:
        """These options with the resolution as (width, height) (SizingError if it does not parse)."""
        resolution = None if self.resolution is None else parse_resolution(self.resolution)
        return SizingOptions(self.scale_factor, resolution, self.long_edge)

    def check(self, output_stride: int) -> SizingOptions:
        """These options parsed and checked at `output_stride` on a typical image, so a bad option fails
        before any model is loaded rather than at the first image."""
        checked = self.parsed()
        checked.plan(513, 513, output_stride)
        return checked

    def scaled(self, factor: float) -> SizingOptions:
        """The same convention at `factor` times the size: the long edge, the scale factor, or the resolution's
        sides (rounded to whole pixels; multi-scale testing runs an image at several of these)."""
        if factor == 1.0:
            return self
        if self.scale_factor is not None:
            return SizingOptions(scale_factor=self.scale_factor * factor)
        if self.resolution is not None:
            w, h = parse_resolution(self.resolution)
            return SizingOptions(resolution=(max(1, round(w * factor)), max(1, round(h * factor))))
        return SizingOptions(long_edge=max(1, round((self.long_edge or DEFAULT_LONG_EDGE) * factor)))

    def settings(self) -> dict[str, object]:
        """The sizing as recorded with results: the convention given and its value."""
        given = {k: getattr(self, k) for k in ("scale_factor", "resolution", "long_edge")}
        given = {k: f"{v[0]}x{v[1]}" if isinstance(v, tuple) else v for k, v in given.items() if v is not None}
        return given or {"long_edge": DEFAULT_LONG_EDGE}


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


def _check_stride(output_stride: int) -> None:
    try:
        check_stride(output_stride)
    except StrideError as e:
        raise SizingError(str(e)) from None


def valid_size(size: float, output_stride: int) -> int:
    """The largest valid network size (k * stride + 1) not above `size` + 1: floor(size / stride) * stride + 1."""
    if isinstance(size, numbers.Integral):  # exact for any int (a float quotient overflows past 1e308)
        return int(size) // output_stride * output_stride + 1
    return math.floor(size / output_stride) * output_stride + 1


def nearest_valid_size(size: float, output_stride: int) -> int:
    """The valid network size (k * stride + 1, k >= 1) nearest to `size` (halves round up)."""
    return max(1, math.floor((size - 1) / output_stride + 0.5)) * output_stride + 1


def _check_image(height: int, width: int) -> None:
    if not all(isinstance(d, numbers.Integral) and not isinstance(d, bool) for d in (height, width)):
        raise SizingError(f"image sizes must be whole numbers (got {width!r}x{height!r})")
    if height < 1 or width < 1:
        raise SizingError(f"image is empty ({width}x{height})")
    if height > MAX_SIDE or width > MAX_SIDE:
        raise SizingError(f"image {width}x{height} is too large")


def _checked(plan: InputPlan, how: str) -> InputPlan:
    """The plan, unless it needs more memory than MAX_INPUT_PIXELS / MAX_PADDED_PIXELS allow."""
    if plan.input_height * plan.input_width > MAX_INPUT_PIXELS:
        raise SizingError(
            f"{how} gives a network input of {plan.input_width}x{plan.input_height}, over the limit of "
            f"{MAX_INPUT_PIXELS / 1e6:.1f} megapixels; use a smaller size")
    padded_h = plan.height + plan.pad_top + plan.pad_bottom
    padded_w = plan.width + plan.pad_left + plan.pad_right
    padded = padded_h * padded_w > plan.height * plan.width
    if padded and padded_h * padded_w > MAX_PADDED_PIXELS:  # the image's own size is media's to limit
        raise SizingError(
            f"{how} pads the image to {padded_w}x{padded_h}, over the limit of {MAX_PADDED_PIXELS / 1e6:g} "
            f"megapixels (the image is too elongated for this aspect ratio); size it by long edge instead")
    return plan


def _finite_number(value: object, what: str) -> float:
    try:
        number = float(value) if isinstance(value, numbers.Real) and not isinstance(value, bool) else math.nan
    except OverflowError:  # an int beyond any float
        number = math.inf
    if not math.isfinite(number):
        raise SizingError(f"{what} must be a finite number (got {str(value)[:20]})")
    return number


def plan_scale_factor(height: int, width: int, scale_factor: float, output_stride: int) -> InputPlan:
    """tfjs 1.x sizing: each side d -> floor((d * f - 1) / stride) * stride + 1, no padding."""
    _check_stride(output_stride)
    _check_image(height, width)
    if not (0.0 < _finite_number(scale_factor, "scale factor") <= 1.0):
        raise SizingError(f"scale factor must be in (0, 1] (got {scale_factor})")
    in_h = valid_size(height * scale_factor - 1, output_stride)
    in_w = valid_size(width * scale_factor - 1, output_stride)
    if in_h < 1 or in_w < 1:
        raise SizingError(
            f"image {width}x{height} is too small for scale factor {scale_factor} at stride {output_stride}"
        )
    return _checked(InputPlan(height, width, in_h, in_w), f"image {width}x{height} at scale factor {scale_factor}")


def plan_long_edge(height: int, width: int, long_edge: int, output_stride: int) -> InputPlan:
    """This product's default: scale so the long side is about `long_edge` px, no padding.

    Each scaled side is snapped to the nearest valid size, which keeps the aspect ratio as closely as the
    stride allows (a 640x480 photo at long edge 641 runs at 641x481; snapping down, as the 1.x scale
    factor does, would give 641x465); small images are scaled up.
    """
    _check_stride(output_stride)
    _check_image(height, width)
    if _finite_number(long_edge, "long edge") < output_stride + 1:
        raise SizingError(f"long edge must be at least {output_stride + 1} px at stride {output_stride}")
    if long_edge > MAX_INPUT_PIXELS:  # no plan could be within the limit (and scaling might overflow floats)
        raise SizingError(f"long edge {long_edge:g} gives a network input over the limit of "
                          f"{MAX_INPUT_PIXELS / 1e6:.1f} megapixels; use a smaller size")
    f = long_edge / max(height, width)
    in_h, in_w = nearest_valid_size(height * f, output_stride), nearest_valid_size(width * f, output_stride)
    return _checked(InputPlan(height, width, in_h, in_w), f"long edge {long_edge:g}")


def parse_resolution(text: str | int | tuple[int, int]) -> tuple[int, int]:
    """'513', 513, '641x481' or (641, 481) -> (width, height)."""
    if isinstance(text, tuple):
        if len(text) != 2:
            raise SizingError(f"resolution must be (width, height) (got {text!r})")
        w, h = text
    elif isinstance(text, numbers.Integral):
        w = h = text
    elif not isinstance(text, str):
        raise SizingError(f"resolution must be N or WxH (got {text!r})")
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
    if not all(isinstance(d, numbers.Integral) and not isinstance(d, bool) for d in (w, h)):
        raise SizingError(f"resolution must be whole numbers (got {text!r})")
    if w < 1 or h < 1:
        raise SizingError(f"resolution must be positive (got {w}x{h})")
    return int(w), int(h)


def plan_resolution(
    height: int, width: int, resolution: str | int | tuple[int, int], output_stride: int
) -> InputPlan:
    """tfjs 2.x sizing: zero-pad symmetrically to the target aspect ratio, then resize to the target.

    An invalid target side r becomes floor(r / stride) * stride + 1.
    """
    _check_stride(output_stride)
    _check_image(height, width)
    target_w, target_h = parse_resolution(resolution)
    in_w = target_w if (target_w - 1) % output_stride == 0 else valid_size(target_w, output_stride)
    in_h = target_h if (target_h - 1) % output_stride == 0 else valid_size(target_h, output_stride)
    how = f"resolution {in_w}x{in_h} on a {width}x{height} image"
    if in_h * in_w > MAX_INPUT_PIXELS:  # before the padding arithmetic, which a huge target makes slow
        return _checked(InputPlan(height, width, in_h, in_w), how)
    target_aspect = in_w / in_h
    if width / height < target_aspect:
        pad = js_round(0.5 * (target_aspect * height - width))
        return _checked(InputPlan(height, width, in_h, in_w, pad_left=pad, pad_right=pad), how)
    pad = js_round(0.5 * (width / target_aspect - height))
    return _checked(InputPlan(height, width, in_h, in_w, pad_top=pad, pad_bottom=pad), how)


def make_plan(
    height: int,
    width: int,
    output_stride: int,
    *,
    scale_factor: float | None = None,
    resolution: str | int | tuple[int, int] | None = None,
    long_edge: int | None = None,
) -> InputPlan:
    """Pick the sizing convention from whichever option is given (at most one; DEFAULT_LONG_EDGE if none)."""
    given = [name for name, v in (("scale_factor", scale_factor), ("resolution", resolution),
                                  ("long_edge", long_edge)) if v is not None]
    if len(given) > 1:
        raise SizingError(f"give only one of scale factor, resolution and long edge (got {', '.join(given)})")
    if scale_factor is not None:
        return plan_scale_factor(height, width, scale_factor, output_stride)
    if resolution is not None:
        return plan_resolution(height, width, resolution, output_stride)
    return plan_long_edge(height, width, DEFAULT_LONG_EDGE if long_edge is None else long_edge, output_stride)


def js_round(x: float) -> int:
    """JavaScript's Math.round: halves go up."""
    return math.floor(x + 0.5)
