"""The 17 PoseNet keypoints, the pose chain the multi-pose decoder walks, the drawn skeleton, and how alike two
poses' keypoints are (OKS, keypoint boxes): used by the decoder (duplicates), tracking and motion analysis."""

from __future__ import annotations

import numpy as np

PART_NAMES: tuple[str, ...] = (
    "nose",
    "leftEye",
    "rightEye",
    "leftEar",
    "rightEar",
    "leftShoulder",
    "rightShoulder",
    "leftElbow",
    "rightElbow",
    "leftWrist",
    "rightWrist",
    "leftHip",
    "rightHip",
    "leftKnee",
    "rightKnee",
    "leftAnkle",
    "rightAnkle",
)
NUM_KEYPOINTS = len(PART_NAMES)
PART_IDS: dict[str, int] = {name: i for i, name in enumerate(PART_NAMES)}

# The 16 (parent, child) edges of the tree rooted at the nose, in the order of the displacement channels
# (decode.py has the layout).
POSE_CHAIN_NAMES: tuple[tuple[str, str], ...] = (
    ("nose", "leftEye"),
    ("leftEye", "leftEar"),
    ("nose", "rightEye"),
    ("rightEye", "rightEar"),
    ("nose", "leftShoulder"),
    ("leftShoulder", "leftElbow"),
    ("leftElbow", "leftWrist"),
    ("leftShoulder", "leftHip"),
    ("leftHip", "leftKnee"),
    ("leftKnee", "leftAnkle"),
    ("nose", "rightShoulder"),
    ("rightShoulder", "rightElbow"),
    ("rightElbow", "rightWrist"),
    ("rightShoulder", "rightHip"),
    ("rightHip", "rightKnee"),
    ("rightKnee", "rightAnkle"),
)
POSE_CHAIN: tuple[tuple[int, int], ...] = tuple((PART_IDS[a], PART_IDS[b]) for a, b in POSE_CHAIN_NAMES)
NUM_EDGES = len(POSE_CHAIN)

# Lines drawn between keypoints (the tfjs demo's "adjacent keypoints").
SKELETON_NAMES: tuple[tuple[str, str], ...] = (
    ("leftHip", "leftShoulder"),
    ("leftElbow", "leftShoulder"),
    ("leftElbow", "leftWrist"),
    ("leftHip", "leftKnee"),
    ("leftKnee", "leftAnkle"),
    ("rightHip", "rightShoulder"),
    ("rightElbow", "rightShoulder"),
    ("rightElbow", "rightWrist"),
    ("rightHip", "rightKnee"),
    ("rightKnee", "rightAnkle"),
    ("leftShoulder", "rightShoulder"),
    ("leftHip", "rightHip"),
)
SKELETON: tuple[tuple[int, int], ...] = tuple((PART_IDS[a], PART_IDS[b]) for a, b in SKELETON_NAMES)


def _mirror_name(name: str) -> str:
    """A part's name in a left-right mirrored image: the person's left becomes their right."""
    for side, other in (("left", "right"), ("right", "left")):
        if name.startswith(side):
            return other + name[len(side):]
    return name


# What each part and each pose-chain edge is called in a left-right mirror of the image (nose stays; an edge
# maps to the edge between its parts' mirrors, also a chain edge): flip testing's channel permutations.
MIRRORED_PART: tuple[int, ...] = tuple(PART_IDS[_mirror_name(name)] for name in PART_NAMES)
MIRRORED_EDGE: tuple[int, ...] = tuple(POSE_CHAIN.index((MIRRORED_PART[a], MIRRORED_PART[b])) for a, b in POSE_CHAIN)

# COCO keypoint sigmas (pycocotools), in PoseNet's part order: nose, eyes, ears, shoulders, elbows,
# wrists, hips, knees, ankles. A larger sigma tolerates a larger error for the same similarity.
COCO_SIGMAS = np.array([
    0.026, 0.025, 0.025, 0.035, 0.035, 0.079, 0.079, 0.072, 0.072,
    0.062, 0.062, 0.107, 0.107, 0.087, 0.087, 0.089, 0.089,
])
assert COCO_SIGMAS.shape == (NUM_KEYPOINTS,)
MIN_SHARED_KEYPOINTS = 3  # OKS over fewer keypoints confident in both poses is too noisy: use box IoU


def keypoint_boxes(keypoints: np.ndarray, min_part_score: float) -> np.ndarray:
    """Bounding boxes (N, 4) as x0, y0, x1, y1 of the confident keypoints of each pose.

    `keypoints` is (N, 17, 3) with rows x, y, score. A pose with fewer than 2 confident keypoints
    gets the box of all its keypoints (the decoder still places unsure parts near the body).
    """
    confident = keypoints[..., 2] >= min_part_score  # (N, 17)
    use = confident | (confident.sum(axis=1) < 2)[:, None]  # (N, 17)
    x, y = keypoints[..., 0], keypoints[..., 1]  # (N, 17) each
    return np.stack([
        np.where(use, x, np.inf).min(axis=1), np.where(use, y, np.inf).min(axis=1),
        np.where(use, x, -np.inf).max(axis=1), np.where(use, y, -np.inf).max(axis=1),
    ], axis=1)


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection over union (A, B) of boxes a (A, 4) and b (B, 4), each x0, y0, x1, y1; 0 for empty boxes."""
    ix = np.clip(np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0]), 0, None)
    iy = np.clip(np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1]), 0, None)
    inter = ix * iy  # (A, B)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])  # (A,)
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])  # (B,)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def pose_similarity(tracks: np.ndarray, poses: np.ndarray, min_part_score: float = 0.3) -> np.ndarray:
    """Similarity (T, P) in [0, 1] of tracks' keypoints (T, 17, 3) and poses' keypoints (P, 17, 3).

    OKS over the keypoints confident (score >= min_part_score) in both: the mean over them of
    exp(-d^2 / (2 * area * (2 sigma)^2)), with d the distance in pixels and area that of the track's
    box of confident keypoints. With fewer than MIN_SHARED_KEYPOINTS such keypoints, the IoU of the
    two keypoint boxes instead.
    """
    if len(tracks) == 0 or len(poses) == 0:
        return np.zeros((len(tracks), len(poses)))
    shared = (tracks[:, None, :, 2] >= min_part_score) & (poses[None, :, :, 2] >= min_part_score)  # (T, P, 17)
    d2 = ((tracks[:, None, :, :2] - poses[None, :, :, :2]) ** 2).sum(axis=-1)  # (T, P, 17) squared distances
    track_boxes = keypoint_boxes(tracks, min_part_score)  # (T, 4)
    area = np.maximum((track_boxes[:, 2] - track_boxes[:, 0]) * (track_boxes[:, 3] - track_boxes[:, 1]), 1.0)  # (T,)
    variances = (2.0 * COCO_SIGMAS) ** 2  # (17,)
    per_part = np.exp(-d2 / (2.0 * area[:, None, None] * variances[None, None, :]))  # (T, P, 17)
    count = shared.sum(axis=-1)  # (T, P)
    oks = (per_part * shared).sum(axis=-1) / np.maximum(count, 1)  # (T, P)
    few = count < MIN_SHARED_KEYPOINTS
    if few.any():
        iou = box_iou(track_boxes, keypoint_boxes(poses, min_part_score))  # (T, P)
        oks = np.where(few, iou, oks)
    return oks


def mutual_oks(keypoints: np.ndarray) -> np.ndarray:
    """OKS (P, P) of every two of P poses' keypoints (P, 17, 3) over all 17 keypoints, the larger of the two
    poses' keypoint boxes as the area (symmetric: 1 on the diagonal)."""
    similarity = pose_similarity(keypoints, keypoints, min_part_score=0.0)  # row's box as the area
    return np.maximum(similarity, similarity.T)
