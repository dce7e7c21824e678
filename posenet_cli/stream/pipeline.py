"""A pipelined, batched path for streams of frames: decode, inference and pose decoding overlap.

    reader thread      frames -> network inputs (resize/pad; one per scale), grouped into batches of equal size
    inference thread   batches -> the model runner, one call per scale with any mirrored inputs in the same
                       batch (TensorFlow and LiteRT release the GIL while they compute)
    caller's thread    outputs -> fused (InferenceOptions) -> poses, yielded in frame order (the caller
                       writes JSON, draws, ...)

Queues between the stages are bounded, so memory stays flat however long the video is. Results are
the same as `PoseNet.estimate` one frame at a time (a test checks this on the shared clips). A
`BrokenFrame` in the stream is passed through in its place, with no poses.
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import numpy as np

from ..decode import DecoderOptions
from ..estimator import PoseNet, as_rgb
from ..inference import InferenceOptions
from ..pose import Pose
from ..sizing import InputPlan, SizingOptions
from .frames import BrokenFrame, Frame

_DONE = object()
READER_NICENESS = 10
# What `Pipeline.run` yields, in stream order: a frame with its poses, or a broken frame passed through.
Result = tuple[Frame, list[Pose]] | BrokenFrame
Plans = tuple[InputPlan, ...]  # a frame size's input plan at each scale


def _lower_priority() -> None:
    """Make the calling thread yield to inference: the runtime splits each op across its threads and
    waits for the slowest, so a decoding thread that preempts one of them stalls the whole op
    (docs/benchmarks.md, "Video pipeline"). Linux only; elsewhere a no-op."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), READER_NICENESS)
    except (AttributeError, OSError):
        pass


class _Failure:
    """An exception raised in a worker thread, carried to the caller's thread."""

    def __init__(self, error: BaseException) -> None:
        self.error = error


class Pipeline:
    """Runs a PoseNet over a stream of frames in batches, overlapping the stages in threads."""

    def __init__(
        self,
        net: PoseNet,
        sizing: SizingOptions = SizingOptions(),
        decoder: DecoderOptions = DecoderOptions(),
        inference: InferenceOptions = InferenceOptions(),
        *,
        batch_size: int | None = None,
        queue_batches: int = 2,
        drop_stale: bool = False,
    ) -> None:
        """`batch_size`: frames per model call (None: the runner's `preferred_batch`). `drop_stale`
        (live cameras): when inference falls behind, the oldest waiting frame is dropped rather than queued,
        so what is shown stays current; use it with batch_size=1."""
        if batch_size is None:
            batch_size = net.runner.preferred_batch
        if batch_size < 1:
            raise ValueError("batch size must be at least 1")
        self.net, self.sizing, self.decoder, self.inference = net, sizing, decoder, inference
        self.batch_size = batch_size
        self.queue_batches = queue_batches
        self.drop_stale = drop_stale
        self.dropped = 0
        self._plans: dict[tuple[int, int], Plans] = {}

    def _plan(self, height: int, width: int) -> Plans:
        key = (height, width)
        if key not in self._plans:  # a video has one frame size: plan once, not per frame
            self._plans[key] = self.inference.plans(self.sizing, height, width, self.net.output_stride)
        return self._plans[key]

    def run(self, frames: Iterable[Frame | BrokenFrame], should_stop: Callable[[], bool] = lambda: False
            ) -> Iterator[Result]:
        """Yield (frame, poses in image pixels) for every frame, and each broken frame as it is, in order;
        end early once `should_stop()` is true (checked while waiting too, so a stalled source does not
        hold up a requested stop)."""
        stop = threading.Event()
        prepared: queue.Queue[Any] = queue.Queue(self.queue_batches)
        inferred: queue.Queue[Any] = queue.Queue(self.queue_batches)

        def put(q: queue.Queue[Any], item: Any) -> bool:
            if self.drop_stale and q is prepared and isinstance(item, list):
                try:
                    q.put_nowait(item)
                except queue.Full:
                    try:
                        q.get_nowait()
                        self.dropped += 1
                    except queue.Empty:
                        pass
                    return put(q, item) if not stop.is_set() else False
                return True
            while not stop.is_set():
                try:
                    q.put(item, timeout=0.1)
                    return True
                except queue.Full:
                    continue
            return False

        def read() -> None:
            _lower_priority()
            try:
                # A batch holds (frame, plans, network inputs: one [H, W, 3] per scale); a broken frame rides
                # along as (frame, None, None).
                batch: list[tuple[Frame | BrokenFrame, Plans | None, list[np.ndarray] | None]] = []
                for frame in frames:
                    if stop.is_set():
                        return
                    if isinstance(frame, BrokenFrame):
                        batch.append((frame, None, None))
                        continue
                    image = as_rgb(frame.image)
                    plans = self._plan(image.shape[0], image.shape[1])
                    if any(p not in (None, plans) for _, p, _ in batch):  # a size change ends the batch
                        if not put(prepared, batch):
                            return
                        batch = []
                    batch.append((frame, plans, [p.prepare(image) for p in plans]))
                    if sum(p is not None for _, p, _ in batch) == self.batch_size:
                        if not put(prepared, batch):
                            return
                        batch = []
                if batch:
                    put(prepared, batch)
                put(prepared, _DONE)
            except BaseException as e:  # noqa: BLE001 - carried to the caller
                put(prepared, _Failure(e))

        def get(q: queue.Queue[Any]) -> Any:
            while not stop.is_set():
                try:
                    return q.get(timeout=0.1)
                except queue.Empty:
                    continue
            return _DONE

        def infer() -> None:
            try:
                while True:
                    item = get(prepared)
                    if item is _DONE or isinstance(item, _Failure):
                        put(inferred, item)
                        return
                    inputs = [inp for _, _, inp in item if inp is not None]
                    # [n, H, W, 3] per scale -> the fused-to-be outputs [n, h, w, C] per scale
                    outputs = self.inference.run(self.net.runner, [np.stack(scale) for scale in zip(*inputs)]) \
                        if inputs else []
                    if not put(inferred, (item, outputs)):
                        return
            except BaseException as e:  # noqa: BLE001 - carried to the caller
                put(inferred, _Failure(e))

        threads = [threading.Thread(target=read, name="posenet-read", daemon=True),
                   threading.Thread(target=infer, name="posenet-infer", daemon=True)]
        for t in threads:
            t.start()
        grid_stride = self.inference.grid_stride(self.net.output_stride)
        try:
            while True:
                try:
                    item = inferred.get(timeout=0.1)
                except queue.Empty:
                    if should_stop():
                        return
                    continue
                if item is _DONE:
                    return
                if isinstance(item, _Failure):
                    raise item.error
                batch, outputs = item
                i = 0  # the frame's row in the outputs (broken frames have none)
                for frame, plans, _ in batch:
                    if should_stop():
                        return
                    if plans is None:
                        yield frame  # type: ignore[misc]
                        continue
                    target, one = self.inference.fuse(plans, [{k: v[i] for k, v in o.items()} for o in outputs],
                                                      self.net.output_stride)
                    i += 1
                    yield frame, self.net.decode(target, one, self.decoder, grid_stride)  # type: ignore[misc]
        finally:
            stop.set()
            for t in threads:
                t.join(timeout=5)
