"""Drawing poses on images: skeleton lines, keypoint dots, track ids, and a frame-rate overlay.

All functions take RGB uint8 images and return a new image; the input is never modified.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from ..keypoints import PART_IDS, SKELETON
from ..pose import Pose
from . import OutputOptions
from .openpose import openpose_keypoints

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


# OpenPose's limbs between its 18 points (output.openpose.OPENPOSE_PARTS), in the order its drawing code
# (and ControlNet's, whose pose images these match) uses, and the RGB colour of limb i and of point i.
OPENPOSE_LIMBS: tuple[tuple[int, int], ...] = (
    (1, 2), (1, 5), (2, 3), (3, 4), (5, 6), (6, 7), (1, 8), (8, 9), (9, 10), (1, 11), (11, 12), (12, 13),
    (1, 0), (0, 14), (14, 16), (0, 15), (15, 17),
)
OPENPOSE_COLORS: tuple[tuple[int, int, int], ...] = (
    (255, 0, 0), (255, 85, 0), (255, 170, 0), (255, 255, 0), (170, 255, 0), (85, 255, 0), (0, 255, 0),
    (0, 255, 85), (0, 255, 170), (0, 255, 255), (0, 170, 255), (0, 85, 255), (0, 0, 255), (85, 0, 255),
    (170, 0, 255), (255, 0, 255), (255, 0, 170), (255, 0, 85),
)
OPENPOSE_LIMB_SHADE = 0.6  # limbs are drawn at 60 % of their colour, points at full colour


def draw_openpose(image_rgb: np.ndarray, poses: Sequence[Pose], min_part_score: float = 0.5) -> np.ndarray:
    """A copy of `image_rgb` with OpenPose's 18-point skeletons, as OpenPose and ControlNet draw them:
    each limb an ellipse in its own colour (60 %), then each seen point a dot in its colour. Parts are
    seen as in OpenPose files (output.openpose). Limbs are 4 px wide and dots 4 px in radius at 512 px,
    scaled up with the short side beyond that (ControlNet draws at 512 px and resizes the image)."""
    out = _canvas(image_rgb)
    h, w = out.shape[:2]
    size = max(1, round(4 * max(1.0, min(h, w) / 512)))
    lo, hi = -4 * max(h, w), 5 * max(h, w)
    points = [np.clip(openpose_keypoints(p, min_part_score), lo, hi) for p in poses]
    for limb, (a, b) in enumerate(OPENPOSE_LIMBS):
        color = tuple(int(c * OPENPOSE_LIMB_SHADE) for c in OPENPOSE_COLORS[limb])
        for kp in points:
            if kp[a, 2] <= 0 or kp[b, 2] <= 0:
                continue
            (xa, ya), (xb, yb) = kp[a, :2], kp[b, :2]
            length = float(np.hypot(xa - xb, ya - yb))
            angle = int(np.degrees(np.arctan2(ya - yb, xa - xb)))
            polygon = cv2.ellipse2Poly((int((xa + xb) / 2), int((ya + yb) / 2)), (int(length / 2), size), angle,
                                       0, 360, 1)
            cv2.fillConvexPoly(out, polygon, color)
    for kp in points:
        for i in np.flatnonzero(kp[:, 2] > 0):
            cv2.circle(out, (int(kp[i, 0]), int(kp[i, 1])), size, OPENPOSE_COLORS[i], -1)
    return out


def annotate(image: np.ndarray, poses: Sequence[Pose], *, mirror: bool = False,
             output: OutputOptions = OutputOptions()) -> np.ndarray:
    """The drawn result of an estimate in `output`'s style: the image (mirrored, when the poses were) or
    a black canvas of its size, with its skeletons."""
    # Views, not copies: the drawing functions copy their canvas once.
    if output.background == "black":
        canvas = np.broadcast_to(np.zeros(3, np.uint8), (*image.shape[:2], 3))
    else:
        canvas = image[:, ::-1] if mirror else image
    if output.draw_style == "openpose":
        return draw_openpose(canvas, poses, output.min_part_score)
    return draw_poses(canvas, poses, min_part_score=output.min_part_score)
