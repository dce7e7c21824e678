"""Property tests of the decoders on random tensors: well-formed output for any input, greedy NMS order.

The tensors come from a numpy generator seeded by hypothesis (fast to build, shrinks by seed and
sizes); scores are sometimes quantised so that ties and plateaus are common.
"""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from posenet_cli.decode import _local_maxima, decode_multiple_poses, decode_single_pose

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def scenes(draw: st.DrawFn) -> dict:
    h = draw(st.integers(1, 20))
    w = draw(st.integers(1, 20))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    scores = rng.random((h, w, 17))
    levels = draw(st.sampled_from([0, 2, 5]))  # 0: continuous; else a few levels, many ties
    if levels:
        scores = np.round(scores * levels) / levels
    scale = draw(st.sampled_from([1.0, 30.0, 1e4, 1e30]))  # offsets / displacements in input pixels
    return {
        "heatmap_scores": scores.astype(np.float32),
        "offsets": (rng.standard_normal((h, w, 34)) * scale).astype(np.float32),
        "displacement_fwd": (rng.standard_normal((h, w, 32)) * scale).astype(np.float32),
        "displacement_bwd": (rng.standard_normal((h, w, 32)) * scale).astype(np.float32),
        "output_stride": draw(st.sampled_from([8, 16, 32])),
        "max_detections": draw(st.integers(0, 10)),
        "score_threshold": draw(st.sampled_from([0.0, 0.3, 0.5, 0.9, 1.0])),
        "nms_radius": draw(st.sampled_from([0.0, 5.0, 20.0, 100.0])),
        "refine_steps": draw(st.integers(1, 3)),
    }


def naive_candidates(scores: np.ndarray, threshold: float) -> list[tuple[int, int, int]]:
    """Local maxima by the definition, cell by cell: >= threshold, no strictly greater 3x3 neighbour."""
    h, w, n = scores.shape
    found = []
    for y in range(h):
        for x in range(w):
            for k in range(n):
                s = scores[y, x, k]
                window = scores[max(0, y - 1):y + 2, max(0, x - 1):x + 2, k]
                if s >= threshold and not (window > s).any():
                    found.append((y, x, k))
    return found


@given(scenes())
@SETTINGS
def test_multi_pose_output_is_well_formed_and_greedy(scene: dict):
    poses = decode_multiple_poses(**scene)
    scores, offsets = scene["heatmap_scores"], scene["offsets"]
    stride, r2 = scene["output_stride"], scene["nms_radius"] ** 2
    assert len(poses) <= scene["max_detections"]
    for pose in poses:
        assert pose.keypoints.shape == (17, 3)
        assert np.isfinite(pose.keypoints).all()
        assert ((pose.keypoints[:, 2] >= 0) & (pose.keypoints[:, 2] <= 1)).all()
        assert 0.0 <= pose.score <= 1.0

    # Candidate roots, with their positions as the decoder computes them.
    candidates = []
    for y, x, k in naive_candidates(scores, scene["score_threshold"]):
        pos = (x * stride + float(offsets[y, x, 17 + k]), y * stride + float(offsets[y, x, k]))
        candidates.append((float(scores[y, x, k]), k, pos))

    def suppressed(k: int, pos: tuple[float, float], by: list) -> bool:
        return any((pos[0] - p.keypoints[k, 0]) ** 2 + (pos[1] - p.keypoints[k, 1]) ** 2 <= r2 for p in by)

    # Each pose grew from a candidate that no earlier pose suppressed, and it was the best such one:
    # every candidate scoring higher is within the radius of an earlier pose.
    root_scores = []
    for i, pose in enumerate(poses):
        roots = [s for s, k, pos in candidates
                 if pose.keypoints[k, 0] == pos[0] and pose.keypoints[k, 1] == pos[1]
                 and pose.keypoints[k, 2] == s and not suppressed(k, pos, poses[:i])]
        assert roots, f"pose #{i} has no unsuppressed candidate root"
        root = max(roots)
        assert all(suppressed(k, pos, poses[:i]) for s, k, pos in candidates if s > root), f"pose #{i} skipped a root"
        root_scores.append(root)
    assert root_scores == sorted(root_scores, reverse=True)
    # With room left, every candidate was used or suppressed.
    if len(poses) < scene["max_detections"]:
        assert all(suppressed(k, pos, poses) for _, k, pos in candidates)


@given(scenes())
@SETTINGS
def test_vectorised_local_maxima_match_the_definition(scene: dict):
    scores = scene["heatmap_scores"]
    flat, values = _local_maxima(scores, scene["score_threshold"])
    found = [tuple(int(i) for i in np.unravel_index(f, scores.shape)) for f in flat]
    assert found == naive_candidates(scores, scene["score_threshold"])
    assert values.tolist() == [float(scores[c]) for c in found]


@given(scenes())
@SETTINGS
def test_single_pose_takes_each_keypoints_best_cell(scene: dict):
    scores, offsets, stride = scene["heatmap_scores"], scene["offsets"], scene["output_stride"]
    pose = decode_single_pose(scores, offsets, stride)
    assert pose.keypoints.shape == (17, 3)
    assert np.isfinite(pose.keypoints).all()
    np.testing.assert_array_equal(pose.keypoints[:, 2], scores.max(axis=(0, 1)))
    assert 0.0 <= pose.score <= 1.0
    for k in range(17):
        y, x = np.unravel_index(np.argmax(scores[:, :, k]), scores.shape[:2])
        assert pose.keypoints[k, 0] == np.float32(x * stride) + offsets[y, x, 17 + k]
        assert pose.keypoints[k, 1] == np.float32(y * stride) + offsets[y, x, k]


@given(scenes())
@SETTINGS
def test_decoding_is_deterministic_and_dtype_independent(scene: dict):
    first = decode_multiple_poses(**scene)
    as64 = {k: (v.astype(np.float64) if isinstance(v, np.ndarray) else v) for k, v in scene.items()}
    second = decode_multiple_poses(**as64)
    assert len(first) == len(second)
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a.keypoints, b.keypoints)
        assert a.score == b.score
