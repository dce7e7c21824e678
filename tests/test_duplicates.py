"""Duplicate poses: a pose whose keypoints match a higher-scoring pose's (OKS above DecoderOptions.duplicate_oks)
is dropped, poses come highest score first, and tfjs's own configurations are left as the reference has them."""

from __future__ import annotations

import json
import math

import numpy as np

from posenet_cli.decode import TFJS_MULTI, DecoderOptions
from posenet_cli.pose import Pose

from conftest import posenet

# COCO's keypoint sigmas, in its (and PoseNet's) part order, as pycocotools' cocoeval.py lists them.
SIGMAS = [.26, .25, .25, .35, .35, .79, .79, .72, .72, .62, .62, 1.07, 1.07, .87, .87, .89, .89]


def naive_oks(a: list[tuple[float, float]], b: list[tuple[float, float]]) -> float:
    """COCO's OKS of two 17-point poses over all their points, the larger keypoint box as the area."""
    def area(points: list[tuple[float, float]]) -> float:
        xs, ys = [p[0] for p in points], [p[1] for p in points]
        return max((max(xs) - min(xs)) * (max(ys) - min(ys)), 1.0)

    best = 0.0
    for s in (area(a), area(b)):
        total = 0.0
        for (ax, ay), (bx, by), sigma in zip(a, b, SIGMAS):
            k = 2 * sigma / 10
            total += math.exp(-((ax - bx) ** 2 + (ay - by) ** 2) / (2 * s * k * k))
        best = max(best, total / 17)
    return best


def person(x0: float, score: float, jitter: float = 0.0) -> Pose:
    """A standing figure 100 px wide, 300 tall, at x0, every keypoint moved by `jitter` px."""
    rng = np.random.default_rng(int(x0))
    xy = np.stack([x0 + rng.uniform(0, 100, 17), np.linspace(0, 300, 17)], axis=1) + jitter
    return Pose(score, np.column_stack([xy, np.full(17, 0.8)]))


def test_a_near_copy_of_a_stronger_pose_is_dropped_and_distinct_people_kept():
    strong, copy, neighbour = person(0, 0.6), person(0, 0.1, jitter=2.0), person(300, 0.3)
    far_copy = person(0, 0.05, jitter=40.0)  # same place, keypoints 40 px off: a different hypothesis
    poses = [neighbour, copy, strong, far_copy]
    xy = [[tuple(r[:2]) for r in p.keypoints] for p in poses]
    assert naive_oks(xy[2], xy[1]) > 0.9 > naive_oks(xy[2], xy[3]) and naive_oks(xy[2], xy[0]) < 0.01
    kept = DecoderOptions(duplicate_oks=0.9).keep(poses)
    assert [p.score for p in kept] == [0.6, 0.3, 0.05]  # highest first; the near copy gone
    assert [p.score for p in DecoderOptions(duplicate_oks=1.0).keep(poses)] == [0.6, 0.3, 0.1, 0.05]
    far = naive_oks(xy[2], xy[3])
    assert [p.score for p in DecoderOptions(duplicate_oks=far - 0.01).keep(poses)] == [0.6, 0.3]
    assert [p.score for p in DecoderOptions(duplicate_oks=far + 0.01).keep(poses)] == [0.6, 0.3, 0.05]
    assert [p.score for p in TFJS_MULTI.keep(poses)] == [0.3, 0.1, 0.6, 0.05]  # tfjs: all, decoder's order


def test_tfjs_configurations_keep_every_pose_in_the_decoders_order():
    """The reference configurations (tests/test_conformance.py builds them from TFJS_MULTI) are unchanged by
    the suppression and the sorting, whatever the commands' defaults."""
    assert TFJS_MULTI.duplicate_oks == 1.0 and TFJS_MULTI.by_score is False and TFJS_MULTI.min_pose_score == 0.0
    assert DecoderOptions().duplicate_oks < 1.0 and DecoderOptions().by_score


def test_no_two_poses_of_the_defaults_match_on_the_shared_photos(env, shared, tmp_path):
    """With no options, no two poses of any shared photo match above the default OKS threshold, and each
    photo's poses come highest score first; keeping everything, some do (so the check has teeth)."""
    folders = [shared / "data" / "images" / "coral", shared / "data" / "images" / "tfjs-demo",
               shared / "data" / "coco-keypoints" / "images"]
    threshold = DecoderOptions().duplicate_oks
    counts = {}
    for name, extra in (("defaults", ()), ("everything", ("--duplicate-oks", "1"))):
        out = tmp_path / f"{name}.jsonl"
        code, _, err = posenet("image", *folders, "--out", out, "--quiet", *extra)
        assert code == 0, err
        records = [json.loads(line) for line in out.read_text().splitlines()]
        assert len(records) == 92
        matching = 0
        for record in records:
            scores = [p["score"] for p in record["poses"]]
            assert scores == sorted(scores, reverse=True), record["image"]
            xy = [[(k["position"]["x"], k["position"]["y"]) for k in p["keypoints"]] for p in record["poses"]]
            matching += sum(naive_oks(xy[i], xy[j]) > threshold + 1e-6
                            for i in range(len(xy)) for j in range(i))
        counts[name] = matching
    assert counts["defaults"] == 0 and counts["everything"] > 20
