"""The SavedModel path: export, load with ModelRunner, and conformance with the tfjs reference tensors.

Raw conformance: for every dumped reference configuration (`../shared/reference/raw/<config>/*.npz`) the
network input is run through a SavedModel exported from the real weights and loaded back, and the outputs
must match the reference: heatmap scores within 1e-4, offsets and displacements within 5e-3 px.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from fakes import resnet_graph, write_graph_model

from posenet_cli.models.graph_import import build_graph_model
from posenet_cli.models.network import OUTPUT_CHANNELS, OUTPUT_NAMES, build_mobilenet_v1
from posenet_cli.models.savedmodel import METADATA_PATH, ModelRunner, SavedModelError, export_savedmodel
from posenet_cli.models.weights import WeightsError, read_checkpoint, read_graph_model

REFERENCE_KEYS = {"heatmap_scores": "heatmapScores", "offsets": "offsets", "displacement_fwd": "displacementFwd",
                  "displacement_bwd": "displacementBwd"}
TOLERANCE = {"heatmap_scores": 1e-4, "offsets": 5e-3, "displacement_fwd": 5e-3, "displacement_bwd": 5e-3}


def model_for_config(shared: Path, config: str) -> tuple[tf.Module, dict]:
    """The network a reference configuration used, from its name (v1-m050-s16-..., v2-q2m075-s16-...)."""
    version, model, stride = config.split("-")[:3]
    stride = int(stride.removeprefix("s"))
    models = shared / "models"
    if version == "v1":
        folder = models / "weights" / "posenet" / f"mobilenet_v1_{model.removeprefix('m')}"
        net = build_mobilenet_v1(read_checkpoint(lambda rel: folder / rel), stride)
        return net, {"source": str(folder), "output_stride": stride}
    assert model.startswith("q2m"), config
    folder = models / "savedmodel" / "posenet" / "mobilenet" / "quant2" / model.removeprefix("q2m")
    net = build_graph_model(read_graph_model(lambda rel: folder / rel, f"model-stride{stride}.json"), "mobilenet")
    return net, {"source": str(folder / f"model-stride{stride}.json"), "output_stride": stride}


@pytest.fixture(scope="session")
def exported(shared: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One SavedModel per distinct network among the raw reference configs, exported once per session."""
    root = tmp_path_factory.mktemp("savedmodels")
    out = {}
    for config in sorted(p.name for p in (shared / "reference" / "raw").iterdir() if p.is_dir()):
        key = "-".join(config.split("-")[:3])  # v2-q2m075-s16-r257 and -r513 share one network
        if key not in out:
            net, meta = model_for_config(shared, config)
            export_savedmodel(net, root / key, meta)
            out[key] = root / key
        out[config] = out[key]
    return out


def raw_configs() -> list[str]:
    from conftest import HAVE_SHARED, SHARED

    if not HAVE_SHARED:
        return ["(shared folder absent)"]
    return sorted(p.name for p in (SHARED / "reference" / "raw").iterdir() if p.is_dir())


@pytest.mark.model
@pytest.mark.parametrize("config", raw_configs())
def test_raw_conformance(shared: Path, exported: dict[str, Path], config: str) -> None:
    runner = ModelRunner.load(exported[config])
    files = sorted((shared / "reference" / "raw" / config).glob("*.npz"))
    assert files and runner.output_stride == int(config.split("-")[2].removeprefix("s"))
    worst = dict.fromkeys(OUTPUT_NAMES, 0.0)
    by_shape: dict[tuple, list[dict]] = {}
    for path in files:
        with np.load(path) as npz:
            ref = {k: npz[k] for k in npz.files}
        by_shape.setdefault(ref["input"].shape, []).append(ref)
    for refs in by_shape.values():  # batch the images of one size together: also checks batching
        out = runner(np.stack([r["input"] for r in refs]))
        for i, ref in enumerate(refs):
            for name in OUTPUT_NAMES:
                assert out[name][i].shape == ref[REFERENCE_KEYS[name]].shape
                worst[name] = max(worst[name], float(np.abs(out[name][i] - ref[REFERENCE_KEYS[name]]).max()))
    print(f"\n{config}: {len(files)} images, max abs error " + ", ".join(f"{k} {v:.2e}" for k, v in worst.items()))
    for name in OUTPUT_NAMES:
        assert worst[name] <= TOLERANCE[name], f"{config} {name}: max error {worst[name]:.3g}"


# ----------------------------------------------------------------------------------------------------
# Export


@pytest.fixture(scope="module")
def resnet_module(tmp_path_factory: pytest.TempPathFactory) -> tf.Module:
    folder = tmp_path_factory.mktemp("resnet")
    write_graph_model(folder, resnet_graph(16), "model-stride16.json", quant="uint8")
    return build_graph_model(read_graph_model(lambda rel: folder / rel), "resnet50")


def test_export_and_load_roundtrip(tmp_path: Path, resnet_module: tf.Module) -> None:
    out = tmp_path / "models" / "resnet-stride16"
    export_savedmodel(resnet_module, out, {"name": "fake-resnet", "source": "tests", "quantization": "uint8"})
    assert sorted(p.name for p in out.parent.iterdir()) == ["resnet-stride16"]  # no temp dirs left
    meta = json.loads((out / METADATA_PATH).read_text())
    assert meta["architecture"] == "resnet50" and meta["output_stride"] == 16 and meta["name"] == "fake-resnet"
    assert set(meta["signature"]["outputs"]) == set(OUTPUT_NAMES)
    runner = ModelRunner.load(out)
    assert runner.output_stride == 16 and runner.metadata["source"] == "tests"
    images = np.random.default_rng(4).uniform(0, 255, (3, 97, 129, 3)).astype(np.float32)
    got, want = runner(images), resnet_module(images)
    for name in OUTPUT_NAMES:
        np.testing.assert_allclose(got[name], want[name], rtol=1e-5, atol=1e-5)
    one = runner(images[0])  # [h, w, 3] runs as a batch of one
    assert one["offsets"].shape == (1, 7, 9, 34)
    np.testing.assert_allclose(one["offsets"][0], got["offsets"][0], rtol=1e-4, atol=1e-4)


def test_export_replaces_atomically(tmp_path: Path, resnet_module: tf.Module) -> None:
    out = tmp_path / "m"
    export_savedmodel(resnet_module, out, {"source": "first"})
    export_savedmodel(resnet_module, out, {"source": "second"})
    assert ModelRunner.load(out).metadata["source"] == "second"
    assert os.listdir(tmp_path) == ["m"]
    with pytest.raises(ValueError, match="the network has output stride 16, but the metadata says 8"):
        export_savedmodel(resnet_module, tmp_path / "wrong", {"output_stride": 8})
    assert os.listdir(tmp_path) == ["m"]  # nothing half-written left behind


def test_runner_input_errors(tmp_path: Path, resnet_module: tf.Module) -> None:
    export_savedmodel(resnet_module, tmp_path / "m", {})
    runner = ModelRunner.load(tmp_path / "m")
    with pytest.raises(ValueError, match=r"expected RGB images .* got shape \[2, 33, 33, 4\]"):
        runner(np.zeros((2, 33, 33, 4), np.float32))
    with pytest.raises(ValueError, match=r"got shape \[33\]"):
        runner(np.zeros(33, np.float32))


# ----------------------------------------------------------------------------------------------------
# SavedModels made elsewhere


class _UserModel(tf.Module):
    """A user's own conversion: the signature, nothing else (no metadata file); stride 8 by pooling."""

    @tf.function(input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32, name="image")])
    def serve(self, image: tf.Tensor) -> dict[str, tf.Tensor]:
        x = tf.nn.avg_pool2d(image / 255.0, 8, 8, "SAME")
        mean = tf.reduce_mean(x, axis=-1, keepdims=True)
        return {name: tf.tile(mean, [1, 1, 1, c]) for name, c in OUTPUT_CHANNELS.items()}


def test_runner_loads_user_savedmodel_and_probes_stride(tmp_path: Path) -> None:
    module = _UserModel()
    tf.saved_model.save(module, str(tmp_path / "user"), signatures={"serving_default": module.serve})
    runner = ModelRunner.load(tmp_path / "user")
    assert runner.output_stride == 8 and runner.metadata == {"path": str(tmp_path / "user")}
    out = runner(np.full((2, 65, 33, 3), 255.0, np.float32))
    assert out["heatmap_scores"].shape == (2, 9, 5, 17) and out["displacement_bwd"].shape == (2, 9, 5, 32)


def test_runner_rejects_other_savedmodels(tmp_path: Path) -> None:
    with pytest.raises(SavedModelError, match="not a SavedModel directory"):
        ModelRunner.load(tmp_path)
    module = tf.Module()
    module.f = tf.function(lambda image: {"heatmap": image}, input_signature=[tf.TensorSpec([None, None, None, 3])])
    tf.saved_model.save(module, str(tmp_path / "other"), signatures={"serving_default": module.f})
    with pytest.raises(SavedModelError, match="lacks output.* heatmap_scores, offsets, displacement_fwd"):
        ModelRunner.load(tmp_path / "other")
    assert issubclass(SavedModelError, WeightsError)
