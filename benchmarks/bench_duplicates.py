"""Duplicate poses: how `--duplicate-oks` and `--min-pose-score` were chosen, held out.

The labelled photos (../shared/data/coco-keypoints) are split in two halves (alternate image ids). On each
half in turn, the lowest OKS threshold (no score cut) whose AP is within `TOLERANCE` of keeping every pose
is chosen, then with it the highest min pose score that still is; the table reports both choices on the
other half, beside keeping everything, the score cut alone, and the shipped defaults, with the pairs of
poses in one image that still match above the threshold. `--grid` prints every pair of the grid on both
halves.

    python -m benchmarks.bench_duplicates          # a few minutes on 2 cores: one network pass per photo

The network runs once per photo (the defaults' sizing and views); only the decoder's keep step varies.
"""

from __future__ import annotations

from dataclasses import replace
from functools import cache
from typing import Any

import numpy as np

from benchmarks.common import bench_net, shared_dir
from posenet_cli.decode import DecoderOptions
from posenet_cli.jobs import JobOptions
from posenet_cli.keypoints import mutual_oks
from posenet_cli.media.images import read_image
from posenet_cli.output.evaluate import load_annotations, score
from posenet_cli.output.records import coco_results
from posenet_cli.pose import Pose

TOLERANCE = 0.003  # AP the shipped output may give up against keeping every pose
OKS_GRID = (1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2)
MIN_SCORE_GRID = (0.0, 0.02, 0.05, 0.1)
Outputs = dict[int, tuple[Any, dict[str, np.ndarray], int]]  # image id -> input plan, outputs, grid stride


def infer_all(truth: Any, options: JobOptions) -> Outputs:
    """Every photo's network outputs under the defaults' sizing and views (the decoder is what varies)."""
    net, _ = bench_net()
    folder = shared_dir() / "data" / "coco-keypoints" / "images"
    stride = options.inference.grid_stride(net.output_stride)
    return {im["id"]: (*net.infer(read_image(folder / im["file_name"]), options.sizing,
                                  inference=options.inference), stride)
            for im in truth.dataset["images"]}


def ap(truth: Any, outputs: Outputs, ids: list[int], decoder: DecoderOptions) -> tuple[float, float, int]:
    """AP over `ids`, poses per image, and pairs of poses in one image matching above the threshold."""
    net, _ = bench_net()
    results: list[dict[str, Any]] = []
    matching = 0
    for image_id in ids:
        plan, tensors, stride = outputs[image_id]
        kept = [p.rounded(2) for p in net.decode(plan, tensors, decoder, stride)]
        results.extend(coco_results(image_id, kept))
        matching += matching_pairs(kept, decoder.duplicate_oks)
    figures = score(truth, results, ids)
    return figures["stats"]["AP"], figures["detections"] / len(ids), matching


def matching_pairs(poses: list[Pose], duplicate_oks: float) -> int:
    """Pairs of `poses` whose OKS is above `duplicate_oks`."""
    if len(poses) < 2 or duplicate_oks >= 1.0:
        return 0
    return int(np.triu(mutual_oks(np.stack([p.keypoints for p in poses])) > duplicate_oks, k=1).sum())


def choose(truth: Any, outputs: Outputs, ids: list[int], base: DecoderOptions) -> tuple[DecoderOptions, ...]:
    """On `ids`: the lowest OKS threshold (every pose score kept) whose AP stays within TOLERANCE of keeping
    everything, then with it the highest min pose score that still does; both decoders."""
    everything = ap(truth, outputs, ids, replace(base, min_pose_score=0.0, duplicate_oks=1.0))[0]

    def within(decoder: DecoderOptions) -> bool:
        return ap(truth, outputs, ids, decoder)[0] >= everything - TOLERANCE

    by_oks = next(d for d in (replace(base, duplicate_oks=o, min_pose_score=0.0) for o in sorted(OKS_GRID))
                  if within(d) or d.duplicate_oks >= 1.0)
    with_score = next(d for d in (replace(by_oks, min_pose_score=m) for m in sorted(MIN_SCORE_GRID, reverse=True))
                      if within(d) or d.min_pose_score == 0.0)
    return by_oks, with_score


@cache
def labelled() -> tuple[Any, Outputs]:
    """The annotations and every photo's network outputs (the network runs once per photo)."""
    truth = load_annotations(shared_dir() / "data" / "coco-keypoints" / "person_keypoints.json")
    return truth, infer_all(truth, JobOptions())


def run() -> list[dict[str, Any]]:
    options = JobOptions()
    truth, decoded = labelled()
    ids = sorted(decoded)
    halves = {"A (even places)": ids[0::2], "B (odd places)": ids[1::2]}
    rows = []
    for (tune_name, tune), (test_name, test) in (tuple(halves.items()), tuple(halves.items())[::-1]):
        by_oks, with_score = choose(truth, decoded, tune, options.decoder)
        for label, decoder in (("keep everything", replace(by_oks, min_pose_score=0.0, duplicate_oks=1.0)),
                               ("score cut only (the defaults before)", replace(by_oks, min_pose_score=0.1,
                                                                                 duplicate_oks=1.0)),
                               (f"OKS chosen on {tune_name}", by_oks),
                               (f"OKS, then min pose score chosen on {tune_name}", with_score),
                               ("shipped defaults", options.decoder)):
            got, per_image, matching = ap(truth, decoded, test, decoder)
            rows.append({"held-out half": test_name, "settings": label, "duplicate OKS": f"{decoder.duplicate_oks:g}",
                         "min pose score": f"{decoder.min_pose_score:g}", "AP": f"{got:.3f}",
                         "poses/image": f"{per_image:.1f}", "pairs above OKS": matching})
    return rows


def grid() -> list[dict[str, Any]]:
    """AP of every pair of the grid on each half (what `choose` reads), for the docs."""
    options = JobOptions()
    truth, decoded = labelled()
    ids = sorted(decoded)
    rows = []
    for oks in OKS_GRID:
        for min_score in MIN_SCORE_GRID:
            decoder = replace(options.decoder, duplicate_oks=oks, min_pose_score=min_score)
            row: dict[str, Any] = {"duplicate OKS": f"{oks:g}", "min pose score": f"{min_score:g}"}
            for name, half in (("A", ids[0::2]), ("B", ids[1::2]), ("all", ids)):
                got, per_image, _ = ap(truth, decoded, half, decoder)
                row[f"AP {name}"] = f"{got:.3f}"
            row["poses/image"] = f"{per_image:.1f}"
            rows.append(row)
    return rows


if __name__ == "__main__":
    import sys

    from benchmarks.common import print_table

    np.seterr(all="ignore")
    if "--grid" in sys.argv:
        print_table("Every pair of the grid", grid())
    print_table("Duplicate suppression and min pose score, chosen on one half, reported on the other", run())
