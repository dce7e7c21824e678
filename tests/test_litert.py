"""The LiteRT backend: estimation with no TensorFlow in the process once the `.tflite` is cached, the same
results as TensorFlow's, the cache converting again when its source changes, int8 models made from
calibration photos, and everything on TensorFlow when LiteRT is not installed.

A module is "not installed" for a run of the command in a fresh process whose `sys.modules` maps it to
None: importing it then fails as it would without the package, and `importlib.util.find_spec` finds
nothing. End-to-end agreement with Google's reference on LiteRT is in test_conformance.py.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from posenet_cli.models import ModelRef
from posenet_cli.models.backend import litert_model
from posenet_cli.models.environment import tensorflow_version
from posenet_cli.models.litert_runner import cached_model, model_dir, read_model_metadata

from conftest import REPO, needs_litert, posenet

PHOTO = "data/images/tfjs-demo/tennis_in_crowd.jpg"
CLIP = "data/videos/street-5frames.mp4"
_WITHOUT = "import sys\nsys.modules[sys.argv[1]] = None\nfrom posenet_cli.cli import main\nsys.exit(main(sys.argv[2:]))"


def posenet_without(module: str, *args: object, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`posenet ARGS` in a fresh process where `module` cannot be imported."""
    return subprocess.run([sys.executable, "-c", _WITHOUT, module, *map(str, args)], capture_output=True,
                          text=True, env={**env, "PYTHONPATH": str(REPO)}, cwd=REPO, timeout=300)


def keypoints(record: dict) -> np.ndarray:
    """[poses, 17, 3] (x, y, score) of an image or frame record."""
    return np.array([[[k["position"]["x"], k["position"]["y"], k["score"]] for k in p["keypoints"]]
                     for p in record["poses"]])


@needs_litert
def test_a_cached_model_estimates_without_tensorflow(shared: Path, env: dict[str, str]):
    photo = shared / PHOTO
    assert posenet("models", "fetch", "mobilenet-v1-075", "--backend", "litert").code == 0  # converts, with TF
    done = posenet_without("tensorflow", "image", photo, "--multi", "--backend", "litert", env=env)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""  # LiteRT's start-up notice is kept off stderr too
    on_tensorflow = posenet("image", photo, "--multi", "--backend", "tensorflow")
    ours, theirs = keypoints(json.loads(done.stdout)), keypoints(json.loads(on_tensorflow.out))
    assert ours.shape == theirs.shape and len(ours) >= 3
    assert np.abs(ours - theirs).max() < 0.05  # float32 arithmetic in another order; conformance has the rest

    video = posenet_without("tensorflow", "video", shared / CLIP, "--multi", env=env)  # auto picks LiteRT
    assert video.returncode == 0, video.stderr
    frames = [json.loads(line) for line in video.stdout.splitlines()]
    assert [f["frame"] for f in frames] == [0, 1, 2, 3, 4] and all(f["poses"] for f in frames)


@pytest.mark.slow
def test_without_litert_everything_runs_on_tensorflow(shared: Path, env: dict[str, str]):
    photo = shared / PHOTO
    done = posenet_without("ai_edge_litert", "image", photo, "--multi", env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout == posenet("image", photo, "--multi", "--backend", "tensorflow").out
    info = posenet_without("ai_edge_litert", "models", "info", "mobilenet-v1-075", env=env)
    assert info.returncode == 0 and json.loads(info.stdout)["backend"] == "tensorflow"
    for option in ("--backend=litert", "--int8"):
        refused = posenet_without("ai_edge_litert", "image", photo, option, env=env)
        assert refused.returncode == 1 and refused.stdout == ""
        assert refused.stderr.startswith("posenet: error: ") and len(refused.stderr.splitlines()) == 1


@needs_litert
def test_the_tflite_is_made_again_when_the_savedmodel_or_tensorflow_changes(tmp_path: Path, env: dict[str, str]):
    ref = ModelRef("mobilenet-v1-075", 16, backend="litert").resolve()
    cache = tmp_path / "cache"
    made = litert_model(Path(ref.path), cache)
    assert read_model_metadata(made.parent)["tensorflow"] == tensorflow_version()
    meta_path = made.parent / "posenet.json"
    meta_path.write_text(json.dumps({**json.loads(meta_path.read_text()), "tensorflow": "2.0.0"}))
    assert cached_model(Path(ref.path), cache, "float32", tensorflow_version()) is None
    assert cached_model(Path(ref.path), cache, "float32", None) == made  # no TensorFlow: any will do
    assert read_model_metadata(litert_model(Path(ref.path), cache).parent)["tensorflow"] == tensorflow_version()

    changed = tmp_path / "changed"
    shutil.copytree(ref.path, changed)
    (changed / "fingerprint.pb").write_bytes(b"another model")
    assert model_dir(changed, cache, "float32") != model_dir(Path(ref.path), cache, "float32")
    assert cached_model(changed, cache, "float32") is None


@pytest.mark.slow
@needs_litert
def test_int8_is_made_from_calibration_photos_and_run_by_int8(shared: Path, env: dict[str, str], tmp_path: Path):
    model = ModelRef("mobilenet-v1-050", 16).resolve().path
    refused = posenet("image", shared / PHOTO, "--model", model, "--int8", "--cache-dir", tmp_path)
    assert refused.code == 1 and "posenet models quantize" in refused.err

    calibration = sorted((shared / "data" / "images" / "tfjs-demo").glob("*.jpg"))[:4]
    for bad in ("first", "0,99"):  # not numbers; no such layer
        wrong = posenet("models", "quantize", "mobilenet-v1-050", "-c", calibration[0], "--float-layers", bad)
        assert wrong.code == 1 and len(wrong.err.splitlines()) == 1 and "layer" in wrong.err
    made = posenet("models", "quantize", "mobilenet-v1-050", *[a for p in calibration for a in ("-c", p)])
    assert made.code == 0, made.err
    info = json.loads(posenet("models", "info", "mobilenet-v1-050", "--int8").out)
    assert info["backend"] == "litert int8"
    assert info["cached"]["litert int8"]["calibration"].startswith("4 files")

    photo = shared / "data" / "images" / "coral" / "couple.jpg"  # not among the calibration photos
    one = ("--single", "--min-pose-score", "0")  # the one best pose of each, to compare keypoint by keypoint
    as_float = keypoints(json.loads(posenet("image", photo, "--model", "mobilenet-v1-050", *one).out))[0]
    int8_record = json.loads(posenet("image", photo, "--model", "mobilenet-v1-050", "--int8", *one).out)
    assert int8_record["settings"]["int8"] is True  # a result says it came from the int8 model
    as_int8 = keypoints(int8_record)[0]
    sure = as_float[:, 2] > 0.5
    distances = np.hypot(*(as_int8[sure, :2] - as_float[sure, :2]).T)
    assert sure.sum() >= 8
    assert 0 < np.median(distances) < 4  # another model (int8), yet the same keypoints to a few pixels

    again = posenet("models", "quantize", "mobilenet-v1-050", "-c", calibration[0], "--float-layers", "none")
    assert again.code == 0, again.err
    replaced = [line for line in again.err.splitlines() if "replacing" in line]
    assert replaced == [f"posenet: replacing the int8 model of mobilenet-v1-050 calibrated on "
                        f"{info['cached']['litert int8']['calibration']} (float32: heads + backbone layers "
                        f"[0, 1, 3, 5, 7]): {again.out.strip()}"]

