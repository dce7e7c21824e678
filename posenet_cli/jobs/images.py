"""Images through the estimator into a writer (and annotated copies), pipelined as the video path is: the next
images are read and resized, and the previous ones' poses decoded, while the model runs."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from ..estimator import PoseNet
from ..media.images import read_image, write_image
from ..media.inputs import MediaError
from ..output.draw import annotate
from ..output.writers import Writer
from ..sizing import SizingError
from ..stream.frames import BrokenFrame, Frame
from ..stream.pipeline import Pipeline, Plans
from .options import JobOptions, Summary


def read_images(paths: list[Path], plan: Callable[[int, int], Plans], stop: Callable[[], bool] = lambda: False
                ) -> Iterator[Frame | BrokenFrame]:
    """Each image as a Frame (its index in `paths`), or a BrokenFrame saying why it cannot be estimated (it
    cannot be read, or `plan`, the pipeline's, cannot take its size), in order; none once `stop()` is true."""
    for i, path in enumerate(paths):
        if stop():
            return
        try:
            image = read_image(path)
            plan(image.shape[0], image.shape[1])
        except (MediaError, SizingError) as e:
            yield BrokenFrame(i, str(e))
            continue
        yield Frame(i, 0.0, image)


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
    """Estimate poses on each image, written in order; a bad image is reported in its place (to the writer
    and `on_error`) and skipped, unless `fail_fast`. `draw_to(path)` names where its annotated copy goes.

    `stop()` is asked between images: once true the run ends with every finished image written."""
    summary = Summary()
    start = clock()
    pipeline = Pipeline(net, opts.sizing, opts.decoder, opts.inference)
    # a stop ends the reading, and the images already read are finished: Ctrl-C loses no work in hand
    results = pipeline.run(read_images(paths, pipeline.plan, stop))
    try:
        for path in progress(paths):
            result = next(results, None)
            if result is None:  # only a stop ends the results before the paths
                summary.stopped = True
                break
            if isinstance(result, BrokenFrame):
                summary.errors += 1
                writer.error(str(path), result.error)
                on_error(result.error)
                if fail_fast:
                    break
                continue
            frame, poses = result
            if draw_to is not None:  # before the record: an image whose record is written has its drawing
                write_image(draw_to(path), annotate(frame.image, poses, mirror=opts.decoder.mirror,
                                                    output=opts.output))
            writer.write(str(path), poses, width=frame.image.shape[1], height=frame.image.shape[0])
            summary.items += 1
            summary.poses += len(poses)
    finally:
        results.close()  # stops the pipeline's threads (after a stop, --fail-fast or a failed write)
    summary.seconds = clock() - start
    return summary
