"""Accuracy: COCO keypoint AP (pycocotools) on ../shared/data/coco-keypoints/ for the defaults, the reference's
own setting and the variants tried when choosing them, with the time each takes per image.

    python -m benchmarks.bench_accuracy            # the table (a few minutes on 2 cores)

Every row runs the product's own path (sizing, the SavedModel, the decoder, the pose filter, rounding as
written), images read once and kept in memory; ms/image is the estimate alone, best of the images' total
over one pass. The set is small (75 photos, 194 people): differences under ~0.01 AP are noise.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from benchmarks.common import bench_net, shared_dir
from posenet_cli.decode import DecoderOptions
from posenet_cli.jobs import JobOptions
from posenet_cli.media.images import read_image
from posenet_cli.output.evaluate import load_annotations, score
from posenet_cli.output.records import coco_results
from posenet_cli.sizing import SizingOptions

DEFAULTS = JobOptions()
# The tfjs reference's own best setting (it has no pose-score filter).
REFERENCE = JobOptions(SizingOptions(resolution="641x481"),
                       DecoderOptions(multi=True, max_poses=20, score_threshold=0.15, min_pose_score=0.0))


def variants() -> list[tuple[str, JobOptions]]:
    """(label, options): the defaults, the reference setting, and what was tried to choose the defaults."""
    rows = [("defaults", DEFAULTS),
            ("reference: --resolution 641x481 --max-poses 20 --score-threshold 0.15 --min-pose-score 0", REFERENCE),
            ("single pose, long edge 641 (before multi-pose was the default)",
             JobOptions(SizingOptions(long_edge=641), DecoderOptions(multi=False)))]
    for edge in (641, 721, 801):
        for max_poses in (10, 20):
            for min_score in (0.0, 0.05, 0.1, 0.15):
                decoder = DecoderOptions(multi=True, max_poses=max_poses, score_threshold=0.15,
                                         min_pose_score=min_score)
                rows.append((f"--long-edge {edge} --max-poses {max_poses} --min-pose-score {min_score:g}",
                             JobOptions(SizingOptions(long_edge=edge), decoder)))
    return rows


def measure(options: JobOptions, images: list[tuple[int, Any]], truth: Any) -> dict[str, Any]:
    net, _ = bench_net()
    results: list[dict[str, Any]] = []
    start = time.perf_counter()
    for image_id, image in images:
        poses = net.estimate(image, options.sizing, options.decoder)
        if options.output.precision is not None:
            poses = [p.rounded(options.output.precision) for p in poses]
        results.extend(coco_results(image_id, poses))
    ms = 1e3 * (time.perf_counter() - start) / len(images)
    figures = score(truth, results, [image_id for image_id, _ in images])
    return {"ms/image": ms, "poses/image": figures["detections"] / len(images), **figures["stats"]}


def run() -> list[dict[str, Any]]:
    folder = shared_dir() / "data" / "coco-keypoints"
    truth = load_annotations(folder / "person_keypoints.json")
    images = [(im["id"], read_image(folder / "images" / im["file_name"])) for im in truth.dataset["images"]]
    rows = []
    for label, options in variants():
        options = replace(options, output=DEFAULTS.output)
        m = measure(options, images, truth)
        rows.append({"settings": label, **{k: f"{m[k]:.3f}" for k in ("AP", "AP50", "AP75", "APm", "APl", "AR")},
                     "ms/image": f"{m['ms/image']:.0f}", "poses/image": f"{m['poses/image']:.1f}"})
    return rows


if __name__ == "__main__":
    from benchmarks.common import print_table

    print_table(f"COCO keypoints AP, {Path(shared_dir()).name}/data/coco-keypoints (75 photos, 194 people)", run())
