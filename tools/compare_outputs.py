"""Compare the outputs of two revisions of posenet-cli on the shared photos and clips.

    python tools/compare_outputs.py BASE_REV [--head REV] [--shared ../shared] [--cache DIR]

Each revision is checked out into a temporary git worktree (the working tree itself stands for the head
when --head is not given) and runs the same commands, with every option spelled out, through
`python -m posenet_cli`. Every file they write is compared: JSON values must have the same keys and
strings, and numbers may differ by at most --tolerance (1e-6 px by default). Exit status 0 when all match.
Both run on TensorFlow. #13 changed results by design (long-edge sizing snaps to the nearest valid size,
positions are rounded to --precision before smoothing, records carry `precision`), so a base from before it
differs; compare against a base after it (the refactoring #12 was checked against 380f487 before #13).

Used to show that a refactoring changed no result; the commands cover image, video, batch, every output
format, each sizing convention, both decoders, mirroring, tracking and smoothing.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent

# tfjs's multi-pose settings, spelled out: the defaults changed with #13 (20 poses, 0.15, min pose score 0.1).
MULTI = ["--multi", "--max-poses", "5", "--score-threshold", "0.5", "--nms-radius", "20", "--min-pose-score", "0"]
# (name, arguments); {shared} and {out} are filled in. Every option that has a default is given.
COMMANDS: list[tuple[str, list[str]]] = [
    ("images-multi-long-edge", ["image", "{shared}/data/images/tfjs-demo", "{shared}/data/images/coral/couple.jpg",
                                *MULTI, "--long-edge", "641", "--stride", "16", "--out", "{out}/poses.jsonl"]),
    ("images-single-scale-s8", ["image", "{shared}/data/images/tfjs-demo", "--single", "--scale-factor", "0.5",
                                "--stride", "8", "--out", "{out}/poses.jsonl"]),
    ("images-multi-resolution", ["image", "{shared}/data/images/tfjs-demo", "{shared}/data/images/coral/couple.jpg",
                                 "--multi", "--resolution", "641x481", "--max-poses", "20", "--score-threshold",
                                 "0.15", "--nms-radius", "20", "--refine-steps", "1", "--min-pose-score", "0.1",
                                 "--out", "{out}/poses.jsonl"]),
    ("images-mirror-csv", ["image", "{shared}/data/images/tfjs-demo", *MULTI, "--long-edge", "513", "--mirror",
                           "--out", "{out}/poses.csv"]),
    ("images-coco", ["image", "{shared}/data/images/tfjs-demo", *MULTI, "--long-edge", "641",
                     "--format", "coco", "--out", "{out}/coco.json"]),
    ("images-folder", ["image", "{shared}/data/images/coral/couple.jpg", *MULTI, "--long-edge", "641",
                       "--out", "{out}/results/"]),
    ("video-multi", ["video", "{shared}/data/videos/walking-street.mp4", *MULTI, "--long-edge", "641",
                     "--out", "{out}/walking.jsonl"]),
    ("video-track-smooth", ["video", "{shared}/data/videos/walking-street.mp4", *MULTI, "--track", "--smooth",
                            "--scale-factor", "0.5", "--track-max-age", "30", "--track-min-similarity", "0.3",
                            "--smooth-min-cutoff", "1.0", "--smooth-beta", "0.008", "--smooth-d-cutoff", "1.0",
                            "--out", "{out}/walking-tracked.jsonl"]),
    ("video-single-smooth", ["video", "{shared}/data/videos/dance.mp4", "--single", "--smooth", "--long-edge", "641",
                             "--start", "0.5", "--every", "2", "--out", "{out}/dance.jsonl"]),
    ("batch", ["batch", "{shared}/data/images/coral/couple.jpg", "{shared}/data/videos/street-5frames.mp4",
               *MULTI, "--long-edge", "641", "--workers", "1", "--out-dir", "{out}/batch"]),
]
# Written by the run itself, not results: compared for presence only.
VOLATILE_KEYS = {"started", "seconds", "backend", "workers", "pid"}


def worktree(rev: str, where: Path) -> Path:
    path = where / rev.replace("/", "_")
    subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", str(path), rev], check=True,
                   capture_output=True)
    return path


def run_all(tree: Path, out: Path, shared: Path, env: dict[str, str]) -> dict[str, str]:
    """Run every command with `tree` first on the path; returns failures (name -> stderr)."""
    failures = {}
    for name, args in COMMANDS:
        target = out / name
        target.mkdir(parents=True)
        argv = [a.format(shared=shared, out=target) for a in args]
        proc = subprocess.run([sys.executable, "-m", "posenet_cli", *argv, "--quiet"], capture_output=True,
                              text=True, env={**env, "PYTHONPATH": str(tree)}, cwd=tree)
        if proc.returncode != 0:
            failures[name] = proc.stderr.strip()
    return failures


def load(path: Path) -> Any:
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".jsonl":
        return [json.loads(line) for line in text.splitlines()]
    if path.suffix == ".json":
        return json.loads(text)
    if path.suffix == ".csv":
        return [[_number(c) for c in row.split(",")] for row in text.splitlines()]
    return text


def _number(cell: str) -> Any:
    try:
        return float(cell)
    except ValueError:
        return cell


def differences(a: Any, b: Any, tol: float, where: str = "") -> Iterator[str]:
    """Where two JSON values differ beyond `tol` (numbers) or at all (anything else)."""
    if isinstance(a, dict) and isinstance(b, dict):
        if set(a) != set(b):
            yield f"{where}: keys {sorted(set(a) ^ set(b))} in one only"
        for k in set(a) & set(b):
            if k not in VOLATILE_KEYS:
                yield from differences(a[k], b[k], tol, f"{where}/{k}")
    elif isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            yield f"{where}: {len(a)} items vs {len(b)}"
        for i, (x, y) in enumerate(zip(a, b)):
            yield from differences(x, y, tol, f"{where}[{i}]")
    elif isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        if not (math.isclose(a, b, rel_tol=0.0, abs_tol=tol) or a == b):
            yield f"{where}: {a!r} vs {b!r}"
    elif a != b:
        yield f"{where}: {a!r} vs {b!r}"


def compare(base: Path, head: Path, tol: float) -> list[str]:
    problems = []
    for path in sorted(base.rglob("*")):
        if path.is_dir():
            continue
        rel = path.relative_to(base)
        other = head / rel
        if not other.exists():
            problems.append(f"{rel}: missing in head")
            continue
        diffs = list(differences(load(path), load(other), tol))
        problems.extend(f"{rel}{d}" for d in diffs[:5])
    problems.extend(f"{p.relative_to(head)}: only in head" for p in head.rglob("*")
                    if p.is_file() and not (base / p.relative_to(head)).exists())
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("base", help="the revision to compare against (e.g. a commit before a refactoring)")
    parser.add_argument("--head", help="the revision to check (default: the working tree)")
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared")
    parser.add_argument("--cache", type=Path, help="model cache shared by both runs (default: a temp folder)")
    parser.add_argument("--tolerance", type=float, default=1e-6)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="posenet-compare-") as tmp_name:
        tmp = Path(tmp_name)
        cache = args.cache or tmp / "cache"
        env = {**os.environ, "POSENET_BASE_URL": str(args.shared.resolve() / "models"),
               "POSENET_CACHE_DIR": str(cache),
               "POSENET_BACKEND": "tensorflow"}  # what every revision before LiteRT ran (others ignore it)
        trees = []
        try:
            base_tree = worktree(args.base, tmp)
            trees.append(base_tree)
            head_tree = worktree(args.head, tmp) if args.head else REPO
            if args.head:
                trees.append(head_tree)
            results = {}
            for label, tree in (("base", base_tree), ("head", head_tree)):
                failures = run_all(tree, tmp / label, args.shared.resolve(), env)
                for name, err in failures.items():
                    print(f"{label} {name} failed: {err}")
                results[label] = failures
            problems = compare(tmp / "base", tmp / "head", args.tolerance)
        finally:
            for tree in trees:
                subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(tree)],
                               capture_output=True)
    for p in problems:
        print(p)
    ok = not problems and not any(results.values())
    print(f"{len(COMMANDS)} commands: " + ("outputs equal" if ok else f"{len(problems)} differences"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
