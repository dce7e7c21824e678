"""Drawing: pixels change along the skeleton and at keypoints, not where parts score too low."""

from __future__ import annotations

import numpy as np
import pytest

from posenet_cli.keypoints import NUM_KEYPOINTS, PART_IDS
from posenet_cli.output.draw import PALETTE, draw_fps, draw_poses, line_width, pose_color
from posenet_cli.pose import Pose

# A standing figure on a 1000x1000 canvas (x, y); shoulders and hips on integer rows.
LAYOUT = {
    "nose": (500, 150), "leftEye": (520, 130), "rightEye": (480, 130), "leftEar": (545, 140),
    "rightEar": (455, 140), "leftShoulder": (600, 300), "rightShoulder": (400, 300), "leftElbow": (650, 450),
    "rightElbow": (350, 450), "leftWrist": (680, 600), "rightWrist": (320, 600), "leftHip": (580, 600),
    "rightHip": (420, 600), "leftKnee": (590, 780), "rightKnee": (410, 780), "leftAnkle": (600, 950),
    "rightAnkle": (400, 950),
}


def figure(score: float = 0.9, dx: float = 0.0, pose_id: int | None = None, **part_scores: float) -> Pose:
    kp = np.zeros((NUM_KEYPOINTS, 3))
    for name, (x, y) in LAYOUT.items():
        kp[PART_IDS[name]] = (x + dx, y, part_scores.get(name, score))
    return Pose(score, kp, pose_id)


def blank(size: int = 1000) -> np.ndarray:
    return np.zeros((size, size, 3), np.uint8)


def midpoint(a: str, b: str, dx: float = 0.0) -> tuple[int, int]:
    (xa, ya), (xb, yb) = LAYOUT[a], LAYOUT[b]
    return round((ya + yb) / 2), round((xa + xb) / 2 + dx)  # (row, column)


def test_skeleton_and_keypoints_are_drawn_on_a_copy():
    image = blank()
    out = draw_poses(image, [figure()])
    assert out.shape == image.shape and out.dtype == np.uint8
    assert not image.any()  # input untouched
    for a, b in [("leftShoulder", "rightShoulder"), ("leftHip", "leftShoulder"), ("rightKnee", "rightAnkle")]:
        assert out[midpoint(a, b)].any(), (a, b)
    for name in ("nose", "leftWrist", "rightAnkle"):
        x, y = LAYOUT[name]
        assert out[y, x].any(), name
    assert not out[50, 50].any() and not out[990, 10].any()  # background stays


def test_low_scoring_parts_and_their_lines_are_left_out():
    out = draw_poses(blank(), [figure(leftKnee=0.2)], min_part_score=0.5)
    x, y = LAYOUT["leftKnee"]
    assert not out[y - 3:y + 4, x - 3:x + 4].any()  # no dot
    assert not out[midpoint("leftHip", "leftKnee")].any()  # no line to it
    assert not out[midpoint("leftKnee", "leftAnkle")].any()  # nor from it
    assert out[midpoint("rightHip", "rightKnee")].any()  # the other leg is drawn
    everything = draw_poses(blank(), [figure(leftKnee=0.2)], min_part_score=0.1)
    assert everything[midpoint("leftHip", "leftKnee")].any()


def test_low_scoring_poses_are_not_drawn():
    assert not draw_poses(blank(), [figure(score=0.3)], min_pose_score=0.5).any()
    assert draw_poses(blank(), [figure(score=0.3)], min_pose_score=0.2, min_part_score=0.2).any()


def colour_at_shoulders(out: np.ndarray, dx: float = 0.0) -> tuple[int, int, int]:
    return tuple(int(v) for v in out[midpoint("leftShoulder", "rightShoulder", dx)])


def test_each_pose_has_its_own_colour_and_ids_keep_theirs():
    out = draw_poses(blank(), [figure(dx=-200), figure(dx=200)], ids=False)
    first, second = colour_at_shoulders(out, -200), colour_at_shoulders(out, 200)
    assert first == PALETTE[0] and second == PALETTE[1]
    # With ids, the colour follows the id whatever the pose's position in the list.
    a = draw_poses(blank(), [figure(pose_id=7)])
    b = draw_poses(blank(), [figure(dx=-300, pose_id=3), figure(pose_id=7)])
    assert colour_at_shoulders(a) == colour_at_shoulders(b) == pose_color(figure(pose_id=7), 0)
    assert pose_color(figure(pose_id=7), 0) != pose_color(figure(pose_id=8), 0)


def test_id_label_goes_above_the_head():
    with_label = draw_poses(blank(), [figure(pose_id=4)])
    without = draw_poses(blank(), [figure(pose_id=4)], ids=False)
    x, y = LAYOUT["nose"]
    diff = np.argwhere((with_label != without).any(axis=2))
    assert len(diff) > 0
    assert diff[:, 0].max() < y and abs(diff[:, 1].mean() - x) < 40


def test_sizes_scale_with_the_image():
    assert (line_width(100, 100), line_width(540, 960), line_width(2160, 3840)) == (1, 2, 9)
    small = draw_poses(blank(250), [Pose(0.9, figure().keypoints * [0.25, 0.25, 1])])
    big = draw_poses(blank(), [figure()])
    assert (big.any(axis=2).sum() / 16) / small.any(axis=2).sum() > 0.5  # about the same share of the picture


def test_odd_inputs_do_not_break_drawing():
    pose = figure()
    pose.keypoints[0, :2] = np.nan
    pose.keypoints[1, :2] = (1e12, -1e12)
    out = draw_poses(blank(200), [pose, figure(score=0.9)])
    assert out.shape == (200, 200, 3)
    gray = draw_poses(np.zeros((1000, 1000), np.uint8), [figure()])
    assert gray.shape == (1000, 1000, 3) and gray.any()
    assert (draw_poses(blank(10), []) == 0).all()
    with pytest.raises(ValueError, match="RGB uint8"):
        draw_poses(np.zeros((10, 10, 3), np.float32), [])


def test_non_contiguous_input_is_fine():
    image = blank()[:, ::-1]
    out = draw_poses(image, [figure()])
    assert out.flags.c_contiguous and out.any()


def test_draw_fps_marks_the_top_left_only():
    image = blank(480)
    out = draw_fps(image, 24.8)
    assert not image.any()
    assert out[:40, :150].any() and not out[100:, :].any() and not out[:, 300:].any()
