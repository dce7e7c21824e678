"""Input sizing: the three conventions, padding, mapping back, and the legacy bilinear resize."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from posenet_cli.pose import Pose
from posenet_cli.sizing import (
    SizingError,
    js_round,
    make_plan,
    parse_resolution,
    plan_long_edge,
    plan_resolution,
    plan_scale_factor,
    resize_bilinear,
)


def test_scale_factor_sizes_follow_tfjs_1x():
    # 513 * 0.5 - 1 = 255.5 -> floor(255.5 / 16) * 16 + 1 = 241
    plan = plan_scale_factor(513, 513, 0.5, 16)
    assert (plan.input_height, plan.input_width) == (241, 241)
    plan = plan_scale_factor(480, 640, 1.0, 8)
    assert (plan.input_height, plan.input_width) == (473, 633)
    assert plan.scale_y == pytest.approx(480 / 473) and plan.pad_top == 0


def test_long_edge_default_is_641_on_the_long_side():
    plan = make_plan(720, 1280, 16)
    assert plan.input_width == 641
    assert plan.input_height == 353  # floor((720 * 641/1280 - 1) / 16) * 16 + 1
    portrait = make_plan(960, 540, 16)
    assert (portrait.input_height, portrait.input_width) == (641, 353)


def test_resolution_pads_to_aspect_and_snaps_invalid_sizes():
    plan = plan_resolution(480, 640, 513, 16)
    assert (plan.pad_top, plan.pad_bottom, plan.pad_left, plan.pad_right) == (80, 80, 0, 0)
    tall = plan_resolution(640, 480, "641x481", 16)
    assert (tall.input_width, tall.input_height) == (641, 481)
    assert tall.pad_left == tall.pad_right == js_round(0.5 * (641 / 481 * 640 - 480))
    assert plan_resolution(100, 100, 500, 16).input_width == 497


def test_mapping_back_inverts_padding_and_mirrors():
    plan = plan_resolution(480, 640, 513, 16)
    kp = np.zeros((17, 3))
    kp[:, 0], kp[:, 1] = 256.0, 256.0  # the centre of the network input
    back = plan.to_image(Pose(1.0, kp))
    assert back.keypoints[0, 0] == pytest.approx(256 * 640 / 513)
    assert back.keypoints[0, 1] == pytest.approx(256 * 640 / 513 - 80)
    mirrored = plan.to_image(Pose(1.0, kp), flip_horizontal=True)
    assert mirrored.keypoints[0, 0] == pytest.approx(639 - 256 * 640 / 513)


@pytest.mark.parametrize("bad", [
    lambda: plan_scale_factor(100, 100, 0.0, 16),
    lambda: plan_scale_factor(100, 100, 1.5, 16),
    lambda: plan_scale_factor(100, 100, 0.5, 12),
    lambda: plan_scale_factor(2, 2, 0.2, 16),
    lambda: parse_resolution("big"),
    lambda: parse_resolution("0x10"),
    lambda: make_plan(100, 100, 16, scale_factor=0.5, long_edge=641),
    lambda: plan_long_edge(0, 10, 641, 16),
])
def test_bad_sizes_raise_a_clear_error(bad):
    with pytest.raises(SizingError):
        bad()


def test_resize_matches_tensorflow_legacy_bilinear():
    import tensorflow as tf

    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, size=(37, 53, 3)).astype(np.uint8)
    for out_h, out_w in [(17, 25), (81, 97), (37, 53)]:
        expected = tf.raw_ops.ResizeBilinear(images=image[None].astype(np.float32), size=[out_h, out_w],
                                             align_corners=False, half_pixel_centers=False)[0].numpy()
        np.testing.assert_allclose(resize_bilinear(image, out_h, out_w), expected, atol=1e-3)


@given(h=st.integers(1, 3000), w=st.integers(1, 3000), stride=st.sampled_from([8, 16, 32]),
       edge=st.integers(33, 2000), res=st.integers(1, 1500))
@settings(max_examples=300, deadline=None)
def test_every_plan_gives_valid_network_sizes(h, w, stride, edge, res):
    for plan in (plan_long_edge(h, w, edge, stride), plan_resolution(h, w, res, stride)):
        assert (plan.input_height - 1) % stride == 0 and (plan.input_width - 1) % stride == 0
        assert plan.input_height >= 1 and plan.input_width >= 1
        assert plan.scale_x > 0 and plan.scale_y > 0


CONFIGS = {
    "v1-m050-s16-f100": {"scale_factor": 1.0},
    "v1-m075-s8-f050": {"scale_factor": 0.5},
    "v2-q2m075-s16-r257": {"resolution": 257},
    "v2-q2m075-s16-r513": {"resolution": 513},
}


@pytest.mark.parametrize("config", sorted(CONFIGS))
def test_prepared_input_equals_the_reference_input(shared: Path, config: str):
    """Decoding the JPEG, padding and resizing give the very tensor the reference fed its network."""
    worst = 0.0
    for meta_path in sorted((shared / "reference" / "raw" / config).glob("*.json")):
        meta = json.loads(meta_path.read_text())
        expected = np.load(meta_path.with_suffix(".npz"))["input"]
        image = cv2.imread(str(shared / meta["image"]))[:, :, ::-1]
        plan = make_plan(image.shape[0], image.shape[1], meta["outputStride"], **CONFIGS[config])
        if meta.get("padding"):
            pads = meta["padding"]
            assert (plan.pad_top, plan.pad_bottom, plan.pad_left, plan.pad_right) == (
                pads["top"], pads["bottom"], pads["left"], pads["right"])
        got = plan.prepare(image)
        assert got.shape == expected.shape
        worst = max(worst, float(np.abs(got - expected).max()))
    print(f"{config}: max |input - reference input| = {worst:.2e}")
    assert worst < 0.02  # float rounding only (the WASM backend resizes in float32)
