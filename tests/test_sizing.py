"""Input sizing: the three conventions, padding, mapping back, and the legacy bilinear resize."""

from __future__ import annotations

import json
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from posenet_cli.pose import Pose
from posenet_cli.sizing import (
    DEFAULT_LONG_EDGE,
    MAX_INPUT_PIXELS,
    MAX_PADDED_PIXELS,
    InputPlan,
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


def test_long_edge_snaps_each_side_to_the_nearest_valid_size():
    assert (make_plan(480, 640, 16, long_edge=641).input_height, make_plan(480, 640, 16, long_edge=641).input_width) \
        == (481, 641)  # 480.75 -> 481; snapping down gave 465 and distorted the aspect
    plan = make_plan(720, 1280, 16, long_edge=641)
    assert (plan.input_height, plan.input_width) == (353, 641)  # 360.5 is nearer 353 than 369
    portrait = make_plan(1280, 720, 8, long_edge=641)
    assert (portrait.input_height, portrait.input_width) == (641, 361)  # 360.5 -> 361 at stride 8
    assert make_plan(3, 1000, 16, long_edge=641).input_height == 17  # never below one cell


@given(h=st.integers(1, 4000), w=st.integers(1, 4000), stride=st.sampled_from([8, 16, 32]), edge=st.integers(33, 1500))
@settings(max_examples=300, deadline=None)
def test_long_edge_sides_are_within_half_a_stride_of_the_scaled_sides(h, w, stride, edge):
    plan = plan_long_edge(h, w, edge, stride)
    f = edge / max(h, w)
    for side, scaled in ((plan.input_height, h * f), (plan.input_width, w * f)):
        assert (side - 1) % stride == 0
        assert abs(side - scaled) <= stride / 2 + 1e-9 or (side == stride + 1 and scaled < side)


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


def naive_legacy_bilinear(image: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    """The legacy bilinear resize written out pixel by pixel: output pixel (y, x) samples the source at
    (y * H / out_h, x * W / out_w) (no half-pixel centres, no corner alignment; the scale and the source
    position in float32, as the op defines them), interpolating in float64 between the neighbours below
    and to the right, clamped at the last row and column."""
    h, w = image.shape[:2]
    out = np.zeros((out_h, out_w, image.shape[2]))
    src = image.astype(np.float64)
    scale_y, scale_x = np.float32(h) / np.float32(out_h), np.float32(w) / np.float32(out_w)
    for y in range(out_h):
        sy = float(np.float32(y) * scale_y)
        y0 = int(np.floor(sy))
        y1, fy = min(y0 + 1, h - 1), sy - y0
        for x in range(out_w):
            sx = float(np.float32(x) * scale_x)
            x0 = int(np.floor(sx))
            x1, fx = min(x0 + 1, w - 1), sx - x0
            top = src[y0, x0] * (1 - fx) + src[y0, x1] * fx
            bottom = src[y1, x0] * (1 - fx) + src[y1, x1] * fx
            out[y, x] = top * (1 - fy) + bottom * fy
    return out


@pytest.mark.parametrize("size, out", [((37, 53), (17, 25)), ((37, 53), (81, 97)), ((37, 53), (37, 53)),
                                       ((2, 3), (33, 49)), ((720, 1280), (49, 81))])
def test_resize_equals_a_pixel_by_pixel_legacy_bilinear(size, out):
    rng = np.random.default_rng(sum(size))
    image = rng.integers(0, 256, size=(*size, 3)).astype(np.uint8)
    got = resize_bilinear(image, *out)
    assert got.dtype == np.float32 and got.shape == (*out, 3)
    np.testing.assert_allclose(got, naive_legacy_bilinear(image, *out), atol=2e-3)  # float32 rounding only


def tensorflow_resize(image: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    """TensorFlow's own legacy ResizeBilinear op, which the numpy resize reproduces."""
    from posenet_cli.models.environment import import_tensorflow

    import_tensorflow()
    import tensorflow as tf

    return tf.raw_ops.ResizeBilinear(images=np.ascontiguousarray(image)[None], size=[out_h, out_w],
                                     align_corners=False, half_pixel_centers=False).numpy()[0]


@given(in_h=st.integers(1, 300), in_w=st.integers(1, 300), out_h=st.integers(1, 400), out_w=st.integers(1, 400),
       channels=st.sampled_from([1, 3]), dtype=st.sampled_from(["uint8", "float32", "float64", "uint16", "int32"]),
       seed=st.integers(0, 2**32 - 1))
@settings(max_examples=150, deadline=None)
def test_resize_equals_tensorflows_op_bit_for_bit(in_h, in_w, out_h, out_w, channels, dtype, seed):
    rng = np.random.default_rng(seed)
    if dtype.startswith("float"):
        image = (rng.random((in_h, in_w, channels)) * 255).astype(dtype)
    else:
        image = rng.integers(0, 256 if dtype == "uint8" else 60000, (in_h, in_w, channels)).astype(dtype)
    got = resize_bilinear(image, out_h, out_w)
    assert got.dtype == np.float32
    assert np.array_equal(got, tensorflow_resize(image, out_h, out_w))


@pytest.mark.parametrize("size, out", [((4000, 3000), (2049, 1537)), ((720, 1280), (4097, 2048)),
                                       ((7, 5000), (3, 4097)), ((720, 1280), (360, 640)), ((513, 513), (513, 513)),
                                       ((720, 1280), (720, 641))])
def test_resize_equals_tensorflows_op_at_large_and_whole_number_sizes(size, out):
    """Large sizes, where float32 source positions round, and axes whose weights are all zero."""
    image = np.random.default_rng(size[1]).integers(0, 256, (*size, 3), dtype=np.uint8)
    assert np.array_equal(resize_bilinear(image, *out), tensorflow_resize(image, *out))


def test_resize_writes_into_a_given_buffer_and_takes_strided_images():
    image = np.random.default_rng(1).integers(0, 256, (720, 1280, 3), dtype=np.uint8)
    buffer = np.zeros((353, 641, 3), np.float32)
    assert resize_bilinear(image, 353, 641, out=buffer) is buffer
    assert np.array_equal(buffer, tensorflow_resize(image, 353, 641))
    strided = image[::2, ::3]
    assert np.array_equal(resize_bilinear(strided, 97, 113), tensorflow_resize(strided.copy(), 97, 113))
    with pytest.raises(ValueError, match="out must be"):
        resize_bilinear(image, 353, 641, out=np.zeros((353, 641, 3), np.float64))


@given(h=st.integers(1, 3000), w=st.integers(1, 3000), stride=st.sampled_from([8, 16, 32]),
       edge=st.integers(33, 2000), res=st.integers(1, 1500))
@settings(max_examples=300, deadline=None)
def test_every_plan_gives_valid_network_sizes(h, w, stride, edge, res):
    for plan in (plan_long_edge(h, w, edge, stride), plan_resolution(h, w, res, stride)):
        assert (plan.input_height - 1) % stride == 0 and (plan.input_width - 1) % stride == 0
        assert plan.input_height >= 1 and plan.input_width >= 1
        assert plan.scale_x > 0 and plan.scale_y > 0


# Any sizes and options at all, valid or not: make_plan gives a plan that keeps every invariant, or a
# one-line SizingError; never another exception, never slowly.
_side = st.integers(-3, 6000) | st.sampled_from([0, 1, 2, 15, 16, 17, 100_000, 1 << 31, (1 << 31) + 1, 10**400])
_number = st.floats(allow_nan=True, allow_infinity=True) | st.floats(-0.1, 1.2) | st.integers(-3, 3)
_text = st.text(max_size=12) | st.from_regex(r"-?\d{1,6}([x*X]-?\d{1,6})?", fullmatch=True)
_pair = st.tuples(st.integers(-3, 6000), st.integers(-3, 6000))
_odd = st.sampled_from([True, b"513", [513], 513.0, (1, 2, 3), ("5", "5"), 10**400])


@st.composite
def _sizing_options(draw: st.DrawFn) -> dict:
    which = draw(st.sampled_from(["none", "scale_factor", "resolution", "long_edge", "two", "odd"]))
    options: dict = {}
    if which in ("scale_factor", "two"):
        options["scale_factor"] = draw(_number)
    if which in ("resolution", "two"):
        options["resolution"] = draw(_side | _pair | _text)
    if which == "long_edge":
        options["long_edge"] = draw(_side | _number)
    if which == "odd":
        options[draw(st.sampled_from(["scale_factor", "resolution", "long_edge"]))] = draw(_odd)
    return options


def _check_plan(plan: InputPlan, h: int, w: int, stride: int, options: dict) -> None:
    assert (plan.height, plan.width) == (h, w)
    for side in (plan.input_height, plan.input_width):  # network sides are k * stride + 1
        assert side >= 1 and (side - 1) % stride == 0
    assert plan.input_height * plan.input_width <= MAX_INPUT_PIXELS
    assert min(plan.pad_top, plan.pad_bottom, plan.pad_left, plan.pad_right) >= 0
    assert plan.pad_top == plan.pad_bottom and plan.pad_left == plan.pad_right
    assert not (plan.pad_top and plan.pad_left)  # padding on one axis only
    padded_h, padded_w = h + 2 * plan.pad_top, w + 2 * plan.pad_left
    assert padded_h * padded_w <= max(MAX_PADDED_PIXELS, h * w)
    assert plan.scale_x > 0 and plan.scale_y > 0
    # The network input's corners map back onto the (padded) image.
    kp = np.zeros((17, 3))
    kp[1, :2] = plan.input_width - 1, plan.input_height - 1
    corners = plan.to_image(Pose(1.0, kp)).keypoints
    assert corners[0, 0] == pytest.approx(-plan.pad_left) and corners[0, 1] == pytest.approx(-plan.pad_top)
    assert -plan.pad_left <= corners[1, 0] < w + plan.pad_right and -plan.pad_top <= corners[1, 1] < h + plan.pad_bottom
    long_side = max(plan.input_height, plan.input_width) if h != w else plan.input_height
    if "scale_factor" in options:
        f = options["scale_factor"]
        assert plan.pad_top == plan.pad_left == 0
        assert plan.input_height <= h * f and plan.input_width <= w * f
    elif "resolution" in options:
        aspect = plan.input_width / plan.input_height
        # Padding goes on the side that is short of the target aspect, to within the rounding of two equal pads.
        if w / h < aspect:
            assert plan.pad_top == 0 and abs(padded_w - aspect * padded_h) <= 1
        else:
            assert plan.pad_left == 0 and abs(padded_h - padded_w / aspect) <= 1
    else:
        edge = options.get("long_edge", DEFAULT_LONG_EDGE)
        assert plan.pad_top == plan.pad_left == 0
        assert abs(long_side - edge) <= stride / 2  # the nearest valid size to the long edge asked for


@pytest.mark.slow
@given(h=_side, w=_side, stride=st.sampled_from([8, 16, 32]) | st.integers(-1, 40), options=_sizing_options())
@settings(max_examples=600, deadline=None)
@example(h=1, w=3, stride=8, options={"long_edge": 1.7976931348623157e308})  # once scaled it overflowed to inf
def test_any_sizes_give_a_valid_plan_or_a_sizing_error(h, w, stride, options):
    start = time.monotonic()
    try:
        plan = make_plan(h, w, stride, **options)
    except SizingError as e:
        assert str(e) and "\n" not in str(e)
    else:
        _check_plan(plan, h, w, stride, options)
    assert time.monotonic() - start < 1


@given(text=st.text(max_size=16) | _text)
@settings(max_examples=300, deadline=None)
def test_parse_resolution_takes_any_text(text):
    try:
        w, h = parse_resolution(text)
    except SizingError as e:
        assert str(e) and "\n" not in str(e)
    else:
        assert w >= 1 and h >= 1 and isinstance(w, int) and isinstance(h, int)


@given(h=st.integers(1, 40), w=st.integers(1, 40), stride=st.sampled_from([8, 16, 32]), options=_sizing_options())
@settings(max_examples=60, deadline=None)
def test_prepared_inputs_have_the_planned_shape(h, w, stride, options):
    try:
        plan = make_plan(h, w, stride, **options)
    except SizingError:
        return
    if plan.input_height * plan.input_width > 300_000:
        return
    image = np.random.default_rng(h * 41 + w).integers(0, 256, (h, w, 3), dtype=np.uint8)
    got = plan.prepare(image)
    assert got.shape == (plan.input_height, plan.input_width, 3) and got.dtype == np.float32
    assert np.isfinite(got).all() and got.min() >= 0 and got.max() <= 255


def test_memory_bounds_are_sizing_errors():
    with pytest.raises(SizingError, match=r"long edge 20000 gives a network input of 20001x20001, over the limit"):
        make_plan(513, 513, 16, long_edge=20000)
    with pytest.raises(SizingError, match=r"image 10000x10000 at scale factor 1.0 gives a network input"):
        make_plan(10000, 10000, 16, scale_factor=1.0)
    with pytest.raises(SizingError, match=r"pads the image to 100000x100001, over the limit of 100 megapixels"):
        make_plan(1, 100000, 16, resolution=257)
    assert make_plan(20000, 20000, 16).input_width == DEFAULT_LONG_EDGE  # scaled down, not padded: fine
    with pytest.raises(SizingError, match="long edge must be at least 17"):
        make_plan(100, 100, 16, long_edge=0)  # was silently taken as the default 641


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
