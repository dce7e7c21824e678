"""End-to-end conformance: the Python API on the real weights against Google's tfjs results.

For every configuration in ../shared/reference/ the shared photos go through PoseNet (download via the
loopback mirror, conversion, SavedModel, sizing, decoding, mapping back) and the keypoints are compared
with the reference's: median position error <= 0.05 px, >= 99% of keypoints within 0.5 px, and the
number of multi-pose results equal on >= 95% of images.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest

from posenet_cli.decode import TFJS_MULTI, DecoderOptions
from posenet_cli.pose import Pose
from posenet_cli.sizing import SizingOptions

from conftest import HAVE_SHARED, SHARED

CONFIGS = sorted(p.stem for p in (SHARED / "reference").glob("*.json")) if HAVE_SHARED else []


def model_for(config: dict) -> tuple[str, int]:
    """The registry model and stride that a reference configuration used."""
    stride = config["outputStride"]
    if config["api"] == 1:
        return f"mobilenet-v1-{round(config['multiplier'] * 100):03d}", stride
    assert config["model"] == "savedmodel/posenet/mobilenet/quant2/075/model-stride16.json"
    return "mobilenet-v1-075-quant2", stride


def settings_for(config: dict) -> tuple[SizingOptions, DecoderOptions, DecoderOptions]:
    """The sizing, and the single- and multi-pose decoders, of a reference configuration."""
    if config["api"] == 1:
        sizing = SizingOptions(scale_factor=config["imageScaleFactor"])
    else:
        res = config["inputResolution"]
        sizing = SizingOptions(resolution=(res["width"], res["height"]))
    m, flip = config["multi"], bool(config.get("flipHorizontal", False))
    multi = replace(TFJS_MULTI, max_poses=m["maxDetections"], score_threshold=m["scoreThreshold"],
                    nms_radius=m["nmsRadius"], refine_steps=1 if config["api"] == 1 else 2, mirror=flip)
    return sizing, replace(multi, multi=False), multi


def position_errors(ours: list[Pose], theirs: list[dict]) -> list[float]:
    """Per-keypoint distances between poses paired in order (the shorter list decides the pairs)."""
    errors: list[float] = []
    for mine, ref in zip(ours, theirs):
        ref_kp = Pose.from_dict(ref).keypoints
        errors.extend(np.hypot(*(mine.keypoints[:, :2] - ref_kp[:, :2]).T).tolist())
    return errors


@pytest.mark.parametrize("config_name", CONFIGS)
def test_keypoints_match_the_reference(shared: Path, posenet_factory, config_name: str):
    doc = json.loads((shared / "reference" / f"{config_name}.json").read_text())
    config = doc["config"]
    net = posenet_factory(*model_for(config))
    sizing, single_decoder, multi_decoder = settings_for(config)
    errors: list[float] = []
    counts_equal = 0
    score_errors: list[float] = []
    for result in doc["results"]:
        image = cv2.imread(str(shared / result["image"]))
        plan, outputs = net.infer(image, sizing, bgr=True)
        single = net.decode(plan, outputs, single_decoder)
        poses = net.decode(plan, outputs, multi_decoder)
        errors += position_errors(single, [result["single"]])
        errors += position_errors(poses, result["multi"])
        counts_equal += len(poses) == len(result["multi"])
        score_errors += [abs(p.score - r["score"]) for p, r in zip(poses, result["multi"])]
    errors_arr = np.array(errors)
    median = float(np.median(errors_arr))
    within = float(np.mean(errors_arr <= 0.5))
    count_rate = counts_equal / len(doc["results"])
    print(f"\n{config_name}: {len(errors_arr)} keypoints, median error {median:.4f} px, "
          f"{100 * within:.2f}% within 0.5 px, max {errors_arr.max():.2f} px; multi-pose count equal on "
          f"{counts_equal}/{len(doc['results'])} images; max pose score error {max(score_errors):.1e}")
    assert median <= 0.05
    assert within >= 0.99
    assert count_rate >= 0.95
