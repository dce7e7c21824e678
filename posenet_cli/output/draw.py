"""Drawing poses on images: skeleton lines, keypoint dots, track ids, and a frame-rate overlay.

All functions take RGB uint8 images and return a new image; the input is never modified.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from ..keypoints import PART_IDS, SKELETON
from ..pose import Pose

# Distinct, saturated RGB colours that read on both light and dark photos (Tableau 10, grey swapped for gold).
PALETTE: tuple[tuple[int, int, int], ...] = (
    (31, 119, 180),
    (255, 127, 14),
    (44, 160, 44),
    (214, 39, 40),
    (148, 103, 189),
    (23, 190, 207),
    (227, 119, 194),
    (188, 189, 34),
    (140, 86, 75),
    (255, 215, 0),
)
_SHIFT = 4  # sub-pixel bits for cv2 drawing: positions are drawn to 1/16 pixel
_SCALE = 1 << _SHIFT
_SKELETON = np.asarray(SKELETON, dtype=np.intp)  # (12, 2)
_LABEL_PARTS = (PART_IDS["nose"], PART_IDS["leftEye"], PART_IDS["rightEye"], PART_IDS["leftEar"], PART_IDS["rightEar"])


def pose_color(pose: Pose, index: int) -> tuple[int, int, int]:
    """A pose's RGB colour: from its track id when it has one (stable across frames), else its index."""
    key = index if pose.id is None else int(pose.id)
    return PALETTE[key % len(PALETTE)]


def line_width(height: int, width: int) -> int:
    """Skeleton line width in pixels for an image of this size (1 px per 250 px of the short side)."""
    return max(1, round(min(height, width) / 250))


def _canvas(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (1, 3)):
        raise ValueError(f"expected an RGB uint8 image [H, W, 3], got {image.dtype} {list(image.shape)}")
    if image.ndim == 2 or image.shape[2] == 1:
        return cv2.cvtColor(image.reshape(image.shape[:2]), cv2.COLOR_GRAY2RGB)
    return np.array(image, dtype=np.uint8, order="C", copy=True)


def draw_poses(
    image_rgb: np.ndarray,
    poses: Sequence[Pose],
    min_part_score: float = 0.5,
    min_pose_score: float = 0.0,
    ids: bool = True,
) -> np.ndarray:
    """A copy of `image_rgb` with each pose's skeleton and keypoints drawn in its own colour.

    Parts scoring below `min_part_score` are left out, with every line touching them; poses scoring
    below `min_pose_score` are not drawn. With `ids`, a tracked pose gets its id written above its head.
    Line width and dot size follow the image size; lines are antialiased and drawn at sub-pixel positions.
    """
    out = _canvas(image_rgb)
    h, w = out.shape[:2]
    thickness = line_width(h, w)
    radius = max(2, round(thickness * 1.5))
    # Keep coordinates far off the image from overflowing OpenCV's fixed-point ints.
    lo, hi = -4.0 * max(h, w), 5.0 * max(h, w)
    for index, pose in enumerate(poses):
        if pose.score < min_pose_score:
            continue
        kp = pose.keypoints
        visible = (kp[:, 2] >= min_part_score) & np.isfinite(kp).all(axis=1)
        if not visible.any():
            continue
        pts = np.rint(np.clip(np.nan_to_num(kp[:, :2]), lo, hi) * _SCALE).astype(np.int64)
        color = pose_color(pose, index)
        edges = _SKELETON[visible[_SKELETON[:, 0]] & visible[_SKELETON[:, 1]]]
        for a, b in edges:
            cv2.line(out, (int(pts[a, 0]), int(pts[a, 1])), (int(pts[b, 0]), int(pts[b, 1])), color, thickness,
                     cv2.LINE_AA, _SHIFT)
        for i in np.flatnonzero(visible):
            center = (int(pts[i, 0]), int(pts[i, 1]))
            cv2.circle(out, center, (radius + 1) * _SCALE, (0, 0, 0), -1, cv2.LINE_AA, _SHIFT)
            cv2.circle(out, center, radius * _SCALE, color, -1, cv2.LINE_AA, _SHIFT)
        if ids and pose.id is not None:
            _label(out, str(pose.id), _label_anchor(kp, visible), color, thickness, radius)
    return out


def _label_anchor(kp: np.ndarray, visible: np.ndarray) -> tuple[float, float]:
    """Where an id goes: above the nose, else the first visible head part, else the topmost part."""
    for i in _LABEL_PARTS:
        if visible[i]:
            return float(kp[i, 0]), float(kp[i, 1])
    candidates = np.flatnonzero(visible)
    top = candidates[np.argmin(kp[candidates, 1])]
    return float(kp[top, 0]), float(kp[top, 1])


def _label(out: np.ndarray, text: str, anchor: tuple[float, float], color: tuple[int, int, int],
           thickness: int, radius: int) -> None:
    h, w = out.shape[:2]
    scale = max(0.4, thickness * 0.5)
    font = cv2.FONT_HERSHEY_SIMPLEX
    (tw, th), base = cv2.getTextSize(text, font, scale, thickness)
    x = int(np.clip(anchor[0] - tw / 2, 0, max(0, w - tw)))
    y = int(np.clip(anchor[1] - radius - 2 * thickness - base, th, max(th, h - base)))
    cv2.putText(out, text, (x, y), font, scale, (0, 0, 0), thickness + 2, cv2.LINE_AA)
    cv2.putText(out, text, (x, y), font, scale, color, thickness, cv2.LINE_AA)


def draw_fps(image: np.ndarray, fps: float) -> np.ndarray:
    """A copy of `image` with the frame rate (e.g. "24.8 fps") in the top-left corner, for live views."""
    out = _canvas(image)
    h, w = out.shape[:2]
    thickness = line_width(h, w)
    scale = max(0.4, thickness * 0.5)
    font = cv2.FONT_HERSHEY_SIMPLEX
    text = f"{fps:.1f} fps"
    (_, th), _ = cv2.getTextSize(text, font, scale, thickness)
    org = (4 * thickness + 2, th + 4 * thickness + 2)
    cv2.putText(out, text, org, font, scale, (0, 0, 0), thickness + 2, cv2.LINE_AA)
    cv2.putText(out, text, org, font, scale, (255, 255, 255), thickness, cv2.LINE_AA)
    return out


def annotate(image: np.ndarray, poses: Sequence[Pose], *, mirror: bool = False, min_part_score: float = 0.5
             ) -> np.ndarray:
    """The drawn result of an estimate: the image (mirrored, when the poses were) with its skeletons."""
    canvas = np.ascontiguousarray(image[:, ::-1]) if mirror else image
    return draw_poses(canvas, poses, min_part_score=min_part_score)
