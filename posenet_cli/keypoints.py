"""The 17 PoseNet keypoints, the pose chain the multi-pose decoder walks, and the drawn skeleton."""

from __future__ import annotations

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

# The 16 (parent, child) edges of the tree rooted at the nose, in the order of the
# displacement channels: edge e uses displacement channels e (y) and 16 + e (x).
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
