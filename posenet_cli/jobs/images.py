"""Images through the estimator, one at a time, into a writer (and annotated copies)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from pathlib import Path

from ..estimator import PoseNet
from ..media.images import read_image, write_image
from ..media.inputs import MediaError
from ..output.draw import annotate
from ..output.writers import Writer
from ..sizing import SizingError
from .options import JobOptions, Summary


def run_images(
    net: PoseNet,
    paths: list[Path],
    writer: Writer,
    opts: JobOptions,
    *,
    draw_to: Callable[[Path], Path] | None = None,
    fail_fast: bool = False,
    on_error: Callable[[str], None] = lambda msg: None,
    progress: Callable[[Iterable[Path]], Iterable[Path]] = lambda it: it,
    stop: Callable[[], bool] = lambda: False,
    clock: Callable[[], float] = time.perf_counter,
) -> Summary:
    """Estimate poses on each image; a bad image is reported (to the writer and `on_error`) and skipped,
    unless `fail_fast`. `draw_to(path)` names where its annotated copy goes.

    `stop()` is asked between images: once true the run ends with every finished image written."""
    summary = Summary()
    start = clock()
    for path in progress(paths):
        if stop():
            summary.stopped = True
            break
        try:
            image = read_image(path)
            poses = net.estimate(image, opts.sizing, opts.decoder, opts.inference)
        except (MediaError, SizingError) as e:
            summary.errors += 1
            writer.error(str(path), str(e))
            on_error(str(e))
            if fail_fast:
                break
            continue
        if draw_to is not None:  # before the record: an image whose record is written has its drawing (--resume)
            write_image(draw_to(path), annotate(image, poses, mirror=opts.decoder.mirror, output=opts.output))
        writer.write(str(path), poses, width=image.shape[1], height=image.shape[0])
        summary.items += 1
        summary.poses += len(poses)
    summary.seconds = clock() - start
    return summary
