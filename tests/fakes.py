"""Fake PoseNet weights written in the official file formats, for models whose real weights are not here.

- `write_checkpoint`: a 1.x checkpoint folder (manifest.json + one raw float32 file per variable) with
  random values of the shapes an official manifest gives (MobileNet 1.00 / 1.01).
- `GraphBuilder` + `write_graph_model`: a 2.x graph model (model JSON with modelTopology + weightsManifest,
  binary shards), float32 or uint8/uint16-quantised, split over several shards.
- `resnet_graph`: a small ResNet-like PoseNet graph built like the real ResNet50 one (7x7 stem, max pool,
  bottleneck units with projection shortcuts and AddV2, 1x1 heads named resnet_v1_50/<head>_2/BiasAdd,
  outputs in the ResNet order fwd, bwd, offsets, heatmap), fused (_FusedConv2D) or not.

Random weights are He-scaled, so activations neither vanish nor blow up through the network (ReLU6 bounds
them too): outputs vary across the grid and stay finite.
"""

from __future__ import annotations

import base64
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

# ----------------------------------------------------------------------------------------------------
# 1.x checkpoints


def random_like_manifest(manifest: dict[str, Any], seed: int = 0, damping: float = 1.0) -> dict[str, np.ndarray]:
    """Random float32 values for every variable of a 1.x manifest (name -> {filename, shape})."""
    rng = np.random.default_rng(seed)
    out = {}
    for name, entry in manifest.items():
        shape = tuple(entry["shape"])
        if len(shape) == 4:
            fan_in = shape[0] * shape[1] * (1 if "depthwise" in name else shape[2])
            value = rng.normal(0.0, damping * math.sqrt(2.0 / fan_in), shape)
        else:
            value = rng.normal(0.0, 0.1, shape)
        out[name] = value.astype(np.float32)
    return out


def write_checkpoint(folder: Path, manifest: dict[str, Any], values: dict[str, np.ndarray]) -> Path:
    """A 1.x checkpoint folder: manifest.json and each variable as raw little-endian float32."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2))
    for name, entry in manifest.items():
        (folder / entry["filename"]).write_bytes(np.asarray(values[name], "<f4").tobytes())
    return folder


def fake_checkpoint(folder: Path, manifest_path: Path, seed: int = 0) -> dict[str, np.ndarray]:
    """Write random weights of `manifest_path`'s shapes into `folder`; returns the values written."""
    manifest = json.loads(Path(manifest_path).read_text())
    values = random_like_manifest(manifest, seed)
    write_checkpoint(folder, manifest, values)
    return values


# ----------------------------------------------------------------------------------------------------
# 2.x graph models


def attr_s(text: str) -> dict[str, str]:
    return {"s": base64.b64encode(text.encode()).decode()}


def attr_ints(values: list[int]) -> dict[str, Any]:
    return {"list": {"i": [str(v) for v in values]}}


def attr_strs(values: list[str]) -> dict[str, Any]:
    return {"list": {"s": [base64.b64encode(v.encode()).decode() for v in values]}}


_FLOAT = {"type": "DT_FLOAT"}


class GraphBuilder:
    """Writes TF.js graph-model JSON nodes (the GraphDef-in-JSON form the converter emits)."""

    def __init__(self, input_name: str = "sub_2", input_shape: tuple[int, ...] = (1, -1, -1, 3), seed: int = 0):
        self.rng = np.random.default_rng(seed)
        self.nodes: list[dict[str, Any]] = []
        self.weights: dict[str, np.ndarray] = {}
        self.input = input_name
        self.nodes.append({"name": input_name, "op": "Placeholder", "attr": {
            "dtype": _FLOAT, "shape": {"shape": {"dim": [{"size": str(d)} for d in input_shape]}}}})

    def const(self, name: str, value: np.ndarray) -> str:
        value = np.asarray(value)
        dtype = {np.dtype(np.float32): "DT_FLOAT", np.dtype(np.int32): "DT_INT32"}[value.dtype]
        self.weights[name] = value
        self.nodes.append({"name": name, "op": "Const", "attr": {
            "dtype": {"type": dtype},
            "value": {"tensor": {"dtype": dtype, "tensorShape": {"dim": [{"size": str(d)} for d in value.shape]}}}}})
        return name

    def op(self, name: str, op: str, inputs: list[str], **attr: Any) -> str:
        self.nodes.append({"name": name, "op": op, "input": inputs, "attr": {"T": _FLOAT, **attr}})
        return name

    def random_conv(self, k: int, cin: int, cout: int, depthwise: bool = False,
                    damping: float = 0.7) -> tuple[np.ndarray, np.ndarray]:
        shape = (k, k, cin, 1) if depthwise else (k, k, cin, cout)
        fan_in = k * k * (1 if depthwise else cin)
        w = self.rng.normal(0, damping * math.sqrt(2.0 / fan_in), shape).astype(np.float32)
        b = self.rng.normal(0, 0.05, (cin if depthwise else cout,)).astype(np.float32)
        return w, b

    def conv(self, name: str, x: str, w: np.ndarray, b: np.ndarray, *, stride: int = 1, dilation: int = 1,
             act: str | None = "Relu", fused: bool = True, depthwise: bool = False) -> str:
        """Conv (+ bias, + activation), as one fused node or as the plain TF nodes. Returns the output node."""
        wname = self.const(f"{name}/weights", w)
        bname = self.const(f"{name}/biases", b)
        attr = {"strides": attr_ints([1, stride, stride, 1]), "dilations": attr_ints([1, dilation, dilation, 1]),
                "padding": attr_s("SAME"), "data_format": attr_s("NHWC")}
        if not depthwise:
            attr |= {"explicit_paddings": {"list": {}}, "use_cudnn_on_gpu": {"b": True}}
        if fused:
            op = "FusedDepthwiseConv2dNative" if depthwise else "_FusedConv2D"
            ops = ["BiasAdd"] + ([act] if act else [])
            return self.op(name, op, [x, wname, bname], fused_ops=attr_strs(ops), num_args={"i": "1"},
                           epsilon={"f": 0.0}, **attr)
        conv = self.op(f"{name}/conv", "DepthwiseConv2dNative" if depthwise else "Conv2D", [x, wname], **attr)
        out = self.op(f"{name}/BiasAdd" if act else name, "BiasAdd", [conv, bname], data_format=attr_s("NHWC"))
        return self.op(name, act, [out]) if act else out

    def max_pool(self, name: str, x: str, k: int = 3, stride: int = 2) -> str:
        return self.op(name, "MaxPool", [x], ksize=attr_ints([1, k, k, 1]), strides=attr_ints([1, stride, stride, 1]),
                       padding=attr_s("SAME"), data_format=attr_s("NHWC"))

    def model_json(self, quant: str | None = None, n_shards: int = 1,
                   signature: dict[str, Any] | None = None) -> tuple[dict[str, Any], list[bytes]]:
        """The model JSON and its shard bytes. `quant`: None (float32), "uint8" or "uint16" (affine, per
        weight: q = round((v - min) / scale)), as the TF.js converter's --quantize_*_bytes write them."""
        entries, blob = [], bytearray()
        for name, value in self.weights.items():
            entry: dict[str, Any] = {"name": name, "shape": list(value.shape),
                                     "dtype": "float32" if value.dtype == np.float32 else "int32"}
            if quant and value.dtype == np.float32:
                levels = 255 if quant == "uint8" else 65535
                lo, hi = (float(value.min()), float(value.max())) if value.size else (0.0, 0.0)
                scale = (hi - lo) / levels if hi > lo else 1.0
                q = np.round((value.astype(np.float64) - lo) / scale).clip(0, levels)
                entry["quantization"] = {"dtype": quant, "min": lo, "scale": scale}
                blob += q.astype("|u1" if quant == "uint8" else "<u2").tobytes()
            else:
                blob += value.astype("<f4" if value.dtype == np.float32 else "<i4").tobytes()
            entries.append(entry)
        # Split the bytes over n shards at arbitrary points (TF.js cuts at 4 MB, not at weight borders).
        cuts = np.linspace(0, len(blob), n_shards + 1).astype(int)
        shards = [bytes(blob[a:b]) for a, b in zip(cuts[:-1], cuts[1:])]
        doc: dict[str, Any] = {
            "format": "graph-model", "generatedBy": "tests/fakes.py", "convertedBy": "tests/fakes.py",
            "modelTopology": {"node": self.nodes, "library": {}, "versions": {}},
            "weightsManifest": [{"paths": [f"group1-shard{i + 1}of{n_shards}.bin" for i in range(n_shards)],
                                 "weights": entries}],
        }
        if signature:
            doc["signature"] = signature
        return doc, shards


def write_graph_model(folder: Path, builder: GraphBuilder, model_json: str = "model-stride16.json",
                      quant: str | None = None, n_shards: int = 1) -> Path:
    """Write the builder's graph as a TF.js graph model into `folder`; returns the folder."""
    folder.mkdir(parents=True, exist_ok=True)
    doc, shards = builder.model_json(quant, n_shards)
    (folder / model_json).write_text(json.dumps(doc))
    for rel, data in zip(doc["weightsManifest"][0]["paths"], shards):
        (folder / rel).write_bytes(data)
    return folder


def fill_weights_manifest(folder: Path, doc: dict[str, Any], seed: int = 0) -> None:
    """Random shards for an existing graph-model JSON's weightsManifest (float32 entries), written as named."""
    rng = np.random.default_rng(seed)
    for group in doc["weightsManifest"]:
        blob = bytearray()
        for entry in group["weights"]:
            assert entry["dtype"] == "float32" and "quantization" not in entry
            shape = entry["shape"]
            fan_in = int(np.prod(shape[:-1])) if len(shape) == 4 else 1
            if len(shape) == 4 and shape[-1] == 1:  # depthwise [3, 3, C, 1]: fan-in is the 3x3 window
                fan_in = shape[0] * shape[1]
            std = math.sqrt(2.0 / fan_in) if len(shape) == 4 else 0.1
            blob += rng.normal(0, std, shape).astype("<f4").tobytes()
        cuts = np.linspace(0, len(blob), len(group["paths"]) + 1).astype(int)
        for rel, a, b in zip(group["paths"], cuts[:-1], cuts[1:]):
            (folder / rel).write_bytes(bytes(blob[a:b]))


def resnet_graph(output_stride: int, fused: bool = True, seed: int = 0, width: int = 8,
                 output_names: dict[str, str] | None = None) -> GraphBuilder:
    """A small ResNet-like PoseNet graph at output stride 16 or 32, the same weights at both strides.

    Layout (like resnet_v1_50, much narrower): conv1 7x7/2 + ReLU, max pool 3x3/2, then bottleneck units
    (1x1, 3x3 carrying the unit's stride, 1x1; projection shortcut where the shape changes, else identity;
    AddV2; ReLU): blocks of 1, 1, 1, 2 units with strides 2 in the first unit of blocks 2-4; then the four
    1x1 heads. Below the native stride (stride 16) atrous convolution as in slim's ResNet: the unit whose
    stride is skipped runs at stride 1, and every later 3x3 conv is dilated by the strides skipped so far.
    The input placeholder has the fixed shape 1x385x385x3, which importers must ignore. `output_names`
    renames the final nodes (to exercise the channel-count fallback).
    """
    if output_stride not in (16, 32):
        raise ValueError("the fake ResNet supports output stride 16 or 32")
    g = GraphBuilder("sub_2", (1, 385, 385, 3), seed)
    p = "resnet_v1_50"
    x = g.conv(f"{p}/conv1/Relu", g.input, *g.random_conv(7, 3, width, damping=0.01), stride=2, fused=fused)
    x = g.max_pool(f"{p}/pool1/MaxPool", x)
    cin, current, rate = width, 4, 1
    blocks = [[(4 * width, 1)], [(8 * width, 2)], [(8 * width, 2)], [(16 * width, 2), (16 * width, 1)]]
    for b, units in enumerate(blocks, 1):
        for u, (depth, stride) in enumerate(units, 1):
            unit = f"{p}/block{b}/unit_{u}/bottleneck_v1"
            dilation = rate
            if current == output_stride:
                rate *= stride
                stride = 1
            current *= stride
            mid = depth // 4
            if depth != cin or stride != 1:
                shortcut = g.conv(f"{unit}/shortcut/BiasAdd", x, *g.random_conv(1, cin, depth), stride=stride,
                                  act=None, fused=fused)
            else:
                shortcut = x
                g.random_conv(1, cin, depth)  # keep the random stream the same at every stride
            r = g.conv(f"{unit}/conv1/Relu", x, *g.random_conv(1, cin, mid), fused=fused)
            r = g.conv(f"{unit}/conv2/Relu", r, *g.random_conv(3, mid, mid), stride=stride, dilation=dilation,
                       fused=fused)
            r = g.conv(f"{unit}/conv3/BiasAdd", r, *g.random_conv(1, mid, depth, damping=0.3), act=None,
                       fused=fused)
            x = g.op(f"{unit}/add", "AddV2", [shortcut, r])
            x = g.op(f"{unit}/Relu", "Relu", [x])
            cin = depth
    names = {"displacement_fwd": f"{p}/displacement_fwd_2/BiasAdd",
             "displacement_bwd": f"{p}/displacement_bwd_2/BiasAdd",
             "offsets": f"{p}/offset_2/BiasAdd", "heatmap": f"{p}/heatmap_2/BiasAdd"}
    renamed = output_names or {}
    # ResNet output order: displacement_fwd, displacement_bwd, offsets, heatmap.
    for key, channels in (("displacement_fwd", 32), ("displacement_bwd", 32), ("offsets", 34), ("heatmap", 17)):
        head = g.conv(renamed.get(key, names[key]), x, *g.random_conv(1, cin, channels, damping=0.3), act=None,
                      fused=fused)
        if key in ("offsets", "heatmap") and not output_names:
            # The real graph exposes these two through named Identity nodes.
            g.op("float_short_offsets" if key == "offsets" else "float_heatmaps", "Identity", [head])
    return g
