"""Joint and segment angles of a pose, in degrees, from its keypoints (vectorised over frames).

Joint angles are the included angle at a joint between its two segments, 0-180 (180: straight), e.g. the
knee's between hip-knee and knee-ankle. Segment angles are a segment's direction against the image
horizontal, from its proximal end to its distal one (the trunk from mid-hip to mid-shoulder), counter-clockwise
positive as seen on screen: image y grows downwards, so the angle is atan2(-dy, dx), in (-180, 180]. An upright
trunk is 90, a thigh hanging straight down -90, a forearm pointing right 0.

An angle is None (NaN in arrays) unless every keypoint it uses is usable: scoring at least the threshold, or
filled in from usable neighbours (motion.filtering). A made-up number is never written.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..keypoints import PART_IDS
from ..pose import Pose


def _ids(*parts: str) -> tuple[int, ...]:
    return tuple(PART_IDS[p] for p in parts)


# name -> (end, vertex, end): the included angle at the middle keypoint.
JOINTS: dict[str, tuple[int, int, int]] = {
    f"{side}_{joint}": _ids(*(f"{side}{part}" for part in parts))
    for side in ("left", "right")
    for joint, parts in (("elbow", ("Shoulder", "Elbow", "Wrist")), ("shoulder", ("Hip", "Shoulder", "Elbow")),
                         ("hip", ("Shoulder", "Hip", "Knee")), ("knee", ("Hip", "Knee", "Ankle")))
}
# name -> (proximal keypoints, distal keypoints): the segment from the mean of the first to the mean of the second.
SEGMENTS: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = {
    "trunk": (_ids("leftHip", "rightHip"), _ids("leftShoulder", "rightShoulder")),
    **{f"{side}_{segment}": (_ids(f"{side}{a}"), _ids(f"{side}{b}"))
       for side in ("left", "right")
       for segment, (a, b) in (("thigh", ("Hip", "Knee")), ("shank", ("Knee", "Ankle")),
                               ("upper_arm", ("Shoulder", "Elbow")), ("forearm", ("Elbow", "Wrist")))},
}
ANGLE_NAMES: tuple[str, ...] = (*JOINTS, *SEGMENTS)


def angle_parts(name: str) -> tuple[int, ...]:
    """The keypoints (part indexes) angle `name` is made from."""
    if name in JOINTS:
        return JOINTS[name]
    proximal, distal = SEGMENTS[name]
    return (*proximal, *distal)


def angle_table(xy: np.ndarray, usable: np.ndarray) -> np.ndarray:
    """Every angle (..., len(ANGLE_NAMES)) in ANGLE_NAMES order, in degrees, of keypoints `xy` (..., 17, 2)
    with `usable` (..., 17) saying which may be used; NaN where a keypoint is not usable or a segment has no
    length."""
    xy = np.asarray(xy, dtype=np.float64)
    out = np.full((*xy.shape[:-2], len(ANGLE_NAMES)), np.nan)
    for n, (a, b, c) in enumerate(JOINTS.values()):
        u, v = xy[..., a, :] - xy[..., b, :], xy[..., c, :] - xy[..., b, :]  # (..., 2) each
        cross = u[..., 0] * v[..., 1] - u[..., 1] * v[..., 0]
        dot = (u * v).sum(axis=-1)
        degrees = np.degrees(np.arctan2(np.abs(cross), dot))  # atan2 stays exact near 0 and 180, acos does not
        ok = usable[..., a] & usable[..., b] & usable[..., c] & (np.hypot(*np.moveaxis(u, -1, 0)) > 0) \
            & (np.hypot(*np.moveaxis(v, -1, 0)) > 0)
        out[..., n] = np.where(ok, degrees, np.nan)
    for n, (proximal, distal) in enumerate(SEGMENTS.values(), len(JOINTS)):
        d = xy[..., list(distal), :].mean(axis=-2) - xy[..., list(proximal), :].mean(axis=-2)  # (..., 2)
        degrees = np.degrees(np.arctan2(-d[..., 1], d[..., 0]))  # y grows downwards: -dy is up on screen
        degrees = np.where(degrees == -180.0, 180.0, degrees) + 0.0  # + 0.0: no -0.0
        ok = usable[..., list(proximal + distal)].all(axis=-1) & ((d != 0).any(axis=-1))
        out[..., n] = np.where(ok, degrees, np.nan)
    return out


def usable_keypoints(pose: Pose, min_part_score: float) -> np.ndarray:
    """(17,) which keypoints an angle may use: scoring at least `min_part_score`, or filled in."""
    usable = pose.keypoints[:, 2] >= min_part_score
    return usable if pose.filled is None else usable | pose.filled


def pose_angles(pose: Pose, min_part_score: float, names: Sequence[str] = ANGLE_NAMES) -> dict[str, float | None]:
    """The angles `names` of one pose: {name: degrees or None}."""
    table = angle_table(pose.keypoints[:, :2], usable_keypoints(pose, min_part_score))
    return {name: (None if np.isnan(value := table[ANGLE_NAMES.index(name)]) else float(value)) for name in names}
