"""The weight readers: both official formats on the real shared files, generated ones, and broken ones."""

from __future__ import annotations

import json
import math
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
from fakes import GraphBuilder, fake_checkpoint, write_graph_model
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from posenet_cli.models.weights import GraphModel, WeightsError, read_checkpoint, read_graph_model


def folder_resolver(folder: Path):
    return lambda rel: folder / rel


# ----------------------------------------------------------------------------------------------------
# Real shared weights


@pytest.mark.model
@pytest.mark.parametrize("multiplier", ["050", "075"])
def test_read_real_checkpoint(shared: Path, multiplier: str) -> None:
    folder = shared / "models" / "weights" / "posenet" / f"mobilenet_v1_{multiplier}"
    weights = read_checkpoint(folder_resolver(folder))
    manifest = json.loads((folder / "manifest.json").read_text())
    assert set(weights) == set(manifest) and len(weights) == 70
    for name, entry in manifest.items():
        assert weights[name].shape == tuple(entry["shape"]) and weights[name].dtype == np.float32
    raw = np.fromfile(folder / "MobilenetV1_Conv2d_0_weights", "<f4")
    np.testing.assert_array_equal(weights["MobilenetV1/Conv2d_0/weights"].ravel(), raw)


@pytest.mark.model
def test_read_real_quantised_graph_model(shared: Path) -> None:
    folder = shared / "models" / "savedmodel" / "posenet" / "mobilenet" / "quant2" / "075"
    model = read_graph_model(folder_resolver(folder), "model-stride16.json")
    assert isinstance(model, GraphModel) and model.fmt == "graph-model"
    doc = json.loads((folder / "model-stride16.json").read_text())
    entries = doc["weightsManifest"][0]["weights"]
    assert len(model.nodes) == len(doc["modelTopology"]["node"]) and len(model.weights) == len(entries)
    # Dequantisation is min + scale * q in float64, then float32 (what TF.js does); check every weight.
    blob = (folder / "group1-shard1of1.bin").read_bytes()
    pos, float32_math_differs = 0, 0
    for e in entries:
        q = np.frombuffer(blob, "<u2", count=math.prod(e["shape"]), offset=pos)
        pos += q.nbytes
        want = (q.astype(np.float64) * e["quantization"]["scale"] + e["quantization"]["min"]).astype(np.float32)
        np.testing.assert_array_equal(model.weights[e["name"]].ravel(), want)
        naive = q.astype(np.float32) * np.float32(e["quantization"]["scale"]) + np.float32(e["quantization"]["min"])
        float32_math_differs += int(np.any(naive != want))
    assert pos == len(blob)
    assert float32_math_differs > 0  # the float64 path matters on these very weights


# ----------------------------------------------------------------------------------------------------
# Generated files in the official formats


def test_checkpoint_roundtrip(tmp_path: Path, shared: Path) -> None:
    values = fake_checkpoint(tmp_path, shared / "models" / "manifests-only" / "mobilenet_v1_101" / "manifest.json")
    weights = read_checkpoint(folder_resolver(tmp_path))
    assert set(weights) == set(values) and len(weights) == 82
    for name, value in values.items():
        np.testing.assert_array_equal(weights[name], value)


@pytest.mark.parametrize("quant", [None, "uint8", "uint16"])
@pytest.mark.parametrize("n_shards", [1, 3])
def test_graph_model_roundtrip(tmp_path: Path, quant: str | None, n_shards: int) -> None:
    g = GraphBuilder()
    rng = np.random.default_rng(3)
    values = {f"w{i}": rng.normal(0, 1, shape).astype(np.float32)
              for i, shape in enumerate([(3, 3, 3, 5), (5,), (1, 1, 5, 7), (), (0,)])}
    for name, v in values.items():
        g.const(name, v)
    g.const("axes", np.array([1, 2], np.int32))
    write_graph_model(tmp_path, g, "m.json", quant=quant, n_shards=n_shards)
    model = read_graph_model(folder_resolver(tmp_path), "m.json")
    np.testing.assert_array_equal(model.weights["axes"], [1, 2])
    assert model.weights["axes"].dtype == np.int32
    for name, v in values.items():
        got = model.weights[name]
        assert got.shape == v.shape and got.dtype == np.float32
        if v.size:
            step = {None: 0.0, "uint8": 1 / 255, "uint16": 1 / 65535}[quant] * float(np.ptp(v))
            assert np.abs(got - v).max() <= step / 2 + 1e-6


def _write_doc(folder: Path, doc: dict, shards: dict[str, bytes]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model.json").write_text(json.dumps(doc))
    for rel, data in shards.items():
        (folder / rel).write_bytes(data)


def _doc(weights: list[dict], paths: list[str] | None = None) -> dict:
    return {"format": "graph-model", "modelTopology": {"node": [{"name": "x", "op": "Placeholder"}]},
            "weightsManifest": [{"paths": paths or ["a.bin"], "weights": weights}]}


def test_graph_model_dtypes(tmp_path: Path) -> None:
    """int32, bool, float16 storage and quantised int32 (rounded), as newer TF.js converters write them."""
    weights = [
        {"name": "i", "shape": [3], "dtype": "int32"},
        {"name": "b", "shape": [2], "dtype": "bool"},
        {"name": "h", "shape": [2], "dtype": "float32", "quantization": {"dtype": "float16"}},
        {"name": "qi", "shape": [2], "dtype": "int32", "quantization": {"dtype": "uint8", "min": -1.0, "scale": 0.5}},
    ]
    data = (np.array([1, -2, 3], "<i4").tobytes() + bytes([1, 0]) + np.array([0.5, -2], "<f2").tobytes()
            + bytes([0, 6]))
    _write_doc(tmp_path, _doc(weights), {"a.bin": data})
    w = read_graph_model(folder_resolver(tmp_path), "model.json").weights
    np.testing.assert_array_equal(w["i"], [1, -2, 3])
    np.testing.assert_array_equal(w["b"], [True, False])
    np.testing.assert_array_equal(w["h"], np.array([0.5, -2], np.float32))
    np.testing.assert_array_equal(w["qi"], [-1, 2])  # -1 + 0.5 * q


def test_graph_model_shards_relative_to_model_json(tmp_path: Path) -> None:
    _write_doc(tmp_path / "sub", _doc([{"name": "w", "shape": [2], "dtype": "float32"}]),
               {"a.bin": np.array([1, 2], "<f4").tobytes()})
    model = read_graph_model(folder_resolver(tmp_path), "sub/model.json")
    np.testing.assert_array_equal(model.weights["w"], [1, 2])


# ----------------------------------------------------------------------------------------------------
# Errors: one WeightsError with a clear message


def _small_checkpoint(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    manifest = {"MobilenetV1/a": {"filename": "a", "shape": [2, 3]}, "MobilenetV1/b": {"filename": "b", "shape": [4]}}
    (folder / "manifest.json").write_text(json.dumps(manifest))
    (folder / "a").write_bytes(np.zeros(6, "<f4").tobytes())
    (folder / "b").write_bytes(np.zeros(4, "<f4").tobytes())


def test_checkpoint_errors(tmp_path: Path) -> None:
    resolve = folder_resolver(tmp_path)
    with pytest.raises(WeightsError, match=r"missing model file 'manifest.json'"):
        read_checkpoint(resolve)
    _small_checkpoint(tmp_path)
    assert read_checkpoint(resolve)["MobilenetV1/a"].shape == (2, 3)

    (tmp_path / "a").write_bytes(b"\0" * 20)
    message = r"a: 20 bytes but variable 'MobilenetV1/a' of shape \[2, 3\] needs 24 .*truncated"
    with pytest.raises(WeightsError, match=message):
        read_checkpoint(resolve)
    (tmp_path / "a").write_bytes(b"\0" * 28)
    with pytest.raises(WeightsError, match="too long"):
        read_checkpoint(resolve)
    (tmp_path / "a").unlink()
    with pytest.raises(WeightsError, match=r"missing model file 'a'"):
        read_checkpoint(resolve)
    (tmp_path / "manifest.json").write_text('{"MobilenetV1/a": {"filename": "a", ')
    with pytest.raises(WeightsError, match=r"manifest.json: bad JSON \(.* line 1 column"):
        read_checkpoint(resolve)
    (tmp_path / "manifest.json").write_text('{"v": {"filename": "../etc/passwd", "shape": [1]}}')
    with pytest.raises(WeightsError, match="outside the model folder"):
        read_checkpoint(resolve)
    (tmp_path / "manifest.json").write_text('{"v": {"filename": "b", "shape": [-1]}}')
    with pytest.raises(WeightsError, match="non-negative integers"):
        read_checkpoint(resolve)


def test_checkpoint_resolver_failures(tmp_path: Path) -> None:
    """A resolver that cannot supply a file (KeyError from a dict, OSError from a cache) is a missing file."""
    _small_checkpoint(tmp_path)
    files = {"manifest.json": tmp_path / "manifest.json", "a": tmp_path / "a"}
    with pytest.raises(WeightsError, match=r"missing model file 'b'"):
        read_checkpoint(lambda rel: files[rel])

    def failing(rel: str) -> Path:
        raise FileNotFoundError(2, "No such file or directory")

    with pytest.raises(WeightsError, match=r"missing model file 'manifest.json': No such file"):
        read_checkpoint(failing)


def test_graph_model_errors(tmp_path: Path) -> None:
    resolve = folder_resolver(tmp_path)
    w = [{"name": "w", "shape": [2, 2], "dtype": "float32"}, {"name": "v", "shape": [3], "dtype": "float32"}]
    good = np.arange(7, dtype="<f4").tobytes()
    _write_doc(tmp_path, _doc(w, ["s1.bin", "s2.bin"]), {"s1.bin": good[:10], "s2.bin": good[10:]})
    model = read_graph_model(resolve, "model.json")
    np.testing.assert_array_equal(model.weights["v"], [4, 5, 6])  # sliced across the shard border

    (tmp_path / "s2.bin").write_bytes(good[10:-1])
    message = r"shards s1.bin, s2.bin hold 27 bytes but the manifest's weights need 28.*truncated"
    with pytest.raises(WeightsError, match=message):
        read_graph_model(resolve, "model.json")
    (tmp_path / "s2.bin").unlink()
    with pytest.raises(WeightsError, match=r"missing model file 's2.bin'"):
        read_graph_model(resolve, "model.json")
    with pytest.raises(WeightsError, match=r"missing model file 'model-stride8.json'"):
        read_graph_model(resolve, "model-stride8.json")

    for weights, message in [
        ([{"name": "w", "shape": [1], "dtype": "float64"}], "unknown dtype 'float64'"),
        ([{"name": "w", "shape": [1], "dtype": "float32", "quantization": {"dtype": "int4", "min": 0, "scale": 1}}],
         "unknown quantization dtype 'int4'"),
        ([{"name": "w", "shape": [1], "dtype": "float32", "quantization": {"dtype": "uint8", "min": 0}}],
         "needs 'min' and 'scale'"),
        ([{"name": "w", "shape": "4", "dtype": "float32"}], "shape must be a list"),
        ([{"shape": [1], "dtype": "float32"}], "non-empty string 'name'"),
    ]:
        _write_doc(tmp_path, _doc(weights), {"a.bin": b"\0\0\0\0"})
        with pytest.raises(WeightsError, match=message):
            read_graph_model(resolve, "model.json")

    (tmp_path / "model.json").write_text("[1, 2")
    with pytest.raises(WeightsError, match=r"model.json: bad JSON"):
        read_graph_model(resolve, "model.json")
    (tmp_path / "model.json").write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(WeightsError, match="not UTF-8"):
        read_graph_model(resolve, "model.json")
    (tmp_path / "model.json").write_text('{"w": {"filename": "w", "shape": [1]}}')
    with pytest.raises(WeightsError, match="1.x checkpoint manifest, not a graph model"):
        read_graph_model(resolve, "model.json")
    (tmp_path / "model.json").write_text('{"modelTopology": {"node": [{"name": 3}]}, "weightsManifest": []}')
    with pytest.raises(WeightsError, match="node 0 needs string 'name' and 'op'"):
        read_graph_model(resolve, "model.json")


# ----------------------------------------------------------------------------------------------------
# Fuzzing: whatever the files hold, the readers return or raise WeightsError, nothing else, quickly.

_json = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 1 << 40) | st.floats(allow_nan=True) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
_BYTES = {"float32": 4, "int32": 4, "bool": 1, "uint8": 1, "float16": 2, "complex64": 8}
_QBYTES = {"uint8": 1, "uint16": 2, "float16": 2}


def _maybe(draw: st.DrawFn, valid: object, p_broken: float = 0.1) -> object:
    """Mostly the valid value; sometimes arbitrary JSON in its place."""
    return draw(_json) if _chance(draw, p_broken) else valid


def _chance(draw: st.DrawFn, p: float) -> bool:
    # sampled_from picks uniformly while generating (floats() favours edge values like 0.0).
    return draw(st.sampled_from(range(100))) < p * 100


@st.composite
def _checkpoint_files(draw: st.DrawFn) -> tuple[bytes, dict[str, bytes]]:
    """A checkpoint folder that is nearly right: shapes, names and file sizes perturbed now and then."""
    if _chance(draw, 0.1):
        return draw(st.binary(max_size=40)), {}
    manifest, files = {}, {}
    for i in range(draw(st.sampled_from(range(4)))):
        shape = draw(st.lists(st.integers(0, 4), max_size=4))
        rel = f"v{i}" if _chance(draw, 0.85) else draw(st.sampled_from(["../x", "", "/abs", "a" * 300]))
        manifest[draw(st.text(max_size=4)) + str(i)] = _maybe(draw, {"filename": _maybe(draw, rel),
                                                                      "shape": _maybe(draw, shape)})
        if _chance(draw, 0.9):
            size = max(0, math.prod(shape) * 4 + draw(st.sampled_from([0, 0, 0, -1, 1, -4, 4])))
            files[f"v{i}"] = draw(st.binary(min_size=size, max_size=size))
    return json.dumps(_maybe(draw, manifest, 0.05)).encode(), files


@st.composite
def _graph_files(draw: st.DrawFn) -> tuple[str, dict[str, bytes]]:
    """A graph model that is nearly right: dtypes, quantisation, shapes and shard sizes perturbed."""
    nodes = [{"name": "x", "op": "Placeholder"}, {"name": "w0", "op": "Const", "input": [], "attr": {}}]
    nodes = [_maybe(draw, n, 0.05) for n in nodes]
    groups, shards = [], {}
    for g in range(draw(st.integers(0, 2))):
        entries, total = [], 0
        for i in range(draw(st.integers(0, 3))):
            shape = draw(st.lists(st.integers(0, 4), max_size=3))
            dtype = draw(st.sampled_from(["float32", "float32", "int32", "bool", "uint8", "float16", "complex64",
                                          "string", "float64"]))
            entry: dict = {"name": f"w{g}_{i}", "shape": _maybe(draw, shape), "dtype": dtype}
            nbytes = _BYTES.get(dtype, 4)
            if dtype in ("float32", "int32") and draw(st.booleans()):
                qdtype = draw(st.sampled_from(["uint8", "uint16", "float16", "int4"]))
                entry["quantization"] = _maybe(draw, {"dtype": qdtype, "min": draw(st.floats(-2, 2)),
                                                      "scale": draw(st.floats(0, 1) | st.just(float("nan")))})
                nbytes = _QBYTES.get(qdtype, 1)
            entries.append(_maybe(draw, entry, 0.05))
            total += math.prod(shape) * nbytes
        total = max(0, total + draw(st.sampled_from([0, 0, 0, -1, 1, 3])))
        blob = draw(st.binary(min_size=total, max_size=total))
        n = draw(st.integers(0, 2))
        paths = [f"g{g}s{k}" for k in range(n)]
        cuts = sorted(draw(st.lists(st.integers(0, total), min_size=max(n - 1, 0), max_size=max(n - 1, 0))))
        for rel, a, b in zip(paths, [0, *cuts], [*cuts, total]):
            if _chance(draw, 0.95):
                shards[rel] = blob[a:b]
        groups.append(_maybe(draw, {"paths": _maybe(draw, paths, 0.05), "weights": entries}, 0.05))
    doc = {"format": "graph-model", "modelTopology": {"node": nodes}, "weightsManifest": groups}
    return json.dumps(_maybe(draw, doc, 0.05)), shards


def _kind(e: WeightsError) -> str:
    """A coarse class of the message, for hypothesis' statistics (which paths the fuzzing reached)."""
    for key in ("missing model file", "bytes but", "hold", "bad JSON", "unknown dtype", "unknown quantization",
                "shape must", "needs 'min'", "finite number", "outside the model folder", "needs a non-empty",
                "node", "expected", "twice", "not UTF-8"):
        if key in str(e):
            return key
    return str(e)[:60]


_fuzz = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_fuzz
@given(files=_checkpoint_files())
def test_fuzz_read_checkpoint(files: tuple[bytes, dict[str, bytes]]) -> None:
    manifest, data = files
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "manifest.json").write_bytes(manifest)
        for rel, blob in data.items():
            (folder / rel).write_bytes(blob)
        start = time.monotonic()
        try:
            weights = read_checkpoint(folder_resolver(folder))
        except WeightsError as e:
            assert str(e) and "\n" not in str(e)
            event(f"error: {_kind(e)}")
        else:
            event("read")
            assert all(isinstance(v, np.ndarray) and v.dtype == np.float32 for v in weights.values())
        assert time.monotonic() - start < 2


@_fuzz
@given(files=_graph_files())
def test_fuzz_read_graph_model(files: tuple[str, dict[str, bytes]]) -> None:
    doc, shards = files
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "model.json").write_text(doc)
        for rel, data in shards.items():
            (folder / rel).write_bytes(data)
        start = time.monotonic()
        try:
            model = read_graph_model(folder_resolver(folder), "model.json")
        except WeightsError as e:
            assert str(e) and "\n" not in str(e)
            event(f"error: {_kind(e)}")
        else:
            event("read")
            assert all(isinstance(v, np.ndarray) for v in model.weights.values())
        assert time.monotonic() - start < 2


# Fuzzing a good model cut or damaged: a manifest or model JSON truncated anywhere, a shard truncated or
# extended, a byte overwritten. A truncated file is always an error; the rest read or fail, but cleanly.


def _good_graph(folder: Path) -> None:
    g = GraphBuilder()
    rng = np.random.default_rng(5)
    for i, shape in enumerate([(3, 3, 3, 4), (4,), (1, 1, 4, 6)]):
        g.const(f"w{i}", rng.normal(0, 1, shape).astype(np.float32))
    write_graph_model(folder, g, "model.json", quant="uint8", n_shards=2)


_DAMAGE = st.sampled_from(["truncate", "extend", "overwrite"])


@_fuzz
@given(kind=st.sampled_from(["checkpoint", "graph"]), target=st.integers(0, 10), damage=_DAMAGE,
       where=st.floats(0, 1), byte=st.integers(0, 255))
def test_fuzz_damaged_real_shaped_models(kind: str, target: int, damage: str, where: float, byte: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        if kind == "checkpoint":
            _small_checkpoint(folder)
            read = lambda: read_checkpoint(folder_resolver(folder))  # noqa: E731
        else:
            _good_graph(folder)
            read = lambda: read_graph_model(folder_resolver(folder), "model.json")  # noqa: E731
        files = sorted(folder.iterdir())
        victim = files[target % len(files)]
        data = bytearray(victim.read_bytes())
        at = min(int(where * len(data)), len(data) - 1)
        if damage == "truncate":
            data = data[:at]
        elif damage == "extend":
            data += bytes([byte]) * (1 + at % 7)
        else:
            data[at] = byte
        victim.write_bytes(bytes(data))
        start = time.monotonic()
        try:
            read()
        except WeightsError as e:
            assert str(e) and "\n" not in str(e)
            event(f"{damage} {'json' if victim.suffix == '.json' else 'data'}: {_kind(e)}")
        else:
            # A cut or lengthened file never passes for a whole one.
            json_space = damage == "extend" and victim.suffix == ".json" and byte in b" \t\n\r"
            assert damage == "overwrite" or json_space, f"{damage} of {victim.name} was read as a good model"
            event(f"overwrite {'json' if victim.suffix == '.json' else 'data'}: read")
        assert time.monotonic() - start < 2
