"""PoseNet decoders: the network's output tensors of one image -> poses in network-input pixels.

Written from the documented behaviour of the tfjs packages (PoseNet 1.x and 2.x: arg-max single-pose
decoding, PersonLab-style greedy multi-pose decoding) so that results match the reference outputs to float
noise (tests/test_decode.py checks them on the reference's own tensors).

The network's output layout, explained here once for the package (one image, no batch dimension; h, w = the
output grid, `R = (size - 1) / stride + 1`):

- `heatmap_scores` [h, w, 17]: sigmoid scores, channel k = keypoint id k (see `keypoints.PART_NAMES`).
- `offsets` [h, w, 34]: channels 0..16 are y offsets, 17..33 x offsets, in input pixels.
- `displacement_fwd` / `displacement_bwd` [h, w, 32]: channel e is the y displacement along pose-chain
  edge e (`keypoints.POSE_CHAIN`), 16 + e the x displacement; fwd goes parent -> child, bwd child -> parent.

A grid cell (cy, cx) stands for the input pixel (cy * stride, cx * stride); a keypoint's position is that
point plus its offset. Returned `Pose.keypoints` rows are (x, y, score).

The multi-pose chain walk is plain Python on floats read through flat memoryviews: a pose needs only a
few hundred values, and per-element numpy scalars would cost far more than the arithmetic. Python floats
are IEEE doubles, which is what JavaScript computes with, so results match the reference bit for bit.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from numbers import Integral
from typing import Any

import numpy as np

from .keypoints import NUM_EDGES, NUM_KEYPOINTS, POSE_CHAIN, mutual_oks
from .pose import Pose

__all__ = ["DecoderOptions", "decode_single_pose", "decode_multiple_poses"]


@dataclass(frozen=True)
class DecoderOptions:
    """Which decoder, its settings and which poses to keep.

    `multi` True: the multi-pose decoder with `max_poses`, `score_threshold` (the smallest part score that
    can start a pose), `nms_radius` (network-input pixels) and `refine_steps` (2: tfjs 2.x, 1: tfjs 1.x);
    False: the single-pose (arg-max) decoder. Poses scoring below `min_pose_score` are dropped, and so is a
    pose whose keypoints match those of a higher-scoring pose kept with an OKS above `duplicate_oks` (all
    17 keypoints, the kept pose's box as the area; 1 keeps all): the greedy decoder grows a second, fainter
    pose from a root its NMS radius did not reach, along the same person. `by_score` returns the poses
    highest score first (False: in the order the decoder accepted them, tfjs's). `mirror` is tfjs's
    flipHorizontal: positions are mirrored, x' = width - 1 - x, when they are mapped back to the image (part
    labels stay).

    The defaults were chosen by COCO keypoint AP on the shared labelled photos (docs/accuracy.md): several
    people found, up to 20; duplicates dropped at the lowest OKS threshold that keeps the AP of keeping every
    pose, on held-out photos, and no score cut (any cost AP there). `TFJS_MULTI` holds tfjs's.
    """

    multi: bool = True
    max_poses: int = 20
    score_threshold: float = 0.15
    nms_radius: float = 20.0
    refine_steps: int = 2
    min_pose_score: float = 0.0
    duplicate_oks: float = 0.9
    by_score: bool = True
    mirror: bool = False

    def decode(self, outputs: Mapping[str, np.ndarray], output_stride: int) -> list[Pose]:
        """One image's poses in network-input pixels ([the single pose] unless `multi`), unfiltered."""
        if not self.multi:
            return [decode_single_pose(outputs["heatmap_scores"], outputs["offsets"], output_stride)]
        return decode_multiple_poses(
            outputs["heatmap_scores"], outputs["offsets"], outputs["displacement_fwd"], outputs["displacement_bwd"],
            output_stride, max_detections=self.max_poses, score_threshold=self.score_threshold,
            nms_radius=self.nms_radius, refine_steps=self.refine_steps)

    def keep(self, poses: list[Pose]) -> list[Pose]:
        """The poses to return, of one image's decoded `poses` (in any one pixel space): the duplicates and
        those under `min_pose_score` dropped, sorted by score unless `by_score` is False."""
        poses = [p for p in poses if p.score >= self.min_pose_score]
        if self.by_score:
            poses = sorted(poses, key=lambda p: -p.score)
        if self.duplicate_oks >= 1.0 or len(poses) < 2:
            return poses
        return [poses[i] for i in unique_poses(poses, self.duplicate_oks)]

    def settings(self) -> dict[str, Any]:
        """The decoder as recorded with results (the multi-pose settings only where they apply)."""
        out: dict[str, Any] = {"decoder": "multi" if self.multi else "single"}
        if self.multi:
            out.update(max_detections=self.max_poses, score_threshold=self.score_threshold,
                       nms_radius=self.nms_radius, refine_steps=self.refine_steps, duplicate_oks=self.duplicate_oks)
        return out


def unique_poses(poses: list[Pose], duplicate_oks: float) -> list[int]:
    """Indices of the poses kept when each, taken in the given order, is dropped as a duplicate if its OKS
    (`keypoints.mutual_oks`) with one kept before it is above `duplicate_oks`."""
    similarity = mutual_oks(np.stack([p.keypoints for p in poses]))
    kept: list[int] = []
    for i in range(len(poses)):
        if not (similarity[kept, i] > duplicate_oks).any():
            kept.append(i)
    return kept


# tfjs's multi-pose call: its defaults, every pose kept, in the order the decoder accepted them.
TFJS_MULTI = DecoderOptions(multi=True, max_poses=5, score_threshold=0.5, nms_radius=20.0, min_pose_score=0.0,
                            duplicate_oks=1.0, by_score=False)

_OFFSET_CHANNELS = 2 * NUM_KEYPOINTS  # 34: y for keypoints 0..16, then x
_DISP_CHANNELS = 2 * NUM_EDGES  # 32: y for edges 0..15, then x


# ---------------------------------------------------------------------------------------------------
# Input checks


def _check_stride(output_stride: int) -> int:
    if isinstance(output_stride, bool) or not isinstance(output_stride, Integral) or output_stride <= 0:
        raise ValueError(f"output_stride must be a positive integer (8, 16 or 32), got {output_stride!r}")
    return int(output_stride)


def _check_tensor(name: str, array: np.ndarray, channels: int, grid: tuple[int, int] | None) -> np.ndarray:
    """`array` as a C-contiguous float array of shape [h, w, channels] (same h, w as `grid` if given)."""
    array = np.asarray(array)
    if array.ndim != 3:
        hint = " (pass one image's tensors: drop the batch dimension)" if array.ndim == 4 else ""
        raise ValueError(f"{name} must have shape [height, width, {channels}], got {array.shape}{hint}")
    if array.shape[2] != channels:
        raise ValueError(f"{name} must have {channels} channels in its last axis, got shape {array.shape}")
    if array.shape[0] < 1 or array.shape[1] < 1:
        raise ValueError(f"{name} has an empty grid: shape {array.shape}")
    if grid is not None and array.shape[:2] != grid:
        raise ValueError(f"{name} has grid {array.shape[:2]}, but heatmap_scores has grid {grid}")
    if array.dtype not in (np.float32, np.float64):
        if not (np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)):
            raise ValueError(f"{name} must hold real numbers, got dtype {array.dtype}")
        array = array.astype(np.float64)
    return np.ascontiguousarray(array)


# ---------------------------------------------------------------------------------------------------
# Single pose


def decode_single_pose(heatmap_scores: np.ndarray, offsets: np.ndarray, output_stride: int) -> Pose:
    """The one pose made of each keypoint's best cell: arg-max of its heatmap plus that cell's offset.

    Ties go to the first maximum in row-major order, like tf.argMax. The position sum is done in
    float32, as tfjs does it with tensor ops; the pose score is the mean of the 17 keypoint scores.
    """
    stride = _check_stride(output_stride)
    scores = _check_tensor("heatmap_scores", heatmap_scores, NUM_KEYPOINTS, None)
    h, w = scores.shape[:2]
    offsets = _check_tensor("offsets", offsets, _OFFSET_CHANNELS, (h, w))

    flat = np.argmax(scores.reshape(h * w, NUM_KEYPOINTS), axis=0)  # [17] flat cell index per keypoint
    cy, cx = np.divmod(flat, w)
    ids = np.arange(NUM_KEYPOINTS)
    kp_scores = scores[cy, cx, ids].astype(np.float64)
    off_y = offsets[cy, cx, ids].astype(np.float32)
    off_x = offsets[cy, cx, ids + NUM_KEYPOINTS].astype(np.float32)
    keypoints = np.empty((NUM_KEYPOINTS, 3))
    keypoints[:, 0] = (cx * stride).astype(np.float32) + off_x
    keypoints[:, 1] = (cy * stride).astype(np.float32) + off_y
    keypoints[:, 2] = kp_scores
    # Summed one by one in double precision, as the reference does, then averaged.
    return Pose(sum(kp_scores.tolist()) / NUM_KEYPOINTS, keypoints)


# ---------------------------------------------------------------------------------------------------
# Multi-pose: candidate roots


def _local_maxima(scores: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """Flat indices (into [h, w, 17], ascending = y, x, k order) and scores of the candidate roots.

    A candidate scores >= threshold and no score of the same keypoint in its 3x3 window (clipped at
    the border) is strictly greater, i.e. it equals the window maximum.
    """
    h, w, k = scores.shape
    padded = np.full((h + 2, w + 2, k), -np.inf, dtype=scores.dtype)
    padded[1:-1, 1:-1] = scores
    rows = np.maximum(np.maximum(padded[:-2], padded[1:-1]), padded[2:])  # [h, w + 2, k]: max over dy
    window = np.maximum(np.maximum(rows[:, :-2], rows[:, 1:-1]), rows[:, 2:])  # [h, w, k]: then over dx
    mask = (scores >= threshold) & (scores == window)
    flat = np.flatnonzero(mask)
    return flat, scores.reshape(-1)[flat]


def _heap_order(values: list[float]) -> Iterator[int]:
    """Indices of `values` in the order the reference's binary max-heap hands them out.

    The tfjs decoder pushes candidates (in y, x, k order) onto its own max-heap, an array heap whose
    node i has children 2i and 2i + 1 and parent i // 2 (so the root shares index 0 with its first
    child), swapping only on strict "<". Among equal scores this yields a particular order, which
    decides which of two tied roots is decoded first; we rebuild that heap to reproduce it. Used only
    when candidate scores tie, since a stable sort gives the same order otherwise.
    """
    heap: list[int] = []
    for i, v in enumerate(values):  # push: append, then swim up while the parent is smaller
        n = len(heap)
        heap.append(i)
        while n > 0 and values[heap[n // 2]] < v:
            heap[n], heap[n // 2] = heap[n // 2], heap[n]
            n //= 2
    last = len(heap) - 1
    while last >= 0:  # pop: take the top, move the last element to the top, sink it
        top = heap[0]
        heap[0] = heap[last]
        heap.pop()
        last -= 1
        k = 0
        while 2 * k <= last:
            j = 2 * k
            if j < last and values[heap[j]] < values[heap[j + 1]]:
                j += 1
            if not values[heap[k]] < values[heap[j]]:
                break
            heap[k], heap[j] = heap[j], heap[k]
            k = j
        yield top


def _candidate_order(values: np.ndarray) -> Iterator[int]:
    """Candidate indices by descending score, ties broken as the reference's heap breaks them."""
    if len(np.unique(values)) == len(values):
        yield from np.argsort(-values, kind="stable").tolist()
    else:
        yield from _heap_order(values.tolist())


# ---------------------------------------------------------------------------------------------------
# Multi-pose: the pose-chain walk


def _walk_plans() -> tuple[tuple[tuple[int, int, int, bool], ...], ...]:
    """For each root keypoint, the steps (edge, source id, target id, backward?) that decode a pose.

    The rule: walk edges last to first, child -> parent wherever the child is known and the parent
    not; then first to last, parent -> child likewise. Which steps fire depends only on the root, so
    we run the rule once per root here instead of testing "known" per edge per pose.
    """
    plans = []
    for root in range(NUM_KEYPOINTS):
        known = {root}
        steps: list[tuple[int, int, int, bool]] = []
        for edge in range(NUM_EDGES - 1, -1, -1):
            parent, child = POSE_CHAIN[edge]
            if child in known and parent not in known:
                steps.append((edge, child, parent, True))
                known.add(parent)
        for edge in range(NUM_EDGES):
            parent, child = POSE_CHAIN[edge]
            if parent in known and child not in known:
                steps.append((edge, parent, child, False))
                known.add(child)
        assert len(known) == NUM_KEYPOINTS
        plans.append(tuple(steps))
    return tuple(plans)


_WALK_PLANS = _walk_plans()


def _decode_from_root(
    root_id: int,
    root_x: float,
    root_y: float,
    root_score: float,
    scores: memoryview,
    offsets: memoryview,
    disp_fwd: memoryview,
    disp_bwd: memoryview,
    h: int,
    w: int,
    stride: int,
    refine_steps: int,
) -> tuple[list[float], list[float], list[float]]:
    """xs, ys, scores of the 17 keypoints of the pose grown from one root (flat memoryviews in)."""
    xs = [0.0] * NUM_KEYPOINTS
    ys = [0.0] * NUM_KEYPOINTS
    ss = [0.0] * NUM_KEYPOINTS
    xs[root_id], ys[root_id], ss[root_id] = root_x, root_y, root_score
    hmax, wmax = h - 1, w - 1
    score_before_refine = refine_steps == 1  # tfjs 1.x

    for edge, source, target, backward in _WALK_PLANS[root_id]:
        disp = disp_bwd if backward else disp_fwd
        px, py = xs[source], ys[source]
        # Cell nearest the source point: clamp(Math.round(p / stride)), Math.round(v) = floor(v + 0.5).
        # Written as comparisons on v + 0.5 so that huge, infinite or NaN values cannot raise.
        t = py / stride + 0.5
        cy = hmax if t >= hmax else (int(t) if t >= 1.0 else 0)
        t = px / stride + 0.5
        cx = wmax if t >= wmax else (int(t) if t >= 1.0 else 0)
        base = (cy * w + cx) * _DISP_CHANNELS
        ty = py + disp[base + edge]
        tx = px + disp[base + NUM_EDGES + edge]
        score_cell = -1
        for _ in range(refine_steps):
            t = ty / stride + 0.5
            cy = hmax if t >= hmax else (int(t) if t >= 1.0 else 0)
            t = tx / stride + 0.5
            cx = wmax if t >= wmax else (int(t) if t >= 1.0 else 0)
            cell = cy * w + cx
            if score_cell < 0:
                score_cell = cell
            base = cell * _OFFSET_CHANNELS
            ty = cy * stride + offsets[base + target]
            tx = cx * stride + offsets[base + NUM_KEYPOINTS + target]
        if not score_before_refine:  # tfjs 2.x: the score at the cell of the final point
            t = ty / stride + 0.5
            cy = hmax if t >= hmax else (int(t) if t >= 1.0 else 0)
            t = tx / stride + 0.5
            cx = wmax if t >= wmax else (int(t) if t >= 1.0 else 0)
            score_cell = cy * w + cx
        xs[target], ys[target] = tx, ty
        ss[target] = scores[score_cell * NUM_KEYPOINTS + target]
    return xs, ys, ss


def _near(x: float, y: float, x2: float, y2: float, r2: float) -> bool:
    """Whether (x, y) is within the NMS radius of (x2, y2): squared distance <= r2."""
    dx = x - x2
    dy = y - y2
    return dx * dx + dy * dy <= r2


def _check_multi_settings(max_detections: int, refine_steps: int, nms_radius: float, score_threshold: float
                          ) -> tuple[int, int, float, float]:
    """The multi-pose decoder's settings as int, int, float, float; ValueError for one it cannot use."""
    if isinstance(max_detections, bool) or not isinstance(max_detections, Integral) or max_detections < 0:
        raise ValueError(f"max_detections must be a non-negative integer, got {max_detections!r}")
    if isinstance(refine_steps, bool) or not isinstance(refine_steps, Integral) or refine_steps < 1:
        raise ValueError(f"refine_steps must be an integer >= 1 (1: tfjs 1.x, 2: tfjs 2.x), got {refine_steps!r}")
    nms_radius = float(nms_radius)
    score_threshold = float(score_threshold)
    if not nms_radius >= 0.0:
        raise ValueError(f"nms_radius must be >= 0 (input pixels), got {nms_radius!r}")
    if score_threshold != score_threshold:
        raise ValueError("score_threshold must be a number, got NaN")
    return int(max_detections), int(refine_steps), nms_radius, score_threshold


def decode_multiple_poses(
    heatmap_scores: np.ndarray,
    offsets: np.ndarray,
    displacement_fwd: np.ndarray,
    displacement_bwd: np.ndarray,
    output_stride: int,
    max_detections: int = 5,
    score_threshold: float = 0.5,
    nms_radius: float = 20.0,
    refine_steps: int = 2,
) -> list[Pose]:
    """Up to `max_detections` poses by PersonLab's greedy decoding, in the order they were accepted.

    Candidate roots (local maxima >= `score_threshold`) are taken by descending score; a root within
    `nms_radius` input pixels of the same keypoint of an accepted pose is skipped, otherwise a pose is
    grown from it along the pose chain. A pose's score is the sum of its keypoint scores, leaving out
    keypoints within `nms_radius` of an accepted pose's same keypoint, divided by 17.

    `refine_steps=1` reproduces tfjs 1.x (one offset refinement; the keypoint score is read at the
    displaced point's cell, before refining); `refine_steps>=2` is tfjs 2.x (that many refinements;
    the score is read at the final point's cell).
    """
    stride = _check_stride(output_stride)
    max_detections, refine_steps, nms_radius, score_threshold = _check_multi_settings(
        max_detections, refine_steps, nms_radius, score_threshold)
    scores = _check_tensor("heatmap_scores", heatmap_scores, NUM_KEYPOINTS, None)
    h, w = scores.shape[:2]
    offsets = _check_tensor("offsets", offsets, _OFFSET_CHANNELS, (h, w))
    displacement_fwd = _check_tensor("displacement_fwd", displacement_fwd, _DISP_CHANNELS, (h, w))
    displacement_bwd = _check_tensor("displacement_bwd", displacement_bwd, _DISP_CHANNELS, (h, w))
    if max_detections == 0:
        return []

    cand_flat, cand_scores = _local_maxima(scores, score_threshold)
    if len(cand_flat) == 0:
        return []
    cand_flat_list = cand_flat.tolist()
    cand_scores_list = cand_scores.tolist()

    # Flat views: element [y, x, c] of an [h, w, C] array is at (y * w + x) * C + c; indexing a
    # memoryview gives a Python float directly.
    s_mv = memoryview(scores.reshape(-1))
    o_mv = memoryview(offsets.reshape(-1))
    f_mv = memoryview(displacement_fwd.reshape(-1))
    b_mv = memoryview(displacement_bwd.reshape(-1))

    r2 = nms_radius * nms_radius
    accepted: list[tuple[list[float], list[float]]] = []  # xs, ys of the accepted poses
    poses: list[Pose] = []
    for i in _candidate_order(cand_scores):
        if len(poses) >= max_detections:
            break
        flat = cand_flat_list[i]
        cell, k = divmod(flat, NUM_KEYPOINTS)
        cy, cx = divmod(cell, w)
        base = cell * _OFFSET_CHANNELS
        ry = cy * stride + o_mv[base + k]
        rx = cx * stride + o_mv[base + NUM_KEYPOINTS + k]
        if any(_near(rx, ry, xs[k], ys[k], r2) for xs, ys in accepted):
            continue
        xs, ys, ss = _decode_from_root(k, rx, ry, cand_scores_list[i], s_mv, o_mv, f_mv, b_mv,
                                       h, w, stride, refine_steps)
        total = 0.0
        for j in range(NUM_KEYPOINTS):
            x, y = xs[j], ys[j]
            if not any(_near(x, y, oxs[j], oys[j], r2) for oxs, oys in accepted):
                total += ss[j]
        accepted.append((xs, ys))
        poses.append(Pose(total / NUM_KEYPOINTS, np.array([xs, ys, ss]).T.copy()))  # rows x, y, score
    return poses
