"""SavedModel -> `.tflite` for the LiteRT runtime, with TensorFlow's converter: float32, or int8.

Only LiteRT's builtin ops are allowed (no TensorFlow ops inside), so LiteRT alone runs the result. The
dynamic signature is kept ([-1, -1, -1, 3] in), so one file serves every input size.

int8 is full-integer quantisation (int8 weights per channel, int8 activations) calibrated on network inputs
the caller gives, with float32 input and outputs. Not every layer takes it equally well: the output heads
(offsets and displacements span hundreds of pixels) and the first, high-resolution backbone layers lose
the most (docs/benchmarks.md, "int8"); `float_layers` keeps the heads and the backbone layers it names in
float32, at some cost in speed.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

from ..errors import first_line
from .base import ModelError
from .litert_runner import DEFAULT_FLOAT_LAYERS
from .signature import INPUT_NAME, SIGNATURE_KEY


class ConversionError(ModelError):
    """A SavedModel TensorFlow's converter cannot turn into a LiteRT model."""


def _converter(savedmodel: Path) -> Any:
    tf.get_logger().setLevel("ERROR")
    converter = tf.lite.TFLiteConverter.from_saved_model(str(savedmodel), signature_keys=[SIGNATURE_KEY])
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]  # no TensorFlow ops: LiteRT alone
    return converter


def _convert(make: Callable[[], bytes], savedmodel: Path) -> bytes:
    try:
        return make()
    except (ValueError, RuntimeError, tf.errors.OpError, ImportError) as e:  # the converter's own errors
        raise ConversionError(f"cannot convert {savedmodel} for LiteRT: {first_line(e)}") from None


def convert_float(savedmodel: Path) -> bytes:
    """The float32 `.tflite` of a SavedModel with the PoseNet signature."""
    return _convert(_converter(savedmodel).convert, savedmodel)


def quantize_int8(savedmodel: Path, inputs: Iterable[np.ndarray],
                  float_layers: Sequence[int] | None = DEFAULT_FLOAT_LAYERS, float_model: bytes | None = None,
                  *, int16: bool = False) -> bytes:
    """The int8 `.tflite` of a SavedModel, calibrated on `inputs` (float32 network inputs [h, w, 3] or
    [1, h, w, 3], as sizing prepares them). `float_layers`: None quantises every layer; a list keeps the four
    output heads, the sigmoid and those backbone layers (`float_nodes`) in float32, found in `float_model`
    (the float32 `.tflite`; converted here when not given). `int16`: 16-bit activations (int16x8) in every
    layer instead (`float_layers` is then not used)."""
    samples = [np.asarray(x, np.float32).reshape(1, *np.shape(x)[-3:]) for x in inputs]
    if not samples:
        raise ModelError("int8 quantisation needs at least one calibration image")

    def dataset() -> Any:
        for x in samples:
            yield {INPUT_NAME: x}

    converter = _converter(savedmodel)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = dataset
    if int16:  # the whole model: the debugger's quantiser (which keeps layers in float) is int8 only
        ops = tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8
        converter.target_spec.supported_ops = [ops]
        return _convert(converter.convert, savedmodel)
    if float_layers is None:
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        return _convert(converter.convert, savedmodel)
    nodes = float_nodes(float_model or convert_float(savedmodel), float_layers)
    with warnings.catch_warnings():  # the debugger runs TensorFlow's own (deprecated) interpreter, and says so
        warnings.simplefilter("ignore", UserWarning)
        debugger = tf.lite.experimental.QuantizationDebugger(
            converter=converter, debug_dataset=dataset,
            debug_options=tf.lite.experimental.QuantizationDebugOptions(denylisted_nodes=nodes))
        return _convert(debugger.get_nondebug_quantized_model, savedmodel)


def _graph(float_model: bytes) -> tuple[dict[int, str], list[dict[str, Any]], list[dict[str, Any]]]:
    """Tensor names, ops, and the four head convolutions of a PoseNet `.tflite`."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=float_model)
    names = {t["index"]: t["name"] for t in interpreter.get_tensor_details()}
    ops = interpreter._get_ops_details()
    sigmoid = [op for op in ops if op["op_name"] == "LOGISTIC"]
    if len(sigmoid) != 1:
        raise ModelError(f"expected one sigmoid (the heatmap's) in the model, found {len(sigmoid)}")
    heatmap = next(op for op in ops if list(op["outputs"]) == [sigmoid[0]["inputs"][0]])
    features = heatmap["inputs"][0]
    heads = [op for op in ops if op["op_name"] == "CONV_2D" and op["inputs"][0] == features]
    if len(heads) != 4:
        raise ModelError(f"expected 4 output heads reading the backbone's features, found {len(heads)}")
    return names, ops, [*heads, *sigmoid]


def _backbone(ops: list[dict[str, Any]], heads: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [op for op in ops if op["op_name"] in ("CONV_2D", "DEPTHWISE_CONV_2D") and op not in heads]


def backbone_tensors(float_model: bytes) -> list[str]:
    """The output tensor names of the backbone convolutions, in the order they run (see `float_nodes`)."""
    names, ops, heads = _graph(float_model)
    return [names[op["outputs"][0]] for op in _backbone(ops, heads)]


def float_nodes(float_model: bytes, backbone_layers: Sequence[int]) -> list[str]:
    """The output tensor names of the ops to keep in float32: the head convolutions (the ones reading the same
    features as the convolution under the sigmoid), the sigmoid, and the backbone convolutions at
    `backbone_layers` in the order they run (MobileNet: 0 Conv2d_0, 1 Conv2d_1_depthwise, 2 Conv2d_1_pointwise,
    3 Conv2d_2_depthwise, ...). Found by graph structure, not by channel counts (a backbone layer may have as
    many channels as a head)."""
    names, ops, heads = _graph(float_model)
    backbone = _backbone(ops, heads)
    if any(not 0 <= i < len(backbone) for i in backbone_layers):
        raise ModelError(f"backbone layers to keep in float32 must be 0..{len(backbone) - 1}")
    return [names[op["outputs"][0]] for op in [*heads, *(backbone[i] for i in backbone_layers)]]
