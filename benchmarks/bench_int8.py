"""int8 on photos it never saw: ../shared/data/coco-keypoints split in two halves (alternate image ids),
each int8 recipe calibrated on one half and evaluated on the other, both directions, against float32 on the
same half; with the CPU time per 641x481 image beside.

    python -m benchmarks.bench_int8            # every recipe (converted models cached in .bench-cache/int8)

    python -m benchmarks.bench_int8 equalis    # only the recipes whose names contain these words

A recipe is a calibration set (which photos, at which long edges, mirrored or not) and the layers kept in
float32 (beside the output heads, always float). AP at the product's defaults with every pose kept
(min pose score 0). The halves are small (37-38 photos, ~97 people): differences under ~0.01 AP are noise,
so each row gives both directions and their mean, and beside them how closely the int8 outputs follow
float32's on the held-out photos, which is far less noisy: the heatmaps' mean absolute difference and the
offsets' (px) where float32's heatmap is over 0.5 (the keypoints decoding reads).
"""

from __future__ import annotations

import hashlib
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import CACHE, bench_net, shared_dir
from posenet_cli.decode import DecoderOptions
from posenet_cli.estimator import PoseNet
from posenet_cli.jobs import JobOptions
from posenet_cli.media.images import read_image
from posenet_cli.models import litert_convert as tflite
from posenet_cli.models.litert_runner import DEFAULT_FLOAT_LAYERS, LiteRTRunner
from posenet_cli.models.signature import INPUT_NAME
from posenet_cli.output.evaluate import load_annotations, score
from posenet_cli.output.records import coco_results
from posenet_cli.sizing import SizingOptions

MODEL = "mobilenet-v1-075"
EVAL = JobOptions(decoder=DecoderOptions(min_pose_score=0.0))  # the defaults, every pose kept
SPEED_INPUT = (481, 641)
BINS = 2048
DEBUG_INPUTS = 6


@dataclass(frozen=True)
class Recipe:
    """How an int8 model is made: calibration at these long edges (mirrored copies too with `flip`), and the
    backbone layers kept in float32 (None: nothing, heads included; "rank:K": the K layers of largest
    quantisation error on the calibration half)."""

    name: str
    edges: tuple[int, ...] = (721,)
    flip: bool = False
    layers: Sequence[int] | str | None = DEFAULT_FLOAT_LAYERS
    int16: bool = False
    ranges: str = "minmax"  # activation ranges: calibration min/max, "p99.99" percentiles, "mse" (clipped_range)
    equalise: bool = False  # cross-layer equalisation of the float model first (`equalised_savedmodel`)


RECIPES = (
    Recipe("default layers (heads + 0,1,3,5,7), calibrated at 721"),
    Recipe("default layers, calibrated at 481/721/961 + mirrored", (481, 721, 961), True),
    Recipe("heads + layers 0-8, calibrated at 481/721/961 + mirrored", (481, 721, 961), True, tuple(range(9))),
    Recipe("default layers, MSE-chosen activation ranges", ranges="mse"),
    Recipe("default layers, 99.99th-percentile activation ranges", ranges="p99.99"),
    Recipe("heads + 6 most sensitive layers (ranked on the calibration half)", (721,), False, "rank:6"),
    Recipe("int16 activations, int8 weights (int16x8), every layer", (721,), False, None, True),
    Recipe("heads + layers 0-8, MSE-chosen activation ranges", (481, 721, 961), True, tuple(range(9)), ranges="mse"),
    Recipe("heads + 10 most sensitive layers (ranked on the calibration half)", (721,), False, "rank:10"),
    Recipe("heads only (every backbone layer int8)", layers=()),
    Recipe("heads only, cross-layer equalised", layers=(), equalise=True),
    Recipe("default layers, cross-layer equalised", equalise=True),
)
WEIGHTS = "models/weights/posenet/mobilenet_v1_075"  # MODEL's checkpoint, for the equalised rebuild
EQUALISE_DW, EQUALISE_CONV, MAX_SCALE = 1.0, 0.5, 32.0  # the exponents of the scales (below) and their cap


@dataclass
class Data:
    truth: Any
    halves: tuple[list[int], list[int]]
    images: dict[int, np.ndarray]


def load_data() -> Data:
    folder = shared_dir() / "data" / "coco-keypoints"
    truth = load_annotations(folder / "person_keypoints.json")
    ids = sorted(truth.getImgIds())
    images = {i: read_image(folder / "images" / truth.imgs[i]["file_name"]) for i in ids}
    return Data(truth, (ids[0::2], ids[1::2]), images)


def calibration(data: Data, ids: list[int], recipe: Recipe) -> list[np.ndarray]:
    """Network inputs [1, h, w, 3] of photos `ids` at each of the recipe's long edges (and mirrored)."""
    out = []
    for i in ids:
        image = data.images[i]
        for edge in recipe.edges:
            x = SizingOptions(long_edge=edge).plan(image.shape[0], image.shape[1], 16).prepare(image)[None]
            out += [x, x[:, :, ::-1].copy()] if recipe.flip else [x]
    return out


def ap(net: PoseNet, data: Data, ids: list[int]) -> float:
    results: list[dict[str, Any]] = []
    for i in ids:
        results += coco_results(i, net.estimate(data.images[i], EVAL.sizing, EVAL.decoder, EVAL.inference))
    return float(score(data.truth, results, ids)["stats"]["AP"])


def _dataset(inputs: list[np.ndarray]) -> Any:
    def dataset() -> Any:
        for x in inputs:
            yield {INPUT_NAME: x}
    return dataset


def sensitive_layers(savedmodel: Path, inputs: list[np.ndarray], k: int) -> list[int]:
    """The `k` backbone layers whose int8 outputs differ most from float32 (RMSE in quantisation steps, each
    layer on its own float input: TensorFlow's QuantizationDebugger) on `inputs` (the first DEBUG_INPUTS of
    one size feed the debugger, which runs TensorFlow's reference kernels)."""
    import warnings

    import tensorflow as tf

    order = tflite.backbone_tensors(tflite.convert_float(savedmodel))
    debug = [x for x in inputs if x.shape == inputs[0].shape][:DEBUG_INPUTS]

    def debug_dataset() -> Any:  # the debugger sets the inputs it is given in order: a list, not a dict
        for x in debug:
            yield [x]

    def rmse_steps(f: np.ndarray, q: np.ndarray, scale: float, zero_point: int) -> float:
        return float(np.sqrt(np.mean((f - (q.astype(np.float32) - zero_point) * scale) ** 2)) / max(scale, 1e-12))

    converter = tflite._converter(savedmodel)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = _dataset(inputs)
    options = tf.lite.experimental.QuantizationDebugOptions(layer_direct_compare_metrics={"rmse": rmse_steps})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        debugger = tf.lite.experimental.QuantizationDebugger(converter=converter, debug_dataset=debug_dataset,
                                                             debug_options=options)
        debugger.run()
    # The debug model renames tensors ("NumericVerify/<op>/ReadVariableOp11:139" for "<op>/ReadVariableOp1"):
    # the part naming the op is what they share.
    layer = {name.split("/")[0]: i for i, name in enumerate(order)}
    stats = {layer[name.removeprefix("NumericVerify/").split("/")[0]]: float(metrics["rmse"])
             for name, metrics in debugger.layer_statistics.items()
             if name.removeprefix("NumericVerify/").split("/")[0] in layer}
    print("layer sensitivity (RMSE in steps):", {i: round(v, 2) for i, v in sorted(stats.items())}, flush=True)
    if not stats:
        raise RuntimeError(f"no debugger statistics matched the backbone: {list(debugger.layer_statistics)[:5]}")
    return sorted(sorted(stats, key=stats.__getitem__, reverse=True)[:k])


def activation_histograms(calibrated: bytes, inputs: list[np.ndarray], ranges: dict[int, tuple[float, float]]
                          ) -> dict[int, np.ndarray]:
    """Per calibrated activation tensor, a histogram (BINS over its calibrated min..max) of its values on
    `inputs`, from LiteRT's builtin kernels with every intermediate tensor kept."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    interpreter = Interpreter(model_content=calibrated, experimental_preserve_all_tensors=True,
                              experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    index = interpreter.get_input_details()[0]["index"]
    counts = {i: np.zeros(BINS, np.int64) for i in ranges}
    shape = None
    for x in inputs:
        if x.shape != shape:
            interpreter.resize_tensor_input(index, list(x.shape), strict=False)
            interpreter.allocate_tensors()
            shape = x.shape
        interpreter.set_tensor(index, x)
        interpreter.invoke()
        for i, (lo, hi) in ranges.items():
            counts[i] += np.histogram(interpreter.get_tensor(i), BINS, (lo, hi))[0]
    return counts


def clipped_range(counts: np.ndarray, lo: float, hi: float, how: str) -> tuple[float, float]:
    """The range to quantise a tensor to, from its histogram over lo..hi: "p<q>" clips each tail beyond the
    q-th percentile; "mse" scales the range by the factor (0.3..1) of least expected squared error (rounding
    inside the range, clipping outside it)."""
    edges = np.linspace(lo, hi, BINS + 1)
    centres = (edges[:-1] + edges[1:]) / 2
    total = counts.sum()
    if total == 0 or hi <= lo:
        return lo, hi
    if how.startswith("p"):
        tail = (1 - float(how[1:]) / 100) * total
        cdf = np.cumsum(counts)
        top = edges[min(np.searchsorted(cdf, total - tail) + 1, BINS)]
        bottom = edges[np.searchsorted(cdf, tail)] if lo < 0 else lo
        return min(bottom, 0.0), max(top, 0.0)
    best, best_error = 1.0, np.inf
    for f in np.linspace(0.3, 1.0, 71):
        a, b = lo * f, hi * f
        step = (b - a) / 255
        outside = np.where(centres > b, centres - b, np.where(centres < a, a - centres, 0.0))
        error = float(np.sum(counts * np.where(outside > 0, outside**2, step**2 / 12)))
        if error < best_error:
            best, best_error = f, error
    return lo * best, hi * best


def quantize_clipped(savedmodel: Path, inputs: list[np.ndarray], layers: Sequence[int], how: str) -> bytes:
    """int8 as `quantize_int8` makes it (these layers and the heads in float32), with each activation's range
    narrowed by `clipped_range` on the histograms of the calibration inputs of the first size."""
    import tensorflow as tf
    from tensorflow.lite.python import convert
    from tensorflow.lite.tools import flatbuffer_utils

    converter = tflite._converter(savedmodel)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = _dataset(inputs)
    converter.experimental_mlir_quantizer = True
    converter._experimental_calibrate_only = True
    calibrated = converter.convert()
    model = flatbuffer_utils.read_model_from_bytearray(bytearray(calibrated))
    tensors = model.subgraphs[0].tensors
    ranges = {i: (float(t.quantization.min[0]), float(t.quantization.max[0])) for i, t in enumerate(tensors)
              if t.quantization is not None and t.quantization.min is not None and len(t.quantization.min) == 1}
    counts = activation_histograms(calibrated, [x for x in inputs if x.shape == inputs[0].shape], ranges)
    for i, (lo, hi) in ranges.items():
        tensors[i].quantization.min, tensors[i].quantization.max = map(list, zip(clipped_range(counts[i], lo, hi,
                                                                                           how)))
    nodes = tflite.float_nodes(tflite.convert_float(savedmodel), layers)
    return convert.mlir_quantize(bytes(flatbuffer_utils.convert_object_to_bytearray(model)),
                                 denylisted_nodes=nodes)


def equalised_savedmodel(inputs: list[np.ndarray], folder: Path) -> Path:
    """MODEL rebuilt from its checkpoint with each backbone layer's output channels rescaled so that every
    channel of an activation tensor spans about the same range (cross-layer equalisation, Nagel et al. 2019),
    written as a SavedModel into `folder`.

    Channel c of layer k is multiplied by s = (6 / r_c) ** e, capped to 1..MAX_SCALE, where r_c is its largest
    value on `inputs` (after ReLU6) and e is EQUALISE_DW when the next layer is depthwise (whose per-channel
    int8 weights absorb 1 / s exactly) or EQUALISE_CONV when it is a convolution (whose input weights shrink
    by 1 / s: a balance between its weights' precision and the activation's); the next layer's input channel
    is divided by s. ReLU6 then clips channel c at 6 / s >= r_c: the float model is unchanged on values seen
    in calibration."""
    import tensorflow as tf

    from posenet_cli.models.network import build_mobilenet_v1, normalize_input
    from posenet_cli.models.savedmodel import export_savedmodel
    from posenet_cli.models.weights import read_checkpoint

    net = build_mobilenet_v1(read_checkpoint(lambda rel: shared_dir() / WEIGHTS / rel), 16)
    peaks = [np.zeros(int(b.shape[0]), np.float32) for _, _, b, _, _ in net.layers]
    for x in inputs:
        layers = net.layer_outputs(normalize_input(tf.constant(x), net.architecture))
        for k, a in enumerate(layers):
            peaks[k] = np.maximum(peaks[k], tf.reduce_max(a, axis=(0, 1, 2)).numpy())
    # What reads each layer's output: the next layer (its kind and weights), or the heads after the last.
    consumers = [(kind, [w]) for kind, w, *_ in net.layers[1:]] + [("heads", [w for w, _ in net.heads])]
    for (kind, w, b, _, _), peak, (next_kind, next_weights) in zip(net.layers, peaks, consumers):
        exponent = EQUALISE_DW if next_kind == "depthwise" else EQUALISE_CONV
        s = np.where(peak > 0, (6.0 / np.maximum(peak, 1e-12)) ** exponent, 1.0)
        s = np.clip(s, 1.0, MAX_SCALE).astype(np.float32)
        # Layouts: a convolution's weights are HWIO (output channels last), a depthwise one's [H, W, C, 1].
        w.assign(w.numpy() * (s[:, None] if kind == "depthwise" else s))
        b.assign(b.numpy() * s)
        for nxt in next_weights:
            nxt.assign(nxt.numpy() / s[:, None])  # input channels: axis 2 of HWIO and of [H, W, C, 1] alike
    export_savedmodel(net, folder, {"output_stride": 16})
    return folder


def fidelity(net: PoseNet, inputs: list[np.ndarray], float_outputs: list[dict[str, np.ndarray]]
             ) -> tuple[float, float]:
    """How closely `net` follows float32 on network `inputs` (`float_outputs`: float32's on them): the
    heatmaps' mean absolute difference, and the offsets' (px) where float32's heatmap is over 0.5."""
    heat, offsets = [], []
    for x, want in zip(inputs, float_outputs):
        got = net.runner(x)
        heat.append(float(np.abs(got["heatmap_scores"] - want["heatmap_scores"]).mean()))
        seen = want["heatmap_scores"] > 0.5  # [1, h, w, 17]; offsets hold 17 y then 17 x channels
        for part in (slice(0, 17), slice(17, 34)):
            offsets += list(np.abs(got["offsets"][..., part][seen] - want["offsets"][..., part][seen]))
    return statistics.fmean(heat), float(np.mean(offsets))


def make(savedmodel: Path, data: Data, ids: list[int], recipe: Recipe, metadata: dict[str, Any]) -> PoseNet:
    """The recipe's int8 model calibrated on photos `ids` (cached by recipe and photos)."""
    key = hashlib.sha256(repr((recipe.edges, recipe.flip, recipe.layers, recipe.int16, ids)
                              + ((recipe.ranges,) if recipe.ranges != "minmax" else ())
                              + (("equalise", EQUALISE_DW, EQUALISE_CONV, MAX_SCALE) if recipe.equalise else ())
                              ).encode()).hexdigest()
    path = CACHE / "int8" / f"{key[:16]}.tflite"
    if not path.is_file():
        inputs = calibration(data, ids, recipe)
        if recipe.equalise:
            savedmodel = equalised_savedmodel(inputs, CACHE / "int8" / f"{key[:16]}-savedmodel")
        layers = recipe.layers
        if isinstance(layers, str):
            layers = sensitive_layers(savedmodel, inputs, int(layers.split(":")[1]))
            path.with_suffix(".layers").parent.mkdir(parents=True, exist_ok=True)
            path.with_suffix(".layers").write_text(",".join(map(str, layers)))
        if recipe.ranges != "minmax":
            data_bytes = quantize_clipped(savedmodel, inputs, layers or (), recipe.ranges)
        else:
            data_bytes = tflite.quantize_int8(savedmodel, inputs, layers, int16=recipe.int16)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data_bytes)
    return PoseNet(runner=LiteRTRunner(path, metadata=metadata))


def cpu_ms(net: PoseNet, calls: int = 10) -> float:
    image = np.random.default_rng(0).uniform(0, 255, (1, *SPEED_INPUT, 3)).astype(np.float32)
    net.runner(image)
    times = []
    for _ in range(3):
        c = time.process_time()
        for _ in range(calls):
            net.runner(image)
        times.append((time.process_time() - c) / calls * 1e3)
    return statistics.median(times)


def run(words: Sequence[str] = ()) -> list[dict[str, Any]]:
    """A row per recipe (those whose names contain one of `words`; all without)."""
    data = load_data()
    float_net = bench_net(MODEL, 16, "litert")[0]
    savedmodel = Path(float_net.runner.metadata["savedmodel"])
    base = [ap(float_net, data, half) for half in data.halves]
    base_cpu = cpu_ms(float_net)
    rows = [{"model": "LiteRT float32", "AP on B (cal. A)": f"{base[1]:.3f}", "AP on A (cal. B)": f"{base[0]:.3f}",
             "CPU ms/image": f"{base_cpu:.1f}"}]
    print(rows[-1], flush=True)
    held_out = [calibration(data, data.halves[1 - k], Recipe("")) for k in (0, 1)]  # the other half, at 721
    held_out_float = [[float_net.runner(x) for x in inputs] for inputs in held_out]
    for recipe in [r for r in RECIPES if not words or any(w in r.name for w in words)]:
        try:
            nets = [make(savedmodel, data, data.halves[k], recipe, float_net.runner.metadata) for k in (0, 1)]
        except Exception as e:  # noqa: BLE001 - a recipe the converter cannot make is a row too
            rows.append({"model": recipe.name, "AP on B (cal. A)": f"failed: {str(e).splitlines()[0][:80]}"})
            print(rows[-1], flush=True)
            continue
        got = [ap(nets[0], data, data.halves[1]), ap(nets[1], data, data.halves[0])]
        delta = [got[0] - base[1], got[1] - base[0]]
        close = [fidelity(net, inputs, want) for net, inputs, want in zip(nets, held_out, held_out_float)]
        ms = cpu_ms(nets[0])  # float32 timed again right after, so the machine's load weighs on both alike
        rows.append({"model": recipe.name, "AP on B (cal. A)": f"{got[0]:.3f} ({delta[0]:+.3f})",
                     "AP on A (cal. B)": f"{got[1]:.3f} ({delta[1]:+.3f})",
                     "mean change": f"{statistics.mean(delta):+.3f}",
                     "heatmap diff B / A": f"{close[0][0]:.4f} / {close[1][0]:.4f}",
                     "offset diff px B / A": f"{close[0][1]:.2f} / {close[1][1]:.2f}",
                     "CPU ms/image": f"{ms:.1f}", "CPU speed-up": f"{cpu_ms(float_net) / ms:.2f}x"})
        print(rows[-1], flush=True)
    return rows


if __name__ == "__main__":
    from benchmarks.common import print_table

    print_table("int8 on held-out photos (coco-keypoints halves A/B)", run(sys.argv[1:]))
