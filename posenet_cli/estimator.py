"""The Python API: `PoseNet(model).estimate_single_pose(image)` / `.estimate_multiple_poses(image)`.

This is the one core the CLI commands call: sizing, the model runner and the decoders in one place.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .decode import decode_multiple_poses, decode_single_pose
from .pose import Pose
from .sizing import InputPlan, make_plan

if TYPE_CHECKING:
    from .savedmodel import ModelRunner


@dataclass(frozen=True)
class Sizing:
    """How images are sized for the network: one of scale_factor, resolution, long_edge (default 641)."""

    scale_factor: float | None = None
    resolution: str | int | tuple[int, int] | None = None
    long_edge: int | None = None

    def plan(self, height: int, width: int, output_stride: int) -> InputPlan:
        return make_plan(height, width, output_stride, scale_factor=self.scale_factor,
                         resolution=self.resolution, long_edge=self.long_edge)


@dataclass(frozen=True)
class MultiPoseParams:
    """The multi-pose decoder's settings (tfjs defaults)."""

    max_detections: int = 5
    score_threshold: float = 0.5
    nms_radius: float = 20.0
    refine_steps: int = 2


class PoseNet:
    """A PoseNet model ready to estimate poses on RGB (or BGR, with `bgr=True`) numpy images.

    >>> net = PoseNet("mobilenet-v1-075", output_stride=16)
    >>> pose = net.estimate_single_pose(image, scale_factor=0.5)
    >>> poses = net.estimate_multiple_poses(image, max_detections=5)
    """

    def __init__(
        self,
        model: str = "mobilenet-v1-075",
        output_stride: int = 16,
        *,
        cache_dir: str | Path | None = None,
        base_url: str | None = None,
        runner: ModelRunner | None = None,
    ) -> None:
        if runner is None:
            from .registry import create_model

            runner = create_model(model, output_stride, cache_dir=cache_dir, base_url=base_url)
        self.runner = runner
        self.output_stride = runner.output_stride

    def infer(self, image: np.ndarray, sizing: Sizing, bgr: bool = False) -> tuple[InputPlan, dict[str, np.ndarray]]:
        """Run the network on one image: the input plan and the four output tensors (batch dim removed)."""
        image = as_rgb(image, bgr)
        plan = sizing.plan(image.shape[0], image.shape[1], self.output_stride)
        outputs = self.runner(plan.prepare(image)[None])
        return plan, {k: v[0] for k, v in outputs.items()}

    def decode(
        self,
        plan: InputPlan,
        outputs: dict[str, np.ndarray],
        multi: MultiPoseParams | None,
        flip_horizontal: bool = False,
    ) -> list[Pose]:
        """Decode one image's outputs into poses in image pixels (single pose when `multi` is None)."""
        if multi is None:
            poses = [decode_single_pose(outputs["heatmap_scores"], outputs["offsets"], self.output_stride)]
        else:
            poses = decode_multiple_poses(
                outputs["heatmap_scores"], outputs["offsets"], outputs["displacement_fwd"],
                outputs["displacement_bwd"], self.output_stride, max_detections=multi.max_detections,
                score_threshold=multi.score_threshold, nms_radius=multi.nms_radius,
                refine_steps=multi.refine_steps,
            )
        return [plan.to_image(p, flip_horizontal) for p in poses]

    def estimate(
        self,
        image: np.ndarray,
        sizing: Sizing = Sizing(),
        multi: MultiPoseParams | None = None,
        *,
        flip_horizontal: bool = False,
        bgr: bool = False,
    ) -> list[Pose]:
        """Poses in one image: [the single pose] without `multi`, else the multi-pose decoder's list."""
        plan, outputs = self.infer(image, sizing, bgr)
        return self.decode(plan, outputs, multi, flip_horizontal)

    def estimate_single_pose(
        self,
        image: np.ndarray,
        scale_factor: float | None = None,
        flip_horizontal: bool = False,
        *,
        resolution: str | int | tuple[int, int] | None = None,
        long_edge: int | None = None,
        bgr: bool = False,
    ) -> Pose:
        """The single best pose (arg-max decoding). Sizing: scale_factor, resolution or long_edge (641)."""
        sizing = Sizing(scale_factor, resolution, long_edge)
        return self.estimate(image, sizing, None, flip_horizontal=flip_horizontal, bgr=bgr)[0]

    def estimate_multiple_poses(
        self,
        image: np.ndarray,
        max_detections: int = 5,
        score_threshold: float = 0.5,
        nms_radius: float = 20.0,
        resolution: str | int | tuple[int, int] | None = None,
        *,
        scale_factor: float | None = None,
        long_edge: int | None = None,
        flip_horizontal: bool = False,
        refine_steps: int = 2,
        bgr: bool = False,
    ) -> list[Pose]:
        """Up to `max_detections` poses, in the order the decoder accepted them."""
        sizing = Sizing(scale_factor, resolution, long_edge)
        multi = MultiPoseParams(max_detections, score_threshold, nms_radius, refine_steps)
        return self.estimate(image, sizing, multi, flip_horizontal=flip_horizontal, bgr=bgr)


def as_rgb(image: np.ndarray, bgr: bool = False) -> np.ndarray:
    """A 3-channel RGB view of an image given as [H, W], [H, W, 1|3|4] (RGB, or BGR(A) with bgr=True)."""
    image = np.asarray(image)
    if image.ndim == 2:
        image = image[:, :, None]
    if image.ndim != 3 or image.shape[2] not in (1, 3, 4):
        raise ValueError(f"expected an image of shape [H, W, 3], got {image.shape}")
    if image.shape[2] == 1:
        return np.repeat(image, 3, axis=2)
    image = image[:, :, :3]
    return image[:, :, ::-1] if bgr else image
