"""MobileNetV1 PoseNet built in TensorFlow from 1.x checkpoint weights, and the module shape all models share.

Every model (this one and the graph-model importer's) is a `PoseNetModule`: a `tf.Module` whose `serve`
tf.function takes float32 RGB images 0..255 `[batch, height, width, 3]` (any size, dynamic batch) and
returns the four output maps, with the input normalisation and the heatmap sigmoid inside the graph.
That is the serving signature `savedmodel.export_savedmodel` writes.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import numpy as np
import tensorflow as tf

from .base import StrideError, check_stride
from .signature import INPUT_NAME, OUTPUT_CHANNELS, OUTPUT_NAMES
from .weights import WeightsError

RESNET_MEAN_OFFSET = (-123.15, -115.90, -103.06)  # added to RGB 0..255 before ResNet50
# Whether `serve` is compiled with XLA: off, since on CPU it ran slower than TensorFlow's own kernels and
# compiles again for every new input shape (the measurements: docs/benchmarks.md, "XLA").
JIT_COMPILE = False

# MobileNetV1 body after Conv2d_0 (stride 2): the 13 depthwise-separable blocks' strides (1.00 / 1.01).
# 0.50 and 0.75 run block 12 at stride 1 too; `_block_strides` reads that from the weights' shapes.
_BLOCK_STRIDES = (1, 2, 1, 2, 1, 2, 1, 1, 1, 1, 1, 2, 1)
_HEADS = ("heatmap_2", "offset_2", "displacement_fwd_2", "displacement_bwd_2")
_MULTIPLIERS = {16: 0.50, 24: 0.75, 32: 1.00}  # Conv2d_0 output channels -> depth multiplier


def normalize_input(images: tf.Tensor, architecture: str) -> tf.Tensor:
    """RGB 0..255 -> what the network was trained on: MobileNet [-1, 1], ResNet50 mean-shifted pixels."""
    if architecture == "resnet50":
        return images + tf.constant(RESNET_MEAN_OFFSET, tf.float32)
    return images / 127.5 - 1.0


class PoseNetModule(tf.Module):
    """A PoseNet network with the project's serving signature (see the module docstring).

    Subclasses implement `forward(normalized) -> (heatmap_logits, offsets, displacement_fwd,
    displacement_bwd)` on NHWC float32 tensors.
    """

    def __init__(self, architecture: str, output_stride: int, multiplier: float | None, name: str | None = None):
        super().__init__(name=name)
        self.architecture = architecture
        self.output_stride = output_stride
        self.multiplier = multiplier
        self.serve = tf.function(
            self._serve,
            input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32, name=INPUT_NAME)],
            jit_compile=JIT_COMPILE,
            autograph=False,  # plain Python over static structure; nothing for autograph to convert
        )

    def forward(self, x: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor]:
        raise NotImplementedError

    def _serve(self, image: tf.Tensor) -> dict[str, tf.Tensor]:
        heatmap, offsets, fwd, bwd = self.forward(normalize_input(image, self.architecture))
        # The names of these Identity ops are what a reader of the SavedModel sees in its graph.
        return {
            "heatmap_scores": tf.sigmoid(heatmap, name="heatmap_scores"),
            "offsets": tf.identity(offsets, name="offsets"),
            "displacement_fwd": tf.identity(fwd, name="displacement_fwd"),
            "displacement_bwd": tf.identity(bwd, name="displacement_bwd"),
        }

    def describe(self) -> dict[str, Any]:
        """What export writes into the SavedModel's metadata about this network."""
        return {"architecture": self.architecture, "output_stride": self.output_stride,
                "multiplier": self.multiplier}

    def __call__(self, images: np.ndarray | tf.Tensor) -> dict[str, np.ndarray]:
        """Run on a batch of RGB 0..255 images (float32 NHWC); numpy outputs. Handy before export."""
        return {k: v.numpy() for k, v in self.serve(tf.convert_to_tensor(images, tf.float32)).items()}


def depthwise_conv(x: tf.Tensor, w: tf.Tensor, strides: tuple[int, int], padding: str,
                   dilations: tuple[int, int] = (1, 1)) -> tf.Tensor:
    """A depthwise convolution (NHWC, filter [h, w, in, multiplier]). A dilated one is the native op with its
    dilation, not tf.nn's space-to-batch rewrite: that rewrite computes paddings from the dynamic input
    shape, which LiteRT runs as extra shape ops, slower, and TensorFlow's CPU kernel runs the native op
    faster too (the measurements: docs/benchmarks.md, "Runtimes")."""
    if dilations == (1, 1):
        return tf.nn.depthwise_conv2d(x, w, [1, *strides, 1], padding)
    return tf.raw_ops.DepthwiseConv2dNative(input=x, filter=w, strides=[1, *strides, 1], padding=padding,
                                            dilations=[1, *dilations, 1])


def _var(value: np.ndarray, name: str) -> tf.Variable:
    # Non-trainable variables: stored once in the SavedModel's variables/ and shared by every trace.
    return tf.Variable(np.ascontiguousarray(value, np.float32), trainable=False, name=re.sub(r"[^\w]", "_", name))


def infer_multiplier(weights: dict[str, np.ndarray]) -> float:
    """The depth multiplier from Conv2d_0's output channels; 1.01 when the extra 1.01 heads are present."""
    first = weights.get("MobilenetV1/Conv2d_0/weights")
    if first is None:
        raise WeightsError("not MobileNetV1 checkpoint weights: no variable MobilenetV1/Conv2d_0/weights")
    channels = first.shape[-1] if first.ndim == 4 else -1
    if channels not in _MULTIPLIERS:
        raise WeightsError(f"MobilenetV1/Conv2d_0/weights has shape {list(first.shape)}; expected [3, 3, 3, C] "
                           f"with C in {sorted(_MULTIPLIERS)} (multipliers 0.50, 0.75, 1.00/1.01)")
    multiplier = _MULTIPLIERS[channels]
    if multiplier == 1.00 and any(k.startswith(("MobilenetV1/partheat", "MobilenetV1/segment")) for k in weights):
        multiplier = 1.01
    return multiplier


def _get(weights: dict[str, np.ndarray], key: str, shape: tuple[int | None, ...]) -> np.ndarray:
    """A checkpoint variable, checked against the expected shape (None: any size there)."""
    value = weights.get(f"MobilenetV1/{key}")
    if value is None:
        raise WeightsError(f"MobileNetV1 checkpoint lacks variable MobilenetV1/{key}")
    if value.ndim != len(shape) or any(e is not None and e != d for e, d in zip(shape, value.shape)):
        want = ["*" if e is None else e for e in shape]
        raise WeightsError(f"MobilenetV1/{key} has shape {list(value.shape)}, expected {want}")
    return value


def _block_strides(weights: dict[str, np.ndarray]) -> list[int]:
    """Strides of blocks 1..13. Block 12 is stride 2 only where it widens the channels (1.00/1.01)."""
    strides = list(_BLOCK_STRIDES)
    pw12 = _get(weights, "Conv2d_12_pointwise/weights", (1, 1, None, None))
    if pw12.shape[3] == pw12.shape[2]:
        strides[11] = 1
    return strides


def _layer_plan(strides: list[int], output_stride: int) -> list[tuple[int, int]]:
    """(stride, dilation rate) per layer: once `output_stride` is reached, later stride-2 layers run at
    stride 1 with a dilation equal to the product of the strides skipped so far (atrous convolution)."""
    plan, current, rate = [], 1, 1
    for s in strides:
        if current == output_stride:
            plan.append((1, rate))
            rate *= s
        else:
            plan.append((s, 1))
            current *= s
    return plan


class MobileNetV1(PoseNetModule):
    """PoseNet's MobileNetV1 at a chosen output stride, from 1.x checkpoint variables."""

    def __init__(self, weights: dict[str, np.ndarray], output_stride: int):
        multiplier = infer_multiplier(weights)
        check_stride(output_stride)
        strides = [2, *_block_strides(weights)]
        native = int(np.prod(strides))
        if output_stride > native:
            raise StrideError(
                f"MobileNetV1 {multiplier:.2f} supports output strides up to {native} (its layers after "
                f"Conv2d_6 keep stride 1); output stride {output_stride} needs multiplier 1.00 or 1.01"
            )
        super().__init__("mobilenet_v1", output_stride, multiplier, name="mobilenet_v1")
        plan = _layer_plan(strides, output_stride)
        self.layer_plan = tuple(plan)  # (stride, dilation) per layer, Conv2d_0 first
        w0 = _get(weights, "Conv2d_0/weights", (3, 3, 3, None))
        channels = w0.shape[3]
        # Each layer: (kind, weights, bias, stride, rate). Conv weights are HWIO; depthwise are
        # [3, 3, C, 1] (HW, in-channels, channel multiplier), as depthwise convolutions want.
        self.layers: list[tuple[str, tf.Variable, tf.Variable, int, int]] = [
            ("conv", _var(w0, "Conv2d_0_weights"), _var(_get(weights, "Conv2d_0/biases", (channels,)),
                                                           "Conv2d_0_biases"), *plan[0])
        ]
        for i in range(1, 14):
            dw = _get(weights, f"Conv2d_{i}_depthwise/depthwise_weights", (3, 3, channels, 1))
            db = _get(weights, f"Conv2d_{i}_depthwise/biases", (channels,))
            pw = _get(weights, f"Conv2d_{i}_pointwise/weights", (1, 1, channels, None))
            out = pw.shape[3]
            pb = _get(weights, f"Conv2d_{i}_pointwise/biases", (out,))
            self.layers.append(("depthwise", _var(dw, f"Conv2d_{i}_dw"), _var(db, f"Conv2d_{i}_dw_b"), *plan[i]))
            self.layers.append(("pointwise", _var(pw, f"Conv2d_{i}_pw"), _var(pb, f"Conv2d_{i}_pw_b"), 1, 1))
            channels = out
        self.heads: list[tuple[tf.Variable, tf.Variable]] = []
        for head, name in zip(_HEADS, OUTPUT_NAMES):
            k = OUTPUT_CHANNELS[name]
            self.heads.append((_var(_get(weights, f"{head}/weights", (1, 1, channels, k)), f"{head}_weights"),
                               _var(_get(weights, f"{head}/biases", (k,)), f"{head}_biases")))

    def layer_outputs(self, x: tf.Tensor) -> Iterator[tf.Tensor]:
        """Each backbone layer's output (after its ReLU6), Conv2d_0 first, for a normalized input."""
        for kind, w, b, stride, rate in self.layers:
            if kind == "depthwise":
                x = depthwise_conv(x, w, (stride, stride), "SAME", (rate, rate))
            else:
                x = tf.nn.conv2d(x, w, stride, "SAME")
            x = tf.nn.relu6(tf.nn.bias_add(x, b))
            yield x

    def forward(self, x: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor]:
        *_, x = self.layer_outputs(x)
        heatmap, offsets, fwd, bwd = (tf.nn.bias_add(tf.nn.conv2d(x, w, 1, "SAME"), b) for w, b in self.heads)
        return heatmap, offsets, fwd, bwd


def build_mobilenet_v1(weights: dict[str, np.ndarray], output_stride: int) -> MobileNetV1:
    """PoseNet MobileNetV1 (multiplier inferred from the weights' shapes) at output stride 8, 16 or 32.

    Raises ValueError for a stride the network cannot reach (32 on 0.50/0.75) and WeightsError for
    missing or mis-shaped variables.
    """
    return MobileNetV1(weights, output_stride)
