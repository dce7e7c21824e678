"""`python -m benchmarks`: every benchmark table, measured in one run on this machine."""

from __future__ import annotations

import importlib

from benchmarks.common import print_table

SECTIONS = [
    ("bench_tfjs", "The browser reference: tfjs WASM against the API and posenet image"),
    ("bench_model", "SavedModel alone (ms/frame) and cold load"),
    ("bench_litert", "Runtimes and precisions"),
    ("bench_decode", "Pose decoding (ms/frame)"),
    ("bench_pipeline", "Video pipeline (mobilenet-v1-075, stride 16, scale factor 0.5)"),
    ("bench_video_in", "Video decoding"),
    ("bench_video_out", "Annotated video"),
    ("bench_temporal", "Tracking and smoothing"),
    ("bench_batch", "Batch: workers and Ray"),
    ("bench_accuracy", "Accuracy: COCO keypoint AP on the shared labelled photos"),
    ("bench_int8", "int8 on held-out photos (coco-keypoints halves A/B, both directions)"),
    ("bench_duplicates", "Duplicate poses: --duplicate-oks and --min-pose-score chosen held out"),
]


def main() -> None:
    for module_name, title in SECTIONS:
        module = importlib.import_module(f"benchmarks.{module_name}")
        # a module with `tables()` prints several tables; otherwise `run()` gives one
        tables = module.tables() if hasattr(module, "tables") else {title: module.run()}
        for table_title, rows in tables.items():
            print_table(table_title, rows)


if __name__ == "__main__":
    main()
