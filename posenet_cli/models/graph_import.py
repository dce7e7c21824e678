"""TF.js graph models (PoseNet 2.x MobileNet and ResNet50) rebuilt as TensorFlow ops.

The model JSON's `modelTopology` is a TensorFlow GraphDef written as JSON. Rather than converting it to a
GraphDef proto (TF.js writes ops TensorFlow lacks, such as `FusedDepthwiseConv2dNative`), a small
interpreter walks the nodes in dependency order inside a tf.function and emits the equivalent TF ops; it
runs once per trace, so serving pays nothing for it. The fused ops are expanded (conv, then bias / batch
norm / add, then the activation), which TensorFlow's own graph optimiser fuses back on CPU.

The four outputs are found by node name (heatmap, offset, displacement_fwd, displacement_bwd), falling
back on their channel counts (17, 34, 32, 32; the first 32-channel output is the forward displacement in
both the MobileNet and the ResNet50 output order). The graph's Placeholder shape is ignored: the
rebuilt network takes any batch and any image size.

Longer than most modules on purpose: the attribute decoding, the op table and the graph walk are one
interpreter and are read together; split apart, each piece would need the others' private structures.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import tensorflow as tf

from ..errors import first_line
from .network import PoseNetModule, depthwise_conv
from .signature import OUTPUT_CHANNELS, OUTPUT_NAMES, PROBE_SIZE, stride_from_grid
from .weights import GraphModel, WeightsError

ARCHITECTURES = {"mobilenet": "mobilenet_v1", "mobilenet_v1": "mobilenet_v1", "mobilenetv1": "mobilenet_v1",
                 "resnet50": "resnet50", "resnet": "resnet50", "resnet_v1_50": "resnet50"}
_DTYPES = {"DT_FLOAT": tf.float32, "DT_INT32": tf.int32, "DT_INT64": tf.int64, "DT_BOOL": tf.bool,
           "DT_HALF": tf.float16, "DT_DOUBLE": tf.float64, "DT_UINT8": tf.uint8, "DT_INT8": tf.int8}


class GraphImportError(WeightsError, ValueError):
    """A graph model this importer cannot rebuild (unknown op, bad node, outputs not found)."""


# ----------------------------------------------------------------------------------------------------
# Attribute decoding. JSON GraphDef attrs are AttrValue messages: {"i": "2"} (int64 as a string),
# {"f": 1.0}, {"b": true}, {"s": base64}, {"type": "DT_FLOAT"}, {"list": {"i": [...], "s": [...]}},
# {"shape": ...}, {"tensor": ...}.


@dataclass
class _Node:
    name: str
    op: str
    inputs: list[tuple[str, int]]  # (producer node, output index); control inputs ("^x") dropped
    attr: dict[str, Any]

    def _get(self, key: str) -> Any:
        return self.attr.get(key) or {}

    def s(self, key: str, default: str = "") -> str:
        value = self._get(key).get("s")
        return base64.b64decode(value).decode("utf-8", "replace") if value else default

    def i(self, key: str, default: int = 0) -> int:
        value = self._get(key).get("i")
        return int(value) if value is not None else default

    def f(self, key: str, default: float = 0.0) -> float:
        value = self._get(key).get("f")
        return float(value) if value is not None else default

    def b(self, key: str, default: bool = False) -> bool:
        value = self._get(key).get("b")
        return bool(value) if value is not None else default

    def ints(self, key: str, default: Sequence[int] = ()) -> list[int]:
        values = self._get(key).get("list", {}).get("i")
        return [int(v) for v in values] if values else list(default)

    def strs(self, key: str) -> list[str]:
        values = self._get(key).get("list", {}).get("s") or []
        return [base64.b64decode(v).decode("utf-8", "replace") for v in values]

    def dtype(self, key: str, default: tf.DType = tf.float32) -> tf.DType:
        name = self._get(key).get("type")
        if name is None:
            return default
        if name not in _DTYPES:
            raise GraphImportError(f"node {self.name} ({self.op}): unsupported dtype {name}")
        return _DTYPES[name]


def _parse_input(ref: str) -> tuple[str, int] | None:
    if ref.startswith("^"):
        return None  # control dependency: irrelevant for a pure inference graph
    m = re.fullmatch(r"(.*?)(?::(\d+))?", ref)
    assert m is not None
    return m.group(1), int(m.group(2) or 0)


def _literal_tensor(node: _Node) -> np.ndarray | None:
    """The value of a Const whose value is written inline in the JSON (not in the weights)."""
    tensor = node._get("value").get("tensor")
    if not tensor:
        return None
    dtype = node.dtype("dtype")
    np_dtype = dtype.as_numpy_dtype
    shape = [int(d.get("size", 0)) for d in tensor.get("tensorShape", {}).get("dim", [])]
    if "tensorContent" in tensor:
        values = np.frombuffer(base64.b64decode(tensor["tensorContent"]), np.dtype(np_dtype).newbyteorder("<"))
    else:
        for key in ("floatVal", "intVal", "int64Val", "boolVal", "halfVal", "doubleVal"):
            if key in tensor:
                values = np.asarray([float(v) if key != "boolVal" else bool(v) for v in tensor[key]])
                break
        else:
            return None if shape and int(np.prod(shape)) else np.zeros(shape, np_dtype)
    values = values.astype(np_dtype)
    count = int(np.prod(shape)) if shape else 1
    if values.size == 1 and count != 1:  # TF writes a repeated value once
        values = np.full(count, values[0], np_dtype)
    if values.size != count:
        raise GraphImportError(f"Const {node.name}: {values.size} inline values for shape {shape}")
    return values.reshape(shape)


# ----------------------------------------------------------------------------------------------------
# Op implementations: (node, input tensors) -> tensor or list of tensors.


def _data_format(node: _Node) -> None:
    fmt = node.s("data_format", "NHWC")
    if fmt != "NHWC":
        raise GraphImportError(f"node {node.name} ({node.op}): data_format {fmt} is not supported, only NHWC")


def _spatial(values: list[int], default: int = 1) -> tuple[int, int]:
    """(h, w) from an NHWC attribute list [1, h, w, 1] (or a 2-element [h, w])."""
    if len(values) == 4:
        return values[1], values[2]
    if len(values) == 2:
        return values[0], values[1]
    return default, default


def _padded(node: _Node, x: tf.Tensor) -> tuple[tf.Tensor, str]:
    """Apply EXPLICIT padding up front (explicit_paddings: 4 (before, after) pairs in NHWC order)."""
    padding = node.s("padding", "VALID")
    if padding == "EXPLICIT":
        p = node.ints("explicit_paddings")
        if len(p) != 8:
            raise GraphImportError(f"node {node.name}: EXPLICIT padding needs 8 explicit_paddings, got {p}")
        return tf.pad(x, [[p[0], p[1]], [p[2], p[3]], [p[4], p[5]], [p[6], p[7]]]), "VALID"
    if padding not in ("SAME", "VALID"):
        raise GraphImportError(f"node {node.name} ({node.op}): unknown padding {padding!r}")
    return x, padding


def _conv2d(node: _Node, x: tf.Tensor, w: tf.Tensor) -> tf.Tensor:
    _data_format(node)
    x, padding = _padded(node, x)
    return tf.nn.conv2d(x, w, _spatial(node.ints("strides")), padding, dilations=_spatial(node.ints("dilations")))


def _depthwise(node: _Node, x: tf.Tensor, w: tf.Tensor) -> tf.Tensor:
    _data_format(node)
    x, padding = _padded(node, x)
    return depthwise_conv(x, w, _spatial(node.ints("strides")), padding, _spatial(node.ints("dilations")))


def _matmul(node: _Node, a: tf.Tensor, b: tf.Tensor) -> tf.Tensor:
    return tf.matmul(a, b, transpose_a=node.b("transpose_a"), transpose_b=node.b("transpose_b"))


def _prelu(x: tf.Tensor, alpha: tf.Tensor) -> tf.Tensor:
    return tf.nn.relu(x) + alpha * tf.minimum(x, 0.0)


def _batch_norm(node: _Node, x: tf.Tensor, scale: tf.Tensor, offset: tf.Tensor, mean: tf.Tensor,
                variance: tf.Tensor) -> tf.Tensor:
    return (x - mean) * (tf.math.rsqrt(variance + node.f("epsilon", 1e-3)) * scale) + offset


def _fused(base: Callable[[_Node, tf.Tensor, tf.Tensor], tf.Tensor]) -> Callable[[_Node, list], tf.Tensor]:
    """A TF.js/grappler fused op: base op on inputs 0-1, then `fused_ops` in order using `num_args` extras."""

    def run(node: _Node, inputs: list[tf.Tensor]) -> tf.Tensor:
        fused = node.strs("fused_ops")
        num_args = node.i("num_args", len(inputs) - 2)
        if len(inputs) < 2 + num_args:
            raise GraphImportError(f"node {node.name} ({node.op}): {len(inputs)} inputs, needs {2 + num_args}")
        y = base(node, inputs[0], inputs[1])
        args = list(inputs[2:2 + num_args])

        def take(n: int, what: str) -> list[tf.Tensor]:
            if len(args) < n:
                raise GraphImportError(f"node {node.name} ({node.op}): fused {what} lacks its argument(s)")
            out = args[:n]
            del args[:n]
            return out

        for op in fused:
            if op == "BiasAdd":
                y = tf.nn.bias_add(y, take(1, op)[0])
            elif op in ("Add", "AddV2"):
                y = y + take(1, op)[0]
            elif op == "FusedBatchNorm":
                y = _batch_norm(node, y, *take(4, op))
            elif op == "Prelu":
                y = _prelu(y, take(1, op)[0])
            elif op == "LeakyRelu":
                y = tf.nn.leaky_relu(y, node.f("leakyrelu_alpha", 0.2))
            elif op in _ACTIVATIONS:
                y = _ACTIVATIONS[op](y)
            else:
                raise GraphImportError(f"node {node.name} ({node.op}): unsupported fused op {op!r}")
        return y

    return run


_ACTIVATIONS: dict[str, Callable[[tf.Tensor], tf.Tensor]] = {
    "Relu": tf.nn.relu, "Relu6": tf.nn.relu6, "Elu": tf.nn.elu, "Selu": tf.nn.selu, "Sigmoid": tf.sigmoid,
    "Tanh": tf.tanh, "Softplus": tf.nn.softplus, "Neg": tf.negative, "Square": tf.square, "Sqrt": tf.sqrt,
    "Rsqrt": tf.math.rsqrt, "Exp": tf.exp, "Log": tf.math.log, "Abs": tf.abs, "Floor": tf.floor,
}
_BINARY: dict[str, Callable[[tf.Tensor, tf.Tensor], tf.Tensor]] = {
    "Add": tf.add, "AddV2": tf.add, "Sub": tf.subtract, "Mul": tf.multiply, "RealDiv": tf.truediv,
    "Div": tf.truediv, "DivNoNan": tf.math.divide_no_nan, "Maximum": tf.maximum, "Minimum": tf.minimum,
    "SquaredDifference": tf.math.squared_difference, "Pow": tf.pow, "FloorDiv": tf.math.floordiv,
}


def _unary(fn: Callable[[tf.Tensor], tf.Tensor]) -> Callable[[_Node, list], tf.Tensor]:
    return lambda node, x: fn(x[0])


def _binary(fn: Callable[[tf.Tensor, tf.Tensor], tf.Tensor]) -> Callable[[_Node, list], tf.Tensor]:
    return lambda node, x: fn(x[0], x[1])


def _pool(fn: Callable[..., tf.Tensor]) -> Callable[[_Node, list], tf.Tensor]:
    def run(node: _Node, inputs: list[tf.Tensor]) -> tf.Tensor:
        _data_format(node)
        x, padding = _padded(node, inputs[0])
        return fn(x, _spatial(node.ints("ksize")), _spatial(node.ints("strides")), padding)

    return run


def _static_ints(t: tf.Tensor, node: _Node) -> list[int]:
    value = tf.get_static_value(t)
    if value is None:
        raise GraphImportError(f"node {node.name} ({node.op}): needs a constant argument")
    return np.asarray(value).astype(np.int64).reshape(-1).tolist()


def _pad(node: _Node, inputs: list[tf.Tensor]) -> tf.Tensor:
    value = inputs[2] if node.op == "PadV2" and len(inputs) > 2 else 0
    return tf.pad(inputs[0], inputs[1], constant_values=value)


_OPS: dict[str, Callable[[_Node, list], Any]] = {
    "Identity": lambda n, x: x[0], "Snapshot": lambda n, x: x[0], "StopGradient": lambda n, x: x[0],
    "PlaceholderWithDefault": lambda n, x: x[0], "IdentityN": lambda n, x: list(x),
    "Conv2D": lambda n, x: _conv2d(n, x[0], x[1]),
    "DepthwiseConv2dNative": lambda n, x: _depthwise(n, x[0], x[1]),
    "DepthwiseConv2d": lambda n, x: _depthwise(n, x[0], x[1]),
    "MatMul": lambda n, x: _matmul(n, x[0], x[1]),
    "_FusedConv2D": _fused(_conv2d), "FusedConv2D": _fused(_conv2d),
    "FusedDepthwiseConv2dNative": _fused(_depthwise), "_FusedDepthwiseConv2dNative": _fused(_depthwise),
    "_FusedMatMul": _fused(_matmul), "FusedMatMul": _fused(_matmul),
    "BiasAdd": lambda n, x: (_data_format(n), tf.nn.bias_add(x[0], x[1]))[1],
    "AddN": lambda n, x: tf.add_n(x),
    "Prelu": lambda n, x: _prelu(x[0], x[1]),
    "LeakyRelu": lambda n, x: tf.nn.leaky_relu(x[0], n.f("alpha", 0.2)),
    "FusedBatchNorm": lambda n, x: [_batch_norm(n, *x[:5])],
    "FusedBatchNormV2": lambda n, x: [_batch_norm(n, *x[:5])],
    "FusedBatchNormV3": lambda n, x: [_batch_norm(n, *x[:5])],
    "MaxPool": _pool(tf.nn.max_pool2d), "AvgPool": _pool(tf.nn.avg_pool2d),
    "Pad": _pad, "PadV2": _pad,
    "MirrorPad": lambda n, x: tf.pad(x[0], x[1], mode=n.s("mode", "REFLECT")),
    "Reshape": lambda n, x: tf.reshape(x[0], x[1]),
    "Squeeze": lambda n, x: tf.squeeze(x[0], n.ints("squeeze_dims") or None),
    "ExpandDims": lambda n, x: tf.expand_dims(x[0], _static_ints(x[1], n)[0]),
    "ConcatV2": lambda n, x: tf.concat(x[:-1], _static_ints(x[-1], n)[0]),
    "Transpose": lambda n, x: tf.transpose(x[0], x[1]),
    "Mean": lambda n, x: tf.reduce_mean(x[0], _static_ints(x[1], n), keepdims=n.b("keep_dims")),
    "Cast": lambda n, x: tf.cast(x[0], n.dtype("DstT")),
    "Shape": lambda n, x: tf.shape(x[0], out_type=n.dtype("out_type", tf.int32)),
    # Atrous convolution as older TF graphs write it, and the shape arithmetic around it.
    "SpaceToBatchND": lambda n, x: tf.space_to_batch_nd(x[0], x[1], x[2]),
    "BatchToSpaceND": lambda n, x: tf.batch_to_space(x[0], x[1], x[2]),
    "StridedSlice": lambda n, x: tf.strided_slice(
        x[0], x[1], x[2], x[3], begin_mask=n.i("begin_mask"), end_mask=n.i("end_mask"),
        ellipsis_mask=n.i("ellipsis_mask"), new_axis_mask=n.i("new_axis_mask"),
        shrink_axis_mask=n.i("shrink_axis_mask")),
    "Slice": lambda n, x: tf.slice(x[0], x[1], x[2]),
    "Pack": lambda n, x: tf.stack(x, axis=n.i("axis")),
    "Fill": lambda n, x: tf.fill(x[0], x[1]),
    "FloorMod": lambda n, x: tf.math.floormod(x[0], x[1]),
    "ResizeBilinear": lambda n, x: tf.raw_ops.ResizeBilinear(
        images=x[0], size=x[1], align_corners=n.b("align_corners"), half_pixel_centers=n.b("half_pixel_centers")),
    **{op: _unary(f) for op, f in _ACTIVATIONS.items()},
    **{op: _binary(f) for op, f in _BINARY.items()},
}
SUPPORTED_OPS = frozenset(_OPS) | {"Placeholder", "Const"}


# ----------------------------------------------------------------------------------------------------


@dataclass
class _Graph:
    """The parsed graph; a plain object so tf.Module does not try to track it."""

    nodes: dict[str, _Node]
    placeholder: str
    constants: dict[str, np.ndarray]  # every Const's value (weights included)
    order: list[str] = field(default_factory=list)  # nodes needed for the outputs, producers first
    outputs: dict[str, tuple[str, int]] = field(default_factory=dict)  # output name -> node output


def _parse_graph(model: GraphModel) -> _Graph:
    """Nodes by name, checked: known ops only, one Placeholder, every Const with a value."""
    nodes: dict[str, _Node] = {}
    for raw in model.nodes:
        inputs = [p for p in (_parse_input(r) for r in raw.get("input", [])) if p is not None]
        node = _Node(raw["name"], raw["op"], inputs, raw.get("attr") or {})
        if node.name in nodes:
            raise GraphImportError(f"node name {node.name!r} appears twice in the graph")
        nodes[node.name] = node
    unknown = sorted({n.op for n in nodes.values() if n.op not in SUPPORTED_OPS})
    if unknown:
        users = {op: next(n.name for n in nodes.values() if n.op == op) for op in unknown}
        raise GraphImportError("unsupported op(s) in graph model: " + ", ".join(
            f"{op} (node {users[op]})" for op in unknown))
    placeholders = [n.name for n in nodes.values() if n.op == "Placeholder"]
    if len(placeholders) != 1:
        raise GraphImportError(f"expected one Placeholder (the image input), found {len(placeholders)}"
                               + (f": {', '.join(placeholders)}" if placeholders else ""))
    constants: dict[str, np.ndarray] = {}
    for node in nodes.values():
        if node.op == "Const":
            value = model.weights.get(node.name)
            if value is None:
                value = _literal_tensor(node)
            if value is None:
                raise GraphImportError(f"Const {node.name} has no value: not in the weights manifest")
            constants[node.name] = value
    return _Graph(nodes, placeholders[0], constants)


def _emit(graph: _Graph, x: tf.Tensor, targets: list[tuple[str, int]],
          const: Callable[[str], tf.Tensor]) -> list[tf.Tensor]:
    """Emit the ops of `graph.order` on input `x` (fed to the Placeholder); the targets' tensors."""
    values: dict[str, list[tf.Tensor]] = {}
    for name in graph.order:
        node = graph.nodes[name]
        if node.op == "Placeholder":
            out: Any = x
        elif node.op == "Const":
            out = const(name)
        else:
            try:
                args = [values[src][idx] for src, idx in node.inputs]
            except IndexError:
                raise GraphImportError(f"node {name} reads an output its input does not have") from None
            try:
                out = _OPS[node.op](node, args)
            except GraphImportError:
                raise
            except (ValueError, TypeError, IndexError, tf.errors.InvalidArgumentError) as e:
                raise GraphImportError(f"node {name} ({node.op}) failed: {first_line(e)}") from None
        values[name] = list(out) if isinstance(out, (list, tuple)) else [out]
    return [values[name][idx] for name, idx in targets]


def run_graph(model: GraphModel, x: np.ndarray, targets: list[str]) -> list[np.ndarray]:
    """Evaluate graph nodes eagerly on `x` fed to the Placeholder as is (no normalisation); for debugging
    and tests. `targets` are node names, optionally with ":index"."""
    graph = _parse_graph(model)
    refs = [r for r in (_parse_input(t) for t in targets) if r is not None]
    graph.order = _topological(graph.nodes, [name for name, _ in refs])
    outs = _emit(graph, tf.convert_to_tensor(x, tf.float32), refs, lambda name: tf.constant(graph.constants[name]))
    return [o.numpy() for o in outs]


def _topological(nodes: dict[str, _Node], targets: list[str]) -> list[str]:
    """The nodes the targets depend on, each after its inputs (iterative DFS; cycles are an error)."""
    order: list[str] = []
    state: dict[str, int] = {}  # 1: on the stack, 2: done
    for target in targets:
        stack = [(target, False)]
        while stack:
            name, expanded = stack.pop()
            if expanded:
                state[name] = 2
                order.append(name)
                continue
            if state.get(name) == 2:
                continue
            if state.get(name) == 1:
                raise GraphImportError(f"the graph has a cycle through node {name}")
            if name not in nodes:
                raise GraphImportError(f"a node refers to input {name!r}, which the graph does not define")
            state[name] = 1
            stack.append((name, True))
            for src, _ in reversed(nodes[name].inputs):
                if state.get(src) != 2:
                    if state.get(src) == 1:
                        raise GraphImportError(f"the graph has a cycle through node {src}")
                    stack.append((src, False))
    return order


class GraphPoseNet(PoseNetModule):
    """A TF.js PoseNet graph model as a `PoseNetModule` (see the module docstring)."""

    def __init__(self, model: GraphModel, architecture: str = "mobilenet"):
        arch = ARCHITECTURES.get(architecture.lower().replace("-", "_"))
        if arch is None:
            raise ValueError(f"unknown architecture {architecture!r}; expected mobilenet or resnet50")
        graph = _parse_graph(model)
        super().__init__(arch, 0, None, name="graph_posenet")
        # Float weights become non-trainable variables (saved once in variables/); small and integer
        # constants stay graph constants so shapes, axes and paddings remain statically known.
        self._variable_index = {name: i for i, name in enumerate(
            n for n, v in graph.constants.items() if v.dtype == np.float32 and v.size > 1)}
        self.weights_list = [tf.Variable(graph.constants.pop(n), trainable=False, name=f"w{i}")
                             for n, i in self._variable_index.items()]  # popped: no second copy kept
        self._graph = graph
        # Eager probe: run every candidate output once on a small image to learn channels and the stride.
        candidates = self._candidates(model, graph.nodes)
        graph.order = _topological(graph.nodes, [name for name, _ in candidates])
        values = _emit(graph, tf.zeros([1, PROBE_SIZE, PROBE_SIZE, 3], tf.float32), candidates, self._const)
        shapes = {ref: tuple(v.shape) for ref, v in zip(candidates, values)}
        graph.outputs = _match_outputs(candidates, shapes)
        graph.order = _topological(graph.nodes, [name for name, _ in graph.outputs.values()])
        grids = {shapes[ref][1:3] for ref in graph.outputs.values()}
        if len(grids) != 1:
            raise GraphImportError(f"the four outputs have different grid sizes on a probe: {sorted(grids)}")
        (gh, gw), = grids
        stride = stride_from_grid(gh, gw)
        if stride is None:
            raise GraphImportError(f"cannot tell the output stride: a {PROBE_SIZE}px input gave a {gh}x{gw} grid")
        self.output_stride = stride

    def _const(self, name: str) -> tf.Tensor:
        index = self._variable_index.get(name)
        return self.weights_list[index] if index is not None else tf.constant(self._graph.constants[name])

    @staticmethod
    def _candidates(model: GraphModel, nodes: dict[str, _Node]) -> list[tuple[str, int]]:
        """Possible outputs: the JSON's signature outputs if given, else every node no other node reads."""
        signature = model.meta.get("signature")
        outs = signature.get("outputs") if isinstance(signature, dict) else None
        if isinstance(outs, dict) and outs:
            refs = [_parse_input(str(v.get("name", k)) if isinstance(v, dict) else k) for k, v in outs.items()]
            refs = [r for r in refs if r is not None and r[0] in nodes]
            if refs:
                order = {name: i for i, name in enumerate(nodes)}
                return sorted(refs, key=lambda r: order[r[0]])
        used = {src for n in nodes.values() for src, _ in n.inputs}
        return [(n.name, 0) for n in nodes.values() if n.name not in used and n.op not in ("Const", "Placeholder")]

    def forward(self, x: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor]:
        outs = self._graph.outputs
        heatmap, offsets, fwd, bwd = _emit(self._graph, x, [outs[k] for k in OUTPUT_NAMES], self._const)
        return heatmap, offsets, fwd, bwd


_NAME_PATTERNS = {
    "heatmap_scores": re.compile(r"heatmap"),
    "offsets": re.compile(r"offset"),
    "displacement_fwd": re.compile(r"displacement_?fwd|fwd"),
    "displacement_bwd": re.compile(r"displacement_?bwd|bwd"),
}


def _match_outputs(candidates: list[tuple[str, int]], shapes: dict[tuple[str, int], tuple]) -> dict[str, tuple]:
    """Assign the four outputs: by node name where that is unambiguous, else by channel count."""

    def channels(ref: tuple[str, int]) -> int | None:
        shape = shapes[ref]
        return shape[-1] if len(shape) == 4 else None

    by_name: dict[str, tuple[str, int]] = {}
    for out, pattern in _NAME_PATTERNS.items():
        hits = [r for r in candidates if pattern.search(r[0].lower()) and channels(r) == OUTPUT_CHANNELS[out]]
        if len(hits) == 1:
            by_name[out] = hits[0]
    if len(by_name) == 4 and len(set(by_name.values())) == 4:
        return by_name
    # Fallback on channel counts, in graph order: 17 heatmap, 34 offsets, then 32 fwd and 32 bwd.
    by_count: dict[int, list[tuple[str, int]]] = {}
    for ref in candidates:
        by_count.setdefault(channels(ref) or -1, []).append(ref)
    heat, off, disp = by_count.get(17, []), by_count.get(34, []), by_count.get(32, [])
    if len(heat) == 1 and len(off) == 1 and len(disp) == 2:
        return {"heatmap_scores": heat[0], "offsets": off[0], "displacement_fwd": disp[0], "displacement_bwd": disp[1]}
    found = ", ".join(f"{n}:{i} ({channels((n, i))} ch)" for n, i in candidates) or "none"
    raise GraphImportError(
        "cannot find PoseNet's four outputs (heatmap 17, offsets 34, displacement_fwd/bwd 32 channels) "
        f"among the graph's outputs: {found}"
    )


def build_graph_model(model: GraphModel, architecture: str = "mobilenet") -> GraphPoseNet:
    """Rebuild a TF.js PoseNet graph model (MobileNet or ResNet50) with this project's serving signature.

    `architecture` picks the input normalisation ("mobilenet"/"mobilenet_v1": x/127.5 - 1; "resnet50":
    add the ImageNet mean offsets). The output stride is read off the graph by a probe run.
    Raises GraphImportError (a ValueError) naming any op it does not support.
    """
    return GraphPoseNet(model, architecture)
