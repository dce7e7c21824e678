"""Readers for the two official PoseNet weight formats (TensorFlow.js 1.x checkpoints, 2.x graph models).

Both readers take a *resolver*: `resolve(relpath) -> Path` gives a local file for a path relative to the
model's base folder. Downloading and caching are someone else's job; the readers only read and check.
Every problem with the files (missing, truncated, malformed JSON, unknown dtype...) is raised as one
`WeightsError` with a one-line message naming the file, so callers can show it as is.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .base import ModelError

Resolver = Callable[[str], Path]

# Bytes per element and numpy little-endian dtype of the weight dtypes TF.js writes unquantised.
_PLAIN_DTYPES: dict[str, tuple[int, str]] = {
    "float32": (4, "<f4"),
    "int32": (4, "<i4"),
    "bool": (1, "|u1"),
    "uint8": (1, "|u1"),
    "int8": (1, "|i1"),
    "uint16": (2, "<u2"),
    "int16": (2, "<i2"),
    "float16": (2, "<f2"),
    "complex64": (8, "<c8"),
}
# Storage dtypes of quantised weights (`quantization.dtype`).
_QUANT_DTYPES: dict[str, tuple[int, str]] = {"uint8": (1, "|u1"), "uint16": (2, "<u2"), "float16": (2, "<f2")}
_MAX_JSON_BYTES = 64 * 1024 * 1024  # the largest official model JSON is under 1 MB


class WeightsError(ModelError):
    """A model that cannot be read or built: files missing, truncated or malformed, or not usable as asked.

    Reading and building errors subclass it (graph_import.GraphImportError, savedmodel.SavedModelError);
    every model error, this one included, is a `base.ModelError`.
    """


def _resolve(resolve: Resolver, rel: str) -> Path:
    """The local path of `rel`, turning a resolver's 'not there' into a WeightsError."""
    try:
        path = Path(resolve(rel))
    except (OSError, KeyError, LookupError) as e:
        raise WeightsError(f"missing model file {rel!r}: {_reason(e)}") from None
    try:
        found = path.is_file()
    except (OSError, ValueError) as e:  # e.g. a name too long for the file system
        raise WeightsError(f"missing model file {rel!r}: {_reason(e)}") from None
    if not found:
        raise WeightsError(f"missing model file {rel!r} (looked for {path})")
    return path


def _reason(e: BaseException) -> str:
    return getattr(e, "strerror", None) or str(e) or type(e).__name__


def _read_bytes(path: Path, rel: str, limit: int | None = None) -> bytes:
    try:
        if limit is not None and path.stat().st_size > limit:
            raise WeightsError(f"{rel}: file is too large ({path.stat().st_size} bytes) to be a model description")
        return path.read_bytes()
    except OSError as e:
        raise WeightsError(f"cannot read model file {rel!r}: {_reason(e)}") from None


def _read_json(resolve: Resolver, rel: str) -> Any:
    raw = _read_bytes(_resolve(resolve, rel), rel, _MAX_JSON_BYTES)
    try:
        return json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise WeightsError(f"{rel}: not UTF-8 text, so not a model JSON") from None
    except json.JSONDecodeError as e:
        raise WeightsError(f"{rel}: bad JSON ({e.msg} at line {e.lineno} column {e.colno})") from None
    except RecursionError:
        raise WeightsError(f"{rel}: bad JSON (nested too deeply)") from None


def _check_relpath(value: Any, where: str) -> str:
    """A file name from a manifest: a non-empty relative path that stays inside the model folder."""
    if not isinstance(value, str) or not value:
        raise WeightsError(f"{where}: file name must be a non-empty string, got {value!r}")
    parts = value.replace("\\", "/").split("/")
    if value.startswith(("/", "\\")) or ".." in parts or ":" in parts[0] or "\x00" in value:
        raise WeightsError(f"{where}: file name {value!r} points outside the model folder")
    return value


def _check_shape(value: Any, where: str) -> tuple[int, ...]:
    if not isinstance(value, list) or len(value) > 8:
        raise WeightsError(f"{where}: shape must be a list of at most 8 sizes, got {value!r}")
    if not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in value):
        raise WeightsError(f"{where}: shape must hold non-negative integers, got {value!r}")
    return tuple(value)


def _check_number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise WeightsError(f"{where} must be a finite number, got {value!r}")
    return float(value)


# ----------------------------------------------------------------------------------------------------
# 1.x checkpoints


def read_checkpoint(resolve: Resolver) -> dict[str, np.ndarray]:
    """All variables of a 1.x checkpoint folder: `manifest.json` + one raw little-endian float32 file each.

    Returns variable name (e.g. "MobilenetV1/Conv2d_0/weights") -> float32 array of the manifest's shape.
    Each file's size must equal prod(shape) * 4 exactly, which catches truncated downloads.
    """
    manifest = _read_json(resolve, "manifest.json")
    if not isinstance(manifest, dict) or not manifest:
        raise WeightsError("manifest.json: expected a non-empty object of variable name -> {filename, shape}")
    out: dict[str, np.ndarray] = {}
    for name, entry in manifest.items():
        where = f"manifest.json variable {name!r}"
        if not isinstance(entry, dict):
            raise WeightsError(f"{where}: expected an object with filename and shape, got {type(entry).__name__}")
        if "filename" not in entry or "shape" not in entry:
            raise WeightsError(f"{where}: needs both 'filename' and 'shape'")
        rel = _check_relpath(entry["filename"], where)
        shape = _check_shape(entry["shape"], where)
        expected = math.prod(shape) * 4
        path = _resolve(resolve, rel)
        try:
            size = path.stat().st_size
        except OSError as e:
            raise WeightsError(f"cannot read model file {rel!r}: {_reason(e)}") from None
        if size != expected:
            raise WeightsError(
                f"{rel}: {size} bytes but variable {name!r} of shape {list(shape)} needs {expected} "
                f"(float32); the file is {'truncated' if size < expected else 'too long'}"
            )
        data = _read_bytes(path, rel)
        if len(data) != expected:  # changed between stat and read
            raise WeightsError(f"{rel}: read {len(data)} bytes, expected {expected}")
        out[str(name)] = np.frombuffer(data, "<f4").astype(np.float32).reshape(shape)
    return out


# ----------------------------------------------------------------------------------------------------
# 2.x graph models


@dataclass
class GraphModel:
    """A TF.js graph model: its GraphDef nodes (JSON form) and its weights, dequantised.

    `nodes` are the `modelTopology.node` dicts as written (name, op, input, attr); `weights` maps a Const
    node's name to its value. `fmt` is the JSON's `format` ("graph-model"); `meta` keeps the rest that may
    help (generatedBy, convertedBy, signature, userDefinedMetadata, the model JSON's name).
    """

    nodes: list[dict[str, Any]]
    weights: dict[str, np.ndarray]
    fmt: str = "graph-model"
    meta: dict[str, Any] = field(default_factory=dict)


def _weight_spec(entry: Any, where: str) -> tuple[str, tuple[int, ...], int, Callable[[bytes], np.ndarray]]:
    """Parse one weightsManifest entry: (name, shape, byte length, decoder from its bytes to the array)."""
    if not isinstance(entry, dict):
        raise WeightsError(f"{where}: expected an object, got {type(entry).__name__}")
    name = entry.get("name")
    if not isinstance(name, str) or not name:
        raise WeightsError(f"{where}: weight needs a non-empty string 'name'")
    where = f"{where} ({name})"
    shape = _check_shape(entry.get("shape"), where)
    count = math.prod(shape)
    dtype = entry.get("dtype")
    if not isinstance(dtype, str) or dtype not in _PLAIN_DTYPES:
        raise WeightsError(f"{where}: unknown dtype {dtype!r} (supported: {', '.join(_PLAIN_DTYPES)})")
    quant = entry.get("quantization")
    if quant is None:
        size, np_dtype = _PLAIN_DTYPES[dtype]
        out_dtype = np.bool_ if dtype == "bool" else np.dtype(np_dtype).newbyteorder("=")

        def decode(buf: bytes) -> np.ndarray:
            return np.frombuffer(buf, np_dtype).astype(out_dtype).reshape(shape)

        return name, shape, count * size, decode
    if not isinstance(quant, dict):
        raise WeightsError(f"{where}: 'quantization' must be an object")
    qdtype = quant.get("dtype")
    if not isinstance(qdtype, str) or qdtype not in _QUANT_DTYPES:
        raise WeightsError(f"{where}: unknown quantization dtype {qdtype!r} (supported: uint8, uint16, float16)")
    if dtype not in ("float32", "int32"):
        raise WeightsError(f"{where}: quantised weights must be float32 or int32, not {dtype}")
    size, np_dtype = _QUANT_DTYPES[qdtype]
    if qdtype == "float16":

        def decode(buf: bytes) -> np.ndarray:
            return np.frombuffer(buf, np_dtype).astype(np.float32).astype(dtype).reshape(shape)

        return name, shape, count * size, decode
    # Affine quantisation: value = min + scale * q. TF.js evaluates this in double precision and stores
    # float32; doing it in float32 visibly shifts the network outputs, so compute in float64 and cast.
    if "min" not in quant or "scale" not in quant:
        raise WeightsError(f"{where}: {qdtype} quantization needs 'min' and 'scale'")
    qmin = _check_number(quant["min"], f"{where}: quantization min")
    scale = _check_number(quant["scale"], f"{where}: quantization scale")

    def decode(buf: bytes) -> np.ndarray:
        values = np.frombuffer(buf, np_dtype).astype(np.float64) * scale + qmin
        if dtype == "int32":
            return np.round(values).astype(np.int32).reshape(shape)
        return values.astype(np.float32).reshape(shape)

    return name, shape, count * size, decode


def read_graph_model(resolve: Resolver, model_json: str = "model-stride16.json") -> GraphModel:
    """A 2.x graph model: `modelTopology` (GraphDef as JSON) + `weightsManifest` with binary shards.

    Each manifest group's shards are concatenated in order and its weights sliced off one after the other;
    the group's total must equal the shards' total size exactly. Quantised weights (uint8/uint16 affine,
    float16) are dequantised here, so `weights` hold the float32 (or int32/bool) values the graph uses.
    """
    model_json = _check_relpath(model_json, "model JSON")
    doc = _read_json(resolve, model_json)
    if not isinstance(doc, dict):
        raise WeightsError(f"{model_json}: expected a JSON object with modelTopology and weightsManifest")
    topology = doc.get("modelTopology")
    if not isinstance(topology, dict):
        if "manifest.json" in model_json or doc and all(isinstance(v, dict) and "filename" in v for v in doc.values()):
            raise WeightsError(f"{model_json}: this is a 1.x checkpoint manifest, not a graph model")
        raise WeightsError(f"{model_json}: no 'modelTopology' object; not a TF.js graph model")
    nodes = _graph_nodes(topology, model_json)
    groups = doc.get("weightsManifest")
    if not isinstance(groups, list):
        raise WeightsError(f"{model_json}: 'weightsManifest' must be a list of groups")

    base = model_json.rsplit("/", 1)[0] + "/" if "/" in model_json else ""
    weights: dict[str, np.ndarray] = {}
    for g, group in enumerate(groups):
        _read_weight_group(resolve, base, group, f"{model_json} weightsManifest[{g}]", weights)

    meta = {k: v for k, v in doc.items() if k not in ("modelTopology", "weightsManifest")}
    meta["model_json"] = model_json
    fmt = doc.get("format", "graph-model")
    return GraphModel(nodes=nodes, weights=weights, fmt=fmt if isinstance(fmt, str) else "graph-model", meta=meta)


def _graph_nodes(topology: dict[str, Any], model_json: str) -> list[dict[str, Any]]:
    """The GraphDef's nodes, each checked to have a string name and op, a list of string inputs and attrs."""
    nodes = topology.get("node")
    if not isinstance(nodes, list) or not nodes:
        raise WeightsError(f"{model_json}: modelTopology has no 'node' list")
    for i, node in enumerate(nodes):
        if not isinstance(node, dict) or not isinstance(node.get("name"), str) or not isinstance(node.get("op"), str):
            raise WeightsError(f"{model_json}: node {i} needs string 'name' and 'op'")
        inputs = node.get("input", [])
        if not isinstance(inputs, list) or not all(isinstance(x, str) for x in inputs):
            raise WeightsError(f"{model_json}: node {node['name']!r} has a malformed 'input' list")
        if not isinstance(node.get("attr", {}), dict):
            raise WeightsError(f"{model_json}: node {node['name']!r} has a malformed 'attr'")
    return nodes


def _read_weight_group(resolve: Resolver, base: str, group: object, where: str, weights: dict[str, np.ndarray]
                       ) -> None:
    """Add one manifest group's weights to `weights`: its shards concatenated in order, which must hold
    exactly the bytes its weights need, sliced off one after the other and dequantised."""
    if not isinstance(group, dict):
        raise WeightsError(f"{where}: expected an object with paths and weights")
    paths, entries = group.get("paths"), group.get("weights")
    if not isinstance(paths, list) or not isinstance(entries, list):
        raise WeightsError(f"{where}: needs a 'paths' list and a 'weights' list")
    specs = [_weight_spec(e, f"{where}.weights[{i}]") for i, e in enumerate(entries)]
    expected = sum(s[2] for s in specs)
    files = [(rel, _resolve(resolve, base + _check_relpath(rel, f"{where}.paths"))) for rel in paths]
    sizes = []
    for rel, path in files:
        try:
            sizes.append(path.stat().st_size)
        except OSError as e:
            raise WeightsError(f"cannot read model file {rel!r}: {_reason(e)}") from None
    if sum(sizes) != expected:
        names = ", ".join(str(rel) for rel, _ in files) or "(no shards)"
        raise WeightsError(
            f"{where}: shards {names} hold {sum(sizes)} bytes but the manifest's weights need {expected}; "
            f"{'a shard is truncated or missing' if sum(sizes) < expected else 'the shards are too long'}"
        )
    blob = b"".join(_read_bytes(path, rel) for rel, path in files)
    if len(blob) != expected:
        raise WeightsError(f"{where}: read {len(blob)} bytes, expected {expected}")
    pos = 0
    for name, _shape, nbytes, decode in specs:
        if name in weights:
            raise WeightsError(f"{where}: weight {name!r} appears twice")
        weights[name] = decode(blob[pos:pos + nbytes])
        pos += nbytes
