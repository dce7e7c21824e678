"""Accuracy: COCO keypoint AP (pycocotools) on ../shared/data/coco-keypoints/ for the defaults, the reference's
own setting and the variants tried when choosing them; then the same weights run on more views of each image
(flip testing, multi-scale testing, a finer decoding grid, a stride-8 network, --accurate); with the time each
takes per image.

    python -m benchmarks.bench_accuracy                 # both tables (a quarter of an hour on 2 cores)
    python -m benchmarks.bench_accuracy --table views   # only the second

Every row runs the product's own path (sizing, the model, the fusion of views, the decoder, the pose filter,
rounding as written), images read once and kept in memory. Before a row is timed, the network runs once on
each input size it will see (TensorFlow's first call at a new size costs tens of ms extra); ms/image is the
estimate's wall time over one pass, CPU ms/image the process's CPU time over it (all threads: the fairer
figure on a busy machine). The set is small (75 photos, 194 people): differences under ~0.01 AP are noise.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from benchmarks.common import bench_net, shared_dir
from posenet_cli.decode import DecoderOptions
from posenet_cli.inference import ACCURATE, InferenceOptions
from posenet_cli.jobs import JobOptions
from posenet_cli.media.images import read_image
from posenet_cli.output.evaluate import load_annotations, score
from posenet_cli.output.records import coco_results
from posenet_cli.sizing import SizingOptions

DEFAULTS = JobOptions()
# The tfjs reference's own best setting (it has no pose-score filter and no duplicate suppression).
REFERENCE = JobOptions(SizingOptions(resolution="641x481"),
                       DecoderOptions(multi=True, max_poses=20, score_threshold=0.15, min_pose_score=0.0,
                                      duplicate_oks=1.0))
# (label, options, output stride)
Variant = tuple[str, JobOptions, int]


def variants() -> list[Variant]:
    """The defaults, the reference setting, and what was tried to choose the defaults."""
    rows = [("defaults", DEFAULTS, 16),
            ("reference: --resolution 641x481 --max-poses 20 --score-threshold 0.15 --min-pose-score 0", REFERENCE, 16),
            ("single pose, long edge 641 (before multi-pose was the default)",
             JobOptions(SizingOptions(long_edge=641), DecoderOptions(multi=False)), 16)]
    for edge in (641, 721, 801):
        for max_poses in (10, 20):
            for min_score in (0.0, 0.05, 0.1, 0.15):
                decoder = DecoderOptions(multi=True, max_poses=max_poses, score_threshold=0.15,
                                         min_pose_score=min_score, duplicate_oks=1.0)
                rows.append((f"--long-edge {edge} --max-poses {max_poses} --min-pose-score {min_score:g} "
                             "--duplicate-oks 1",
                             JobOptions(SizingOptions(long_edge=edge), decoder), 16))
    return rows


def view_variants() -> list[Variant]:
    """The defaults' sizing and decoder with more views of each image: a finer decoding grid, flip testing,
    each scale set, a stride-8 network, and --accurate (the preset these rows chose)."""
    rows: list[Variant] = [("defaults (long edge 721)", DEFAULTS, 16)]
    views = [("--decode-stride 8", InferenceOptions(decode_stride=8)),
             ("--decode-stride 4", InferenceOptions(decode_stride=4)),
             ("--flip", InferenceOptions(flip=True)),
             ("--flip --decode-stride 8", InferenceOptions(flip=True, decode_stride=8))]
    for scales in ((0.89, 1.33), (1.0, 1.33), (0.71, 1.33), (0.89, 1.11, 1.33)):
        text = ",".join(f"{s:g}" for s in scales)
        views += [(f"--scales {text}", InferenceOptions(scales=scales)),
                  (f"--scales {text} --decode-stride 8", InferenceOptions(scales=scales, decode_stride=8))]
    views += [("--scales 0.89,1.33 --flip", InferenceOptions(scales=(0.89, 1.33), flip=True)),
              ("--accurate (--scales 0.89,1.33, 0.89 flipped, --decode-stride 8)", ACCURATE)]
    rows += [(label, replace(DEFAULTS, inference=views_), 16) for label, views_ in views]
    rows += [("--stride 8", DEFAULTS, 8),
             ("--stride 8 --flip", replace(DEFAULTS, inference=InferenceOptions(flip=True)), 8),
             ("--long-edge 961", replace(DEFAULTS, sizing=SizingOptions(long_edge=961)), 16),
             ("--long-edge 961 --flip", replace(DEFAULTS, sizing=SizingOptions(long_edge=961),
                                                inference=InferenceOptions(flip=True)), 16)]
    no_filter = replace(DEFAULTS.decoder, min_pose_score=0.0, duplicate_oks=1.0)
    rows += [(label, replace(DEFAULTS, decoder=no_filter, inference=views_), 16)
             for label, views_ in (("--duplicate-oks 1 (every pose kept)", InferenceOptions()),
                                   ("--accurate --duplicate-oks 1", ACCURATE))]
    return rows


def measure(options: JobOptions, images: list[tuple[int, Any]], truth: Any, stride: int = 16) -> dict[str, Any]:
    net, _ = bench_net(output_stride=stride)
    sizes = {image.shape[:2]: image for _, image in images}
    for image in sizes.values():  # warm-up: each input size's first call, which the timing should not hold
        net.infer(image, options.sizing, inference=options.inference)
    results: list[dict[str, Any]] = []
    start, cpu = time.perf_counter(), time.process_time()
    for image_id, image in images:
        poses = net.estimate(image, options.sizing, options.decoder, options.inference)
        if options.output.precision is not None:
            poses = [p.rounded(options.output.precision) for p in poses]
        results.extend(coco_results(image_id, poses))
    ms = 1e3 * (time.perf_counter() - start) / len(images)
    cpu_ms = 1e3 * (time.process_time() - cpu) / len(images)
    figures = score(truth, results, [image_id for image_id, _ in images])
    return {"ms/image": ms, "CPU ms/image": cpu_ms, "poses/image": figures["detections"] / len(images),
            **figures["stats"]}


def run(rows: list[Variant] | None = None) -> list[dict[str, Any]]:
    folder = shared_dir() / "data" / "coco-keypoints"
    truth = load_annotations(folder / "person_keypoints.json")
    images = [(im["id"], read_image(folder / "images" / im["file_name"])) for im in truth.dataset["images"]]
    table = []
    for label, options, stride in variants() if rows is None else rows:
        options = replace(options, output=DEFAULTS.output)
        m = measure(options, images, truth, stride)
        table.append({"settings": label, **{k: f"{m[k]:.3f}" for k in ("AP", "AP50", "AP75", "APm", "APl", "AR")},
                      **{k: f"{m[k]:.0f}" for k in ("ms/image", "CPU ms/image")},
                      "poses/image": f"{m['poses/image']:.1f}"})
    return table


TITLE = "COCO keypoints AP, {}/data/coco-keypoints (75 photos, 194 people)"


def tables(which: str = "all") -> dict[str, list[dict[str, Any]]]:
    """The defaults' table and the views' table (`make bench` prints both)."""
    name = Path(shared_dir()).name
    out = {}
    if which in ("all", "defaults"):
        out[TITLE.format(name) + ": choosing the defaults"] = run(variants())
    if which in ("all", "views"):
        out[TITLE.format(name) + ": more views of each image (flip, scales, grid, stride, --accurate)"] = \
            run(view_variants())
    return out


if __name__ == "__main__":
    from benchmarks.common import print_table

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--table", choices=("all", "defaults", "views"), default="all")
    for title, rows in tables(parser.parse_args().table).items():
        print_table(title, rows)
