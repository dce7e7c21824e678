"""The Python API: `PoseNet(model).estimate_single_pose(image)` / `.estimate_multiple_poses(image)`.

This is the one core the commands call: sizing, the model runner and the decoders in one place.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

from .decode import TFJS_MULTI, DecoderOptions
from .inference import InferenceOptions
from .models import DEFAULT_MODEL, LoadOptions, create_model
from .pose import Pose
from .sizing import InputPlan, SizingOptions

if TYPE_CHECKING:
    from typing_extensions import Unpack  # typing's own from Python 3.11

    from .models.backend import Runner


class PoseNet:
    """A PoseNet model ready to estimate poses on RGB (or BGR, with `bgr=True`) numpy images.

    `model` is a name from `posenet models list`, a tfjs model folder/URL, or a SavedModel folder; the
    output stride is 16 unless given (a SavedModel's own, for a SavedModel). `backend`: "auto" (LiteRT where
    it is installed, else TensorFlow), "litert" or "tensorflow"; `int8`: the int8 LiteRT model made by
    `posenet models quantize`; `threads`: the runtime's threads.

    >>> net = PoseNet("mobilenet-v1-075", output_stride=16)
    >>> pose = net.estimate_single_pose(image, scale_factor=0.5)
    >>> poses = net.estimate_multiple_poses(image, max_detections=5)
    """

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        output_stride: int | None = None,
        *,
        runner: Runner | None = None,
        **load: Unpack[LoadOptions],
    ) -> None:
        """`load`: `create_model`'s options (cache_dir, base_url, backend, int8, threads, reporter); `runner`:
        an already built runner instead (model, stride and `load` are then not used)."""
        if runner is None:
            runner = create_model(model, output_stride, **load)
        self.runner = runner
        self.output_stride = runner.output_stride

    def infer(self, image: np.ndarray, sizing: SizingOptions, bgr: bool = False,
              inference: InferenceOptions = InferenceOptions()) -> tuple[InputPlan, dict[str, np.ndarray]]:
        """Run the network on one image: the plan to decode with and the four output tensors (batch dim
        removed), fused from every view `inference` asks for onto its grid (the network's own by default)."""
        image = as_rgb(image, bgr)
        plans = inference.plans(sizing, image.shape[0], image.shape[1], self.output_stride)
        outputs = inference.run(self.runner, [plan.prepare(image)[None] for plan in plans])
        return inference.fuse(plans, [{k: v[0] for k, v in o.items()} for o in outputs], self.output_stride)

    def decode(self, plan: InputPlan, outputs: dict[str, np.ndarray], decoder: DecoderOptions,
               grid_stride: int | None = None) -> list[Pose]:
        """Decode one image's outputs into the poses `decoder` keeps, in image pixels. `grid_stride`: the
        outputs' grid (InferenceOptions.grid_stride), the network's output stride unless they were fused
        onto a finer one."""
        stride = grid_stride or self.output_stride
        return decoder.keep([plan.to_image(p, decoder.mirror) for p in decoder.decode(outputs, stride)])

    def estimate(self, image: np.ndarray, sizing: SizingOptions = SizingOptions(),
                 decoder: DecoderOptions = DecoderOptions(), inference: InferenceOptions = InferenceOptions(), *,
                 bgr: bool = False) -> list[Pose]:
        """Poses in one image: [the single pose] for the single-pose decoder, else the multi-pose list.
        `inference=ACCURATE` (posenet_cli.inference) is the command line's --accurate."""
        plan, outputs = self.infer(image, sizing, bgr, inference)
        return self.decode(plan, outputs, decoder, inference.grid_stride(self.output_stride))

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
        """The single best pose (arg-max decoding). Sizing: scale_factor, resolution or long_edge (default)."""
        sizing = SizingOptions(scale_factor, resolution, long_edge)
        decoder = DecoderOptions(multi=False, min_pose_score=0.0, mirror=flip_horizontal)
        return self.estimate(image, sizing, decoder, bgr=bgr)[0]

    def estimate_multiple_poses(
        self,
        image: np.ndarray,
        max_detections: int = TFJS_MULTI.max_poses,
        score_threshold: float = TFJS_MULTI.score_threshold,
        nms_radius: float = TFJS_MULTI.nms_radius,
        resolution: str | int | tuple[int, int] | None = None,
        *,
        scale_factor: float | None = None,
        long_edge: int | None = None,
        flip_horizontal: bool = False,
        refine_steps: int = TFJS_MULTI.refine_steps,
        bgr: bool = False,
    ) -> list[Pose]:
        """Up to `max_detections` poses, in the order the decoder accepted them (tfjs's call and defaults; the
        commands' defaults are DecoderOptions())."""
        sizing = SizingOptions(scale_factor, resolution, long_edge)
        decoder = replace(TFJS_MULTI, max_poses=max_detections, score_threshold=score_threshold,
                          nms_radius=nms_radius, refine_steps=refine_steps, mirror=flip_horizontal)
        return self.estimate(image, sizing, decoder, bgr=bgr)


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
