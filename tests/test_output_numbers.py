"""What every format writes of a pose: the poses highest score first (--accurate too), positions at one
precision and scores at 4 decimals everywhere (the OpenPose neck and the box included), and a `bbox` per pose
in JSON and CSV that spans the keypoints scoring at least 0.5."""

from __future__ import annotations

import csv
import json
from decimal import Decimal

import pytest

from posenet_cli.keypoints import PART_NAMES

from conftest import posenet


def decimals(value: float) -> int:
    """Decimal places of a number as written (its shortest repr)."""
    exponent = Decimal(repr(float(value))).normalize().as_tuple().exponent
    return max(0, -int(exponent))


def naive_box(keypoints: list[tuple[float, float, float]]) -> list[float]:
    sure = [k for k in keypoints if k[2] >= 0.5] or keypoints
    xs, ys = [k[0] for k in sure], [k[1] for k in sure]
    return [min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)]


@pytest.fixture(scope="module")
def photo(shared):
    return shared / "data" / "images" / "tfjs-demo" / "tennis_in_crowd.jpg"


@pytest.mark.parametrize("extra", [(), ("--accurate",), ("--precision", "1")])
def test_json_poses_sorted_with_a_box_at_one_precision(env, photo, tmp_path, extra):
    code, out, err = posenet("image", photo, "--quiet", *extra)
    assert code == 0, err
    poses = json.loads(out)["poses"]
    places = int(extra[1]) if extra[:1] == ("--precision",) else 2
    assert len(poses) > 3
    scores = [p["score"] for p in poses]
    assert scores == sorted(scores, reverse=True)
    for p in poses:
        keypoints = [(k["position"]["x"], k["position"]["y"], k["score"]) for k in p["keypoints"]]
        assert p["bbox"] == pytest.approx(naive_box(keypoints), abs=1e-9)
        assert all(decimals(v) <= places for k in keypoints for v in k[:2]) and all(decimals(v) <= places
                                                                                     for v in p["bbox"])
        assert all(decimals(k[2]) <= 4 for k in keypoints) and decimals(p["score"]) <= 4


def test_csv_has_the_box_and_the_json_numbers(env, photo, tmp_path):
    code, out, err = posenet("image", photo, "--quiet")
    assert code == 0, err
    poses = json.loads(out)["poses"]
    code, _, err = posenet("image", photo, "--quiet", "--out", tmp_path / "p.csv")
    assert code == 0, err
    with (tmp_path / "p.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == len(poses)
    for row, p in zip(rows, poses):
        assert [float(row[f"bbox_{k}"]) for k in ("x", "y", "width", "height")] == p["bbox"]
        assert float(row["pose_score"]) == p["score"]
        assert [float(row[f"{name}_x"]) for name in PART_NAMES] == [k["position"]["x"] for k in p["keypoints"]]


def test_openpose_files_hold_one_precision_the_neck_too(env, photo, tmp_path):
    code, _, err = posenet("image", photo, "--quiet", "--format", "openpose", "--out", tmp_path / "op/")
    assert code == 0, err
    (document,) = [json.loads(p.read_text()) for p in (tmp_path / "op").iterdir()]
    necks = 0
    for person in document["people"]:
        values = person["pose_keypoints_2d"]
        assert all(decimals(v) <= 2 for i, v in enumerate(values) if i % 3 != 2)
        assert all(decimals(v) <= 4 for i, v in enumerate(values) if i % 3 == 2)
        necks += values[3 * 1 + 2] > 0  # OpenPose's point 1: the neck, the shoulders' midpoint
    assert necks >= 2
