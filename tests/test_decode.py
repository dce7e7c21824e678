"""The PoseNet decoders: conformance with the tfjs reference on its own tensors, and exact hand-made cases.

Conformance feeds the network outputs stored in ../shared/reference/raw/<config>/<image>.npz to our
decoders and compares with the reference decoders' results on exactly those tensors (network-input
pixels): same number of poses, same order, positions within 1e-3 px, scores within 1e-5.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from posenet_cli.decode import _heap_order, _local_maxima, decode_multiple_poses, decode_single_pose
from posenet_cli.keypoints import NUM_KEYPOINTS, PART_IDS, PART_NAMES
from posenet_cli.pose import Pose

from conftest import HAVE_SHARED, SHARED

POS_TOL = 1e-3
SCORE_TOL = 1e-5

# ---------------------------------------------------------------------------------------------------
# Conformance on the reference's tensors

RAW = SHARED / "reference" / "raw"
CASES = (
    [pytest.param(p.parent.name, p.stem, id=f"{p.parent.name}/{p.stem}") for p in sorted(RAW.glob("*/*.npz"))]
    if HAVE_SHARED
    else [pytest.param(None, None, id="no-shared")]  # the `shared` fixture skips it, with the reason
)


def load_case(shared: Path, config: str, image: str) -> tuple[dict[str, np.ndarray], dict]:
    folder = shared / "reference" / "raw" / config
    with np.load(folder / f"{image}.npz") as npz:
        tensors = {k: npz[k] for k in npz.files}
    return tensors, json.loads((folder / f"{image}.json").read_text())


def assert_pose_matches(ours: Pose, ref_dict: dict, what: str) -> None:
    ref = Pose.from_dict(ref_dict)
    assert [kp["part"] for kp in ref_dict["keypoints"]] == list(PART_NAMES), f"{what}: reference part order"
    pos_err = np.abs(ours.keypoints[:, :2] - ref.keypoints[:, :2]).max()
    score_err = np.abs(ours.keypoints[:, 2] - ref.keypoints[:, 2]).max()
    assert pos_err <= POS_TOL, f"{what}: position error {pos_err:.3g} px"
    assert score_err <= SCORE_TOL, f"{what}: keypoint score error {score_err:.3g}"
    assert abs(ours.score - ref.score) <= SCORE_TOL, f"{what}: pose score {ours.score} vs {ref.score}"


def test_reference_tensors_are_all_there(shared: Path):
    configs = sorted(p.name for p in (shared / "reference" / "raw").iterdir() if p.is_dir())
    assert len(configs) == 4, configs
    for config in configs:
        assert len(list((shared / "reference" / "raw" / config).glob("*.npz"))) >= 10, config


@pytest.mark.parametrize("config,image", CASES)
def test_single_pose_matches_reference(shared: Path, config: str, image: str):
    tensors, doc = load_case(shared, config, image)
    pose = decode_single_pose(tensors["heatmapScores"], tensors["offsets"], doc["outputStride"])
    assert_pose_matches(pose, doc["single_model_space"], f"{config}/{image} single")


@pytest.mark.parametrize("config,image", CASES)
def test_multi_pose_matches_reference(shared: Path, config: str, image: str):
    tensors, doc = load_case(shared, config, image)
    params = doc["multi_params"]
    assert config.startswith(("v1-", "v2-"))
    poses = decode_multiple_poses(
        tensors["heatmapScores"], tensors["offsets"], tensors["displacementFwd"], tensors["displacementBwd"],
        doc["outputStride"], max_detections=params["maxDetections"], score_threshold=params["scoreThreshold"],
        nms_radius=params["nmsRadius"], refine_steps=1 if config.startswith("v1-") else 2,
    )
    refs = doc["multi_model_space"]
    assert len(poses) == len(refs), f"{config}/{image}: {len(poses)} poses, reference has {len(refs)}"
    for i, (ours, ref) in enumerate(zip(poses, refs)):
        assert_pose_matches(ours, ref, f"{config}/{image} multi pose #{i}")


# ---------------------------------------------------------------------------------------------------
# Hand-made tensors

NOSE, LEFT_EYE, LEFT_EAR = PART_IDS["nose"], PART_IDS["leftEye"], PART_IDS["leftEar"]


def blank(h: int, w: int) -> dict[str, np.ndarray]:
    """All-zero float32 tensors for an h x w grid, keyed by the decoders' argument names."""
    return {
        "heatmap_scores": np.zeros((h, w, 17), np.float32),
        "offsets": np.zeros((h, w, 34), np.float32),
        "displacement_fwd": np.zeros((h, w, 32), np.float32),
        "displacement_bwd": np.zeros((h, w, 32), np.float32),
    }


def transposed(t: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The same scene with x and y swapped: grid axes transposed and the y/x channel halves exchanged."""
    out = {"heatmap_scores": t["heatmap_scores"].transpose(1, 0, 2)}
    for name, half in (("offsets", 17), ("displacement_fwd", 16), ("displacement_bwd", 16)):
        a = t[name].transpose(1, 0, 2)
        out[name] = np.concatenate([a[:, :, half:], a[:, :, :half]], axis=2)
    return out


def multi(t: dict[str, np.ndarray], stride: int = 16, **kwargs) -> list[Pose]:
    return decode_multiple_poses(t["heatmap_scores"], t["offsets"], t["displacement_fwd"], t["displacement_bwd"],
                                 stride, **kwargs)


def f32(v: float) -> float:
    """The double a float32 tensor element reads back as."""
    return float(np.float32(v))


def test_single_pose_is_argmax_plus_offset():
    t = blank(3, 4)
    rng = np.random.default_rng(0)
    t["heatmap_scores"][:] = rng.uniform(0, 0.5, (3, 4, 17)).astype(np.float32)
    cells = [(k % 3, (k * 7) % 4) for k in range(17)]
    for k, (cy, cx) in enumerate(cells):
        t["heatmap_scores"][cy, cx, k] = 0.5 + k / 64
        t["offsets"][cy, cx, k] = k * 0.25 - 2  # y
        t["offsets"][cy, cx, 17 + k] = 3.5 - k  # x
    pose = decode_single_pose(t["heatmap_scores"], t["offsets"], 8)
    for k, (cy, cx) in enumerate(cells):
        assert pose.keypoints[k].tolist() == [cx * 8 + 3.5 - k, cy * 8 + k * 0.25 - 2, 0.5 + k / 64]
    assert pose.score == pytest.approx(sum(0.5 + k / 64 for k in range(17)) / 17, abs=1e-15)


def test_single_pose_ties_go_to_the_first_cell_in_row_major_order():
    t = blank(2, 3)
    t["heatmap_scores"][0, 2, NOSE] = 0.75
    t["heatmap_scores"][1, 0, NOSE] = 0.75
    t["offsets"][0, 2, 17 + NOSE] = 1.0
    pose = decode_single_pose(t["heatmap_scores"], t["offsets"], 16)
    assert pose.keypoints[NOSE].tolist() == [33.0, 0.0, 0.75]
    # All-zero heatmaps (every cell tied): cell (0, 0) for every keypoint.
    assert pose.keypoints[LEFT_EYE].tolist() == [0.0, 0.0, 0.0]


def test_single_pose_adds_offsets_in_float32_like_tfjs():
    t = blank(1, 2)
    t["heatmap_scores"][0, 1, :] = 1.0
    t["offsets"][0, 1, 17:] = 0.1  # x = 16 + 0.1, computed in float32
    pose = decode_single_pose(t["heatmap_scores"], t["offsets"], 16)
    assert pose.keypoints[0, 0] == float(np.float32(16) + np.float32(0.1))
    assert pose.score == 1.0


def two_people() -> dict[str, np.ndarray]:
    """Person A: every keypoint peaks at cell (2, 2); person B at (7, 7); a faint extra nose at (2, 4).

    Displacements and offsets are zero, so each pose sits on its root's cell, except that the extra
    nose's forward displacement for edge 0 (nose -> leftEye) points back at person A's cell.
    """
    t = blank(10, 10)
    t["heatmap_scores"][2, 2, :] = 0.9 - np.arange(17) / 100  # A's nose 0.9 is the best root
    t["heatmap_scores"][7, 7, :] = 0.85 - np.arange(17) / 100
    t["heatmap_scores"][2, 4, NOSE] = 0.6
    t["displacement_fwd"][2, 4, 16 + 0] = -32.0  # x of edge 0 at the extra nose's cell
    return t


def test_two_people_with_nms():
    t = two_people()
    scores = t["heatmap_scores"].astype(np.float64)
    poses = multi(t, nms_radius=20.0)
    assert len(poses) == 3
    a, b, extra = poses
    # A first (root: its nose 0.9), then B (0.85); A's other keypoints, all at A's spot, are suppressed.
    np.testing.assert_array_equal(a.keypoints, np.c_[np.full(17, 32.0), np.full(17, 32.0), scores[2, 2]])
    np.testing.assert_array_equal(b.keypoints, np.c_[np.full(17, 112.0), np.full(17, 112.0), scores[7, 7]])
    assert a.score == sum(scores[2, 2].tolist()) / 17
    assert b.score == sum(scores[7, 7].tolist()) / 17
    # The extra nose is 32 px from A's nose, outside the radius: a third pose. Its leftEye is displaced
    # onto A's, and leftEar follows from there; both lie on A's same keypoints and do not count.
    assert extra.keypoints[NOSE].tolist() == [64.0, 32.0, f32(0.6)]
    assert extra.keypoints[LEFT_EYE].tolist() == [32.0, 32.0, scores[2, 2, LEFT_EYE]]
    assert extra.keypoints[LEFT_EAR].tolist() == [32.0, 32.0, scores[2, 2, LEFT_EAR]]
    assert extra.score == f32(0.6) / 17
    # A radius over 32 px suppresses the extra root.
    assert [p.score for p in multi(t, nms_radius=32.0)] == [a.score, b.score]
    # The radius test is inclusive (squared distance <= r^2): exactly 32 px suppresses, just under does not.
    assert len(multi(t, nms_radius=31.999)) == 3
    # max_detections cuts the list; the threshold removes roots below it.
    assert [p.score for p in multi(t, max_detections=1)] == [a.score]
    assert len(multi(t, score_threshold=0.7)) == 2
    assert multi(t, max_detections=0) == []
    assert multi(t, score_threshold=0.95) == []


def refine_scene() -> dict[str, np.ndarray]:
    """A 1 x 6 grid at stride 16: the nose at x = 0 and its leftEye reached through two refinements.

    Displaced point: 0 + 30 = 30 -> cell round(1.875) = 2; first refinement: 2 * 16 + 20 = 52 -> cell
    round(3.25) = 3; second: 3 * 16 + 5 = 53 -> cell round(3.3125) = 3.
    """
    t = blank(1, 6)
    t["heatmap_scores"][0, 0, NOSE] = 0.99
    t["displacement_fwd"][0, 0, 16 + 0] = 30.0
    t["offsets"][0, 2, 17 + LEFT_EYE] = 20.0
    t["offsets"][0, 3, 17 + LEFT_EYE] = 5.0
    t["heatmap_scores"][0, 2, LEFT_EYE] = 0.25
    t["heatmap_scores"][0, 3, LEFT_EYE] = 0.75
    return t


@pytest.mark.parametrize("axis", ["x", "y"])
def test_refine_steps_1_is_tfjs1_and_2_is_tfjs2(axis: str):
    t = refine_scene()
    if axis == "y":
        t = transposed(t)
    col = 0 if axis == "x" else 1
    (v1,) = multi(t, score_threshold=0.9, refine_steps=1)
    (v2,) = multi(t, score_threshold=0.9, refine_steps=2)
    (v3,) = multi(t, score_threshold=0.9, refine_steps=3)
    # 1.x: one refinement, the score read at the displaced point's cell (2), before refining.
    assert v1.keypoints[LEFT_EYE, col] == 52.0
    assert v1.keypoints[LEFT_EYE, 1 - col] == 0.0
    assert v1.keypoints[LEFT_EYE, 2] == 0.25
    # 2.x: two refinements, the score read at the final point's cell (3).
    assert v2.keypoints[LEFT_EYE, col] == 53.0
    assert v2.keypoints[LEFT_EYE, 2] == 0.75
    assert v3.keypoints[LEFT_EYE, col] == 53.0  # a fixed point: more steps change nothing here
    assert v1.score == (f32(0.99) + 0.25) / 17
    assert v2.score == (f32(0.99) + 0.75) / 17


@pytest.mark.parametrize("axis", ["x", "y"])
def test_rounding_is_javascript_math_round(axis: str):
    """Halves round up (floor(v + 0.5)): 2.5 -> 3, where numpy's round gives 2."""
    t = blank(1, 5)
    t["heatmap_scores"][0, 1, NOSE] = 0.99
    t["offsets"][0, 1, 17 + NOSE] = 24.0  # root at x = 16 + 24 = 40 -> source cell round(2.5) = 3
    t["displacement_fwd"][0, 3, 16 + 0] = 1.0  # only cell 3 displaces: leftEye target x = 41 -> cell 3
    t["displacement_fwd"][0, 2, 16 + 0] = -16.0  # what cell 2 would give: x = 24 -> cell 2 (1.5 -> 2)
    t["offsets"][0, 3, 17 + LEFT_EYE] = 0.5
    t["offsets"][0, 2, 17 + LEFT_EYE] = -0.5
    if axis == "y":
        t = transposed(t)
    col = 0 if axis == "x" else 1
    (pose,) = multi(t, score_threshold=0.9, refine_steps=2)
    assert pose.keypoints[NOSE, col] == 40.0
    assert pose.keypoints[LEFT_EYE, col] == 48.5  # cell 3 * 16 + 0.5; banker's rounding would give 31.5


def test_points_outside_the_grid_are_clamped_to_the_border():
    t = blank(3, 5)
    t["heatmap_scores"][1, 1, NOSE] = 0.99
    t["offsets"][1, 1, NOSE] = -100.0  # root at y = 16 - 100 = -84: its source cell clamps to row 0
    t["offsets"][1, 1, 17 + NOSE] = 1000.0  # x = 1016: clamps to column 4
    t["displacement_fwd"][0, 4, 0] = -1e6  # edge 0 at cell (0, 4): leftEye far above and right
    t["displacement_fwd"][0, 4, 16] = 1e6
    t["offsets"][0, 4, LEFT_EYE] = 1.25
    t["offsets"][0, 4, 17 + LEFT_EYE] = -2.5
    t["heatmap_scores"][0, 4, LEFT_EYE] = 0.5
    (pose,) = multi(t, score_threshold=0.9)
    assert pose.keypoints[NOSE].tolist() == [1016.0, -84.0, f32(0.99)]
    assert pose.keypoints[LEFT_EYE].tolist() == [4 * 16 - 2.5, 0 * 16 + 1.25, 0.5]
    assert np.isfinite(pose.keypoints).all()


def test_local_maxima_window_is_3x3_per_keypoint_and_clipped():
    scores = np.zeros((4, 5, 17), np.float32)
    scores[0, 0, 0] = 0.9  # a corner: window clipped to 2 x 2
    scores[1, 1, 0] = 0.8  # next to a higher score: not a maximum
    scores[3, 4, 0] = 0.7  # opposite corner
    scores[2, 2, 1] = 0.6  # plateau of two equal scores: both are maxima (none strictly greater)
    scores[2, 3, 1] = 0.6
    scores[1, 1, 2] = 0.4  # below the threshold
    scores[0, 1, 3] = 0.55  # other keypoints' higher scores in the window do not matter
    scores[0, 2, 4] = 0.95
    flat, values = _local_maxima(scores, 0.5)
    found = [tuple(int(i) for i in np.unravel_index(f, scores.shape)) for f in flat]
    assert found == [(0, 0, 0), (0, 1, 3), (0, 2, 4), (2, 2, 1), (2, 3, 1), (3, 4, 0)]  # y, x, k order
    assert values.tolist() == [scores[c] for c in found]


def test_heap_order_of_ties_matches_the_reference_heap():
    # Distinct scores: plain descending order.
    assert list(_heap_order([0.5, 0.9, 0.7, 0.8])) == [1, 3, 2, 0]
    # Ties come out in the reference heap's order (node i has children 2i, 2i + 1), not first-in-first-out.
    assert list(_heap_order([1.0, 1.0, 1.0])) == [0, 2, 1]
    assert list(_heap_order([0.5, 0.5, 0.5, 0.5, 0.5])) == [0, 4, 3, 2, 1]
    assert list(_heap_order([])) == []
    rng = np.random.default_rng(1)
    for _ in range(50):
        values = rng.integers(0, 4, rng.integers(1, 30)).tolist()
        order = list(_heap_order(values))
        assert sorted(order) == list(range(len(values)))
        assert [values[i] for i in order] == sorted(values, reverse=True)


def test_tied_roots_are_taken_in_heap_order():
    t = blank(5, 5)
    for cy, cx in [(0, 0), (0, 4), (4, 0)]:  # pushed in y, x order; the heap pops #0, #2, #1
        t["heatmap_scores"][cy, cx, NOSE] = 0.75
    poses = multi(t)
    assert [p.keypoints[NOSE, :2].tolist() for p in poses] == [[0.0, 0.0], [0.0, 64.0], [64.0, 0.0]]


def test_the_backward_walk_reaches_the_nose_from_any_root():
    """A root at the left wrist: bwd displacements lead up to the nose, fwd ones down the other limbs."""
    t = blank(8, 8)
    wrist, elbow, shoulder = PART_IDS["leftWrist"], PART_IDS["leftElbow"], PART_IDS["leftShoulder"]
    t["heatmap_scores"][6, 6, wrist] = 0.9
    t["displacement_bwd"][6, 6, 6] = -16.0  # edge 6 leftElbow -> leftWrist, walked backwards
    t["displacement_bwd"][5, 6, 16 + 5] = -16.0  # edge 5 leftShoulder -> leftElbow
    t["displacement_bwd"][5, 5, 4] = -32.0  # edge 4 nose -> leftShoulder
    t["displacement_fwd"][3, 5, 16 + 2] = 32.0  # edge 2 nose -> rightEye, walked forwards
    (pose,) = multi(t)
    kp = pose.keypoints
    assert kp[wrist, :2].tolist() == [96.0, 96.0]
    assert kp[elbow, :2].tolist() == [96.0, 80.0]
    assert kp[shoulder, :2].tolist() == [80.0, 80.0]
    assert kp[NOSE, :2].tolist() == [80.0, 48.0]
    assert kp[PART_IDS["rightEye"], :2].tolist() == [112.0, 48.0]
    assert kp[PART_IDS["leftAnkle"], :2].tolist() == [80.0, 80.0]  # zero displacements: stays on the hip chain


def test_inputs_may_be_float64_or_non_contiguous():
    t = two_people()
    ref = multi(t)
    t64 = {k: np.asfortranarray(v.astype(np.float64)) for k, v in t.items()}
    for a, b in zip(ref, multi(t64)):
        np.testing.assert_array_equal(a.keypoints, b.keypoints)
        assert a.score == b.score
    s = decode_single_pose(t64["heatmap_scores"], t64["offsets"], 16)
    assert s.keypoints.shape == (NUM_KEYPOINTS, 3)


@pytest.mark.parametrize(
    "name, bad, message",
    [
        ("heatmap_scores", lambda a: a[None], "drop the batch dimension"),
        ("heatmap_scores", lambda a: a[:, :, :16], "17 channels"),
        ("heatmap_scores", lambda a: np.zeros((0, 3, 17)), "empty grid"),
        ("offsets", lambda a: a[:, :, :17], "34 channels"),
        ("offsets", lambda a: a[:2], "grid"),
        ("offsets", lambda a: a.astype(complex), "real numbers"),
        ("displacement_fwd", lambda a: a[:, :, :16], "32 channels"),
        ("displacement_bwd", lambda a: a[:, 1:], "grid"),
    ],
)
def test_bad_tensors_are_rejected_clearly(name: str, bad, message: str):
    t = blank(3, 3)
    t[name] = bad(t[name])
    with pytest.raises(ValueError, match=message):
        multi(t)
    if not name.startswith("displacement"):
        with pytest.raises(ValueError, match=message):
            decode_single_pose(t["heatmap_scores"], t["offsets"], 16)


@pytest.mark.parametrize("stride", [0, -8, 16.0, True, "16", None])
def test_bad_strides_are_rejected(stride):
    t = blank(2, 2)
    with pytest.raises(ValueError, match="output_stride"):
        decode_single_pose(t["heatmap_scores"], t["offsets"], stride)
    with pytest.raises(ValueError, match="output_stride"):
        multi(t, stride)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"max_detections": -1}, "max_detections"),
        ({"max_detections": 2.5}, "max_detections"),
        ({"refine_steps": 0}, "refine_steps"),
        ({"nms_radius": -1.0}, "nms_radius"),
        ({"nms_radius": float("nan")}, "nms_radius"),
        ({"score_threshold": float("nan")}, "score_threshold"),
    ],
)
def test_bad_multi_pose_parameters_are_rejected(kwargs: dict, message: str):
    with pytest.raises(ValueError, match=message):
        multi(blank(2, 2), **kwargs)


def test_numpy_integer_stride_and_parameters_are_accepted():
    t = two_people()
    poses = multi(t, np.int64(16), max_detections=np.int32(5), refine_steps=np.int64(2))
    assert len(poses) == 3
