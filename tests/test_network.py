"""The networks: MobileNetV1 from 1.x checkpoints and the TF.js graph-model importer (MobileNet, ResNet50).

Real weights exist here only for 0.50 / 0.75; 1.00, 1.01 and ResNet50 run on generated weights in the
official file formats (tests/fakes.py) and are checked for shapes, finiteness and consistency.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from fakes import (
    GraphBuilder,
    attr_ints,
    attr_s,
    attr_strs,
    fake_checkpoint,
    fill_weights_manifest,
    resnet_graph,
    write_graph_model,
)

from posenet_cli.models.graph_import import GraphImportError, build_graph_model, run_graph
from posenet_cli.models.network import OUTPUT_CHANNELS, OUTPUT_NAMES, StrideError, _layer_plan, build_mobilenet_v1
from posenet_cli.models.weights import WeightsError, read_checkpoint, read_graph_model


def grid(size: int, stride: int) -> int:
    return (size - 1) // stride + 1


def check_outputs(out: dict[str, np.ndarray], batch: int, height: int, width: int, stride: int) -> None:
    assert list(out) == list(OUTPUT_NAMES)
    for name, value in out.items():
        assert value.shape == (batch, grid(height, stride), grid(width, stride), OUTPUT_CHANNELS[name]), name
        assert value.dtype == np.float32 and np.isfinite(value).all(), name
    assert ((out["heatmap_scores"] >= 0) & (out["heatmap_scores"] <= 1)).all()
    if min(out["offsets"].shape[1:3]) > 1:  # the image shows through: outputs vary across the grid
        assert out["offsets"].std(axis=(1, 2)).mean() > 0.01


@pytest.fixture(scope="module")
def images() -> np.ndarray:
    """Two 161 x 129 RGB images 0..255 (non-square, valid at strides 8, 16 and 32)."""
    return np.random.default_rng(7).uniform(0, 255, (2, 161, 129, 3)).astype(np.float32)


def real_checkpoint(shared: Path, multiplier: str) -> dict[str, np.ndarray]:
    folder = shared / "models" / "weights" / "posenet" / f"mobilenet_v1_{multiplier}"
    return read_checkpoint(lambda rel: folder / rel)


# ----------------------------------------------------------------------------------------------------
# MobileNetV1 from checkpoints


def test_layer_plan_atrous() -> None:
    strides_100 = [2, 1, 2, 1, 2, 1, 2, 1, 1, 1, 1, 1, 2, 1]
    assert _layer_plan(strides_100, 32) == [(s, 1) for s in strides_100]
    # At stride 8, Conv2d_6 runs at stride 1 and every later layer dilates by 2, after Conv2d_12 by 4.
    assert _layer_plan(strides_100, 8) == [(2, 1), (1, 1), (2, 1), (1, 1), (2, 1), (1, 1), (1, 1)] + \
        [(1, 2)] * 6 + [(1, 4)]
    assert _layer_plan(strides_100, 16)[-2:] == [(1, 1), (1, 2)]


@pytest.mark.parametrize("variant, multiplier", [("mobilenet_v1_100", 1.00), ("mobilenet_v1_101", 1.01)])
def test_fake_checkpoint_all_strides(shared: Path, tmp_path: Path, images: np.ndarray, variant: str,
                                     multiplier: float) -> None:
    fake_checkpoint(tmp_path, shared / "models" / "manifests-only" / variant / "manifest.json", seed=1)
    weights = read_checkpoint(lambda rel: tmp_path / rel)
    outs = {}
    for stride in (8, 16, 32):
        net = build_mobilenet_v1(weights, stride)
        assert (net.multiplier, net.output_stride, net.architecture) == (multiplier, stride, "mobilenet_v1")
        outs[stride] = net(images)
        check_outputs(outs[stride], 2, 161, 129, stride)
    assert_atrous_consistent(outs)


def assert_atrous_consistent(outs: dict[int, dict[str, np.ndarray]]) -> None:
    """Atrous evaluation is dense evaluation: on inputs of k * 32 + 1 px, the stride-s grid is every
    other cell of the stride-s/2 grid (same values), which checks the stride/dilation bookkeeping."""
    for fine, coarse in ((8, 16), (16, 32)):
        if fine in outs and coarse in outs:
            for name in OUTPUT_NAMES:
                np.testing.assert_allclose(outs[fine][name][:, ::2, ::2], outs[coarse][name], rtol=1e-4, atol=1e-4,
                                           err_msg=f"{name}: stride {fine} vs {coarse}")


@pytest.mark.model
def test_stride_errors(shared: Path) -> None:
    weights = real_checkpoint(shared, "075")
    with pytest.raises(ValueError, match=r"MobileNetV1 0.75 supports output strides up to 16.*needs multiplier 1.00"):
        build_mobilenet_v1(weights, 32)
    with pytest.raises(StrideError, match=r"must be one of 8, 16, 32 \(got 4\)"):
        build_mobilenet_v1(weights, 4)
    assert build_mobilenet_v1(weights, 8).multiplier == 0.75


@pytest.mark.model
def test_real_checkpoint_atrous_consistent(shared: Path, images: np.ndarray) -> None:
    weights = real_checkpoint(shared, "075")
    assert_atrous_consistent({s: build_mobilenet_v1(weights, s)(images) for s in (8, 16)})


@pytest.mark.model
def test_checkpoint_shape_errors(shared: Path) -> None:
    weights = real_checkpoint(shared, "050")
    missing = {k: v for k, v in weights.items() if k != "MobilenetV1/Conv2d_7_pointwise/weights"}
    with pytest.raises(WeightsError, match="lacks variable MobilenetV1/Conv2d_7_pointwise/weights"):
        build_mobilenet_v1(missing, 16)
    bad = dict(weights, **{"MobilenetV1/offset_2/weights": np.zeros((1, 1, 256, 33), np.float32)})
    with pytest.raises(WeightsError, match=r"offset_2/weights has shape \[1, 1, 256, 33\], expected \[1, 1, 256, 34\]"):
        build_mobilenet_v1(bad, 16)
    odd = dict(weights, **{"MobilenetV1/Conv2d_0/weights": np.zeros((3, 3, 3, 20), np.float32)})
    with pytest.raises(WeightsError, match="multipliers 0.50, 0.75"):
        build_mobilenet_v1(odd, 16)


@pytest.mark.model
def test_serve_traces_once(shared: Path) -> None:
    """One concrete function serves every batch and size: no retracing per call."""
    net = build_mobilenet_v1(real_checkpoint(shared, "050"), 16)
    for shape in [(1, 33, 33, 3), (3, 65, 97, 3), (2, 257, 129, 3), (1, 33, 33, 3)]:
        check_outputs(net(np.zeros(shape, np.float32)), *shape[:3], 16)
    assert net.serve.experimental_get_tracing_count() == 1


# ----------------------------------------------------------------------------------------------------
# Graph models


def test_fake_resnet_graph(tmp_path: Path, images: np.ndarray) -> None:
    """uint8-quantised ResNet-like graphs (_FusedConv2D, three shards) at strides 16 and 32; their fixed
    385 px placeholder is ignored, batches are independent, and the two strides agree (atrous)."""
    outs = {}
    for stride in (16, 32):
        folder = tmp_path / str(stride)
        write_graph_model(folder, resnet_graph(stride), f"model-stride{stride}.json", quant="uint8", n_shards=3)
        model = read_graph_model(lambda rel, folder=folder: folder / rel, f"model-stride{stride}.json")
        net = build_graph_model(model, "resnet50")
        assert (net.output_stride, net.architecture, net.multiplier) == (stride, "resnet50", None)
        outs[stride] = out = net(images)
        check_outputs(out, 2, 161, 129, stride)
        assert 0.01 < out["heatmap_scores"].std()  # not saturated: the fake weights keep activations moderate
        single = net(images[1:])
        for name in OUTPUT_NAMES:  # dynamic batch: each image's outputs do not depend on the others
            np.testing.assert_allclose(single[name][0], out[name][1], rtol=1e-4, atol=1e-4)
    assert_atrous_consistent(outs)


@pytest.mark.parametrize("stride", [16, 32])
def test_fused_ops_equal_unfused(tmp_path: Path, images: np.ndarray, stride: int) -> None:
    outs = []
    for fused in (True, False):
        folder = tmp_path / str(fused)
        write_graph_model(folder, resnet_graph(stride, fused=fused), quant="uint8")
        model = read_graph_model(lambda rel, folder=folder: folder / rel)
        assert any(n["op"] == "_FusedConv2D" for n in model.nodes) == fused
        outs.append(build_graph_model(model, "resnet50")(images))
    for name in OUTPUT_NAMES:
        np.testing.assert_allclose(outs[0][name], outs[1][name], rtol=1e-5, atol=1e-5)


def _mixed_graph(fused: bool) -> GraphBuilder:
    """Every fused form TF.js writes: conv + bias (+ Relu6 / Prelu with its extra argument), depthwise."""
    g = GraphBuilder(seed=5)
    x = g.conv("c1", g.input, *g.random_conv(3, 3, 8), stride=2, act="Relu6", fused=fused)
    x = g.conv("dw", x, *g.random_conv(3, 8, 8, depthwise=True), dilation=2, act="Relu6", fused=fused,
               depthwise=True)
    w, b = g.random_conv(1, 8, 8)
    alpha = g.const("prelu/alpha", np.full(8, 0.25, np.float32))
    if fused:
        x = g.op("prelu", "_FusedConv2D", [x, g.const("p/w", w), g.const("p/b", b), alpha],
                 fused_ops=attr_strs(["BiasAdd", "Prelu"]), num_args={"i": "2"}, strides=attr_ints([1, 1, 1, 1]),
                 dilations=attr_ints([1, 1, 1, 1]), padding=attr_s("SAME"), data_format=attr_s("NHWC"))
    else:
        x = g.conv("prelu_conv", x, w, b, act=None, fused=False)
        x = g.op("prelu", "Prelu", [x, alpha])
    x = g.max_pool("pool", x, 2, 2)  # stride 4
    x = g.conv("c2", x, *g.random_conv(3, 8, 16), stride=2, act="Relu", fused=fused)  # stride 8
    x = g.op("avg", "AvgPool", [x], ksize=attr_ints([1, 3, 3, 1]), strides=attr_ints([1, 2, 2, 1]),
             padding=attr_s("SAME"), data_format=attr_s("NHWC"))  # stride 16
    for head, ch in (("offset_2", 34), ("heatmap_2", 17), ("displacement_fwd_2", 32), ("displacement_bwd_2", 32)):
        g.conv(f"MobilenetV1/{head}/BiasAdd", x, *g.random_conv(1, 16, ch), act=None, fused=fused)
    return g


def test_fused_variants_equal_unfused(tmp_path: Path, images: np.ndarray) -> None:
    outs = []
    for fused in (True, False):
        folder = tmp_path / str(fused)
        write_graph_model(folder, _mixed_graph(fused))
        net = build_graph_model(read_graph_model(lambda rel, folder=folder: folder / rel))
        assert net.output_stride == 16
        outs.append(net(images))
        check_outputs(outs[-1], 2, 161, 129, 16)
    for name in OUTPUT_NAMES:
        np.testing.assert_allclose(outs[0][name], outs[1][name], rtol=1e-5, atol=1e-5)


def test_outputs_found_by_channel_count(tmp_path: Path, images: np.ndarray) -> None:
    """Output nodes with meaningless names: found by 17/34/32/32 channels, fwd before bwd (ResNet order)."""
    named, anonymous = tmp_path / "named", tmp_path / "anonymous"
    write_graph_model(named, resnet_graph(32))
    names = {"displacement_fwd": "out_0", "displacement_bwd": "out_1", "offsets": "out_2", "heatmap": "out_3"}
    write_graph_model(anonymous, resnet_graph(32, output_names=names))
    a = build_graph_model(read_graph_model(lambda rel: named / rel), "resnet50")
    b = build_graph_model(read_graph_model(lambda rel: anonymous / rel), "resnet50")
    assert b._graph.outputs["displacement_fwd"] == ("out_0", 0)
    assert b._graph.outputs["heatmap_scores"] == ("out_3", 0)
    out_a, out_b = a(images[:1]), b(images[:1])
    for name in OUTPUT_NAMES:
        np.testing.assert_array_equal(out_a[name], out_b[name])


def test_atrous_space_to_batch_equals_dilation(tmp_path: Path) -> None:
    """Older TF graphs write atrous convs as SpaceToBatchND / Conv2D / BatchToSpaceND."""
    outs = []
    for form in ("dilated", "s2b"):
        g = GraphBuilder(seed=9)
        w, b = g.random_conv(3, 3, 4)
        if form == "dilated":
            x = g.conv("c", g.input, w, b, dilation=2, act=None, fused=False)
        else:  # a 33 x 33 input padded to 36 x 36 (SAME for rate 2: 2 on each side, +1 to divide by 2)
            block, pads, crops = (g.const(n, np.array(v, np.int32)) for n, v in
                                  (("block", [2, 2]), ("pads", [[2, 3], [2, 3]]), ("crops", [[0, 1], [0, 1]])))
            s2b = g.op("s2b", "SpaceToBatchND", [g.input, block, pads], Tblock_shape={"type": "DT_INT32"})
            conv = g.op("conv", "Conv2D", [s2b, g.const("w", w)], strides=attr_ints([1, 1, 1, 1]),
                        padding=attr_s("VALID"))
            b2s = g.op("b2s", "BatchToSpaceND", [conv, block, crops])
            x = g.op("c", "BiasAdd", [b2s, g.const("b", b)])
        folder = tmp_path / form
        write_graph_model(folder, g)
        model = read_graph_model(lambda rel, folder=folder: folder / rel)
        x_in = np.random.default_rng(2).normal(size=(1, 33, 33, 3)).astype(np.float32)
        outs.append(run_graph(model, x_in, [x])[0])
    assert outs[0].shape == outs[1].shape == (1, 33, 33, 4)
    np.testing.assert_allclose(outs[0], outs[1], rtol=1e-5, atol=1e-5)


def test_unknown_op_is_named(tmp_path: Path) -> None:
    g = resnet_graph(32)
    g.nodes[5]["op"] = "FancyConv3000"
    write_graph_model(tmp_path, g)
    with pytest.raises(GraphImportError, match=rf"unsupported op\(s\) in graph model: FancyConv3000 \(node "
                                              rf"{g.nodes[5]['name']}\)"):
        build_graph_model(read_graph_model(lambda rel: tmp_path / rel), "resnet50")


def test_graph_errors(tmp_path: Path) -> None:
    g = resnet_graph(32)
    g.nodes = [n for n in g.nodes if n["name"] != "float_heatmaps" and "heatmap_2" not in n["name"]]
    write_graph_model(tmp_path, g)
    with pytest.raises(GraphImportError, match=r"cannot find PoseNet's four outputs .*float_short_offsets:0 \(34 ch\)"):
        build_graph_model(read_graph_model(lambda rel: tmp_path / rel), "resnet50")
    with pytest.raises(ValueError, match="unknown architecture 'vgg'"):
        build_graph_model(read_graph_model(lambda rel: tmp_path / rel), "vgg")
    assert issubclass(GraphImportError, WeightsError)


def test_float050_topology_with_generated_weights(shared: Path, tmp_path: Path, images: np.ndarray) -> None:
    """The real float 0.50 graph-model JSON, its weightsManifest filled with random float32 shards."""
    src = shared / "models" / "manifests-only" / "float-050" / "model-stride16.json"
    shutil.copy(src, tmp_path / "model-stride16.json")
    fill_weights_manifest(tmp_path, json.loads(src.read_text()))
    net = build_graph_model(read_graph_model(lambda rel: tmp_path / rel), "mobilenet")
    assert net.output_stride == 16
    check_outputs(net(images), 2, 161, 129, 16)


@pytest.mark.model
def test_quantised_graph_vs_float_checkpoint(shared: Path) -> None:
    """The quant2 0.75 graph model and the 0.75 checkpoint: same network, weights within one uint16 step.

    Not equal (quantisation), so only a loose bound; the differences are printed for the record.
    """
    folder = shared / "models" / "savedmodel" / "posenet" / "mobilenet" / "quant2" / "075"
    graph = build_graph_model(read_graph_model(lambda rel: folder / rel), "mobilenet")
    ckpt = build_mobilenet_v1(real_checkpoint(shared, "075"), 16)
    assert graph.output_stride == ckpt.output_stride == 16
    inputs = np.stack([np.load(p)["input"] for p in sorted((shared / "reference" / "raw" / "v2-q2m075-s16-r257")
                                                           .glob("*.npz"))[:8]])
    a, b = graph(inputs), ckpt(inputs)
    report = {k: (float(np.abs(a[k] - b[k]).max()), float(np.abs(a[k] - b[k]).mean())) for k in OUTPUT_NAMES}
    print("quant2 graph vs float checkpoint (max, mean abs diff):", report)
    assert report["heatmap_scores"][0] < 0.2 and report["heatmap_scores"][1] < 0.005
    for k in ("offsets", "displacement_fwd", "displacement_bwd"):
        assert report[k][1] < 0.5 and report[k][0] < 30
