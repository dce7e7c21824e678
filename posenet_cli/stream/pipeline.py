"""A pipelined, batched path for streams of frames: decode, inference and pose decoding overlap.

    Reader        (a thread)       frames -> network inputs (resize/pad; one per scale), grouped into
                                   batches of one frame size
    Inferer       (a thread, and   batches -> the model runner, one call per scale with any mirrored inputs
                   one per worker)  in the same batch (TensorFlow and LiteRT release the GIL while they
                                   compute); with several workers (`Runner.workers`: LiteRT's single-threaded
                                   interpreters) a batch each at once, passed on in order
    DecoderStage  (caller's thread) outputs -> fused (InferenceOptions) -> poses, yielded in frame order (the
                                   caller writes JSON, draws, ...)

Between them a `Channel` carries batches, then `END` (the source is exhausted) or a `Failure` (a stage
raised); a `BrokenFrame` rides in its batch as it is.

Queues between the stages are bounded, so memory stays flat however long the video is. Results are
the same as `PoseNet.estimate` one frame at a time (a test checks this on the shared clips). A
`BrokenFrame` in the stream is passed through in its place, with no poses.
"""

from __future__ import annotations

import os
import queue
import threading
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Generic, TypeVar

import numpy as np

from ..decode import DecoderOptions
from ..estimator import PoseNet, as_rgb
from ..inference import InferenceOptions, Outputs
from ..models.signature import Runner
from ..pose import Pose
from ..sizing import InputPlan, SizingOptions
from .frames import BrokenFrame, Frame

READER_NICENESS = 10
POLL_S = 0.1  # how often a waiting stage looks at the stop flag
# What `Pipeline.run` yields, in stream order: a frame with its poses, or a broken frame passed through.
Result = tuple[Frame, list[Pose]] | BrokenFrame
Plans = tuple[InputPlan, ...]  # a frame size's input plan at each scale


class End:
    """The value after the last batch: the source is exhausted (or the run was stopped)."""


END = End()


class Failure:
    """An exception raised in a stage's thread, carried to the caller's thread."""

    def __init__(self, error: BaseException) -> None:
        self.error = error


@dataclass(frozen=True)
class Prepared:
    """A frame ready for the network: its input plan and its network input [H, W, 3] at each scale."""

    frame: Frame
    plans: Plans
    inputs: list[np.ndarray]


Batch = list[Prepared | BrokenFrame]  # frames of one size, with the broken frames between them in place


@dataclass(frozen=True)
class Inferred:
    """A batch and the network's outputs for its prepared frames: [n, h, w, C] per output, per scale."""

    batch: Batch
    outputs: list[Outputs]


T = TypeVar("T")


class Channel(Generic[T]):
    """A bounded queue between two stages that gives up waiting once `stop` is set. With `drop_stale`, a
    batch put into a full channel pushes out the oldest one waiting (counted in `dropped`)."""

    def __init__(self, size: int, stop: threading.Event, drop_stale: bool = False) -> None:
        self.queue: queue.Queue[T | End | Failure] = queue.Queue(size)
        self.stop, self.drop_stale, self.dropped = stop, drop_stale, 0

    def put(self, item: T | End | Failure) -> bool:
        """Put `item`, waiting while the channel is full; False when stopped first."""
        if self.drop_stale and not isinstance(item, (End, Failure)):
            return self._put_dropping(item)
        while not self.stop.is_set():
            try:
                self.queue.put(item, timeout=POLL_S)
                return True
            except queue.Full:
                continue
        return False

    def _put_dropping(self, item: T) -> bool:
        while not self.stop.is_set():
            try:
                self.queue.put_nowait(item)
                return True
            except queue.Full:
                try:
                    self.queue.get_nowait()
                    self.dropped += 1
                except queue.Empty:
                    pass
        return False

    def get(self) -> T | End | Failure:
        """The next item, waiting while the channel is empty; END when stopped first."""
        while not self.stop.is_set():
            try:
                return self.queue.get(timeout=POLL_S)
            except queue.Empty:
                continue
        return END


def _lower_priority() -> None:
    """Make the calling thread yield to inference: the runtime splits each op across its threads and
    waits for the slowest, so a decoding thread that preempts one of them stalls the whole op
    (docs/benchmarks.md, "Video pipeline"). Linux only; elsewhere a no-op."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), READER_NICENESS)
    except (AttributeError, OSError):
        pass


class Reader:
    """Stage 1: frames -> batches of up to `batch_size` prepared frames of one size, broken frames in place;
    then END, or a Failure when reading raised."""

    def __init__(self, frames: Iterable[Frame | BrokenFrame], plan: Callable[[int, int], Plans], batch_size: int,
                 out: Channel[Batch], yield_to_inference: bool = True) -> None:
        """`yield_to_inference`: run at a lower priority than the runner's threads (see `_lower_priority`):
        for one runner with threads of its own, not for single-threaded workers, which wait for no one."""
        self.frames, self.plan, self.batch_size, self.out = frames, plan, batch_size, out
        self.yield_to_inference = yield_to_inference

    def __call__(self) -> None:
        if self.yield_to_inference:
            _lower_priority()
        try:
            if self._read():
                self.out.put(END)
        except BaseException as e:  # noqa: BLE001 - carried to the caller
            self.out.put(Failure(e))

    def _read(self) -> bool:
        """Put every batch; False when stopped first."""
        batch: Batch = []
        size: Plans = ()  # the plans of the batch's prepared frames (all alike), and how many there are
        count = 0
        for frame in self.frames:
            if self.out.stop.is_set():
                return False
            if isinstance(frame, BrokenFrame):
                batch.append(frame)
                continue
            image = as_rgb(frame.image)
            plans = self.plan(image.shape[0], image.shape[1])
            if count and plans != size:  # a size change ends the batch
                if not self.out.put(batch):
                    return False
                batch, count = [], 0
            batch.append(Prepared(frame, plans, [p.prepare(image) for p in plans]))
            size, count = plans, count + 1
            if count == self.batch_size:
                if not self.out.put(batch):
                    return False
                batch, count = [], 0
        return not batch or self.out.put(batch)


def _prepared(batch: Batch) -> list[Prepared]:
    return [p for p in batch if isinstance(p, Prepared)]


class Inferer:
    """Stage 2: each batch through a model runner (all its frames at once, per scale), one batch in flight
    per runner in `runners`, each on a thread of its own, the results passed on in order; then END, or the
    Failure it was given."""

    def __init__(self, runners: list[Runner], inference: InferenceOptions, inbox: Channel[Batch],
                 out: Channel[Inferred]) -> None:
        self.runners, self.inference, self.inbox, self.out = runners, inference, inbox, out
        self.free: queue.SimpleQueue[Runner] = queue.SimpleQueue()  # the runners not running a batch now
        for runner in runners:
            self.free.put(runner)

    def __call__(self) -> None:
        try:
            with ThreadPoolExecutor(len(self.runners), thread_name_prefix="posenet-infer") as pool:
                self._run(pool)
        except BaseException as e:  # noqa: BLE001 - carried to the caller
            self.out.put(Failure(e))

    def _run(self, pool: ThreadPoolExecutor) -> None:
        pending: deque[tuple[Batch, Future[list[Outputs]]]] = deque()  # oldest first
        while True:
            batch = self.inbox.get()
            if isinstance(batch, (End, Failure)):
                break
            pending.append((batch, pool.submit(self.infer, batch)))
            if len(pending) == len(self.runners) and not self._pass_oldest(pending):
                return
        while pending:
            if not self._pass_oldest(pending):
                return
        self.out.put(batch)

    def _pass_oldest(self, pending: deque[tuple[Batch, Future[list[Outputs]]]]) -> bool:
        """Wait for the oldest batch in flight and pass it on; False when stopped first."""
        batch, outputs = pending.popleft()
        return self.out.put(Inferred(batch, outputs.result()))

    def infer(self, batch: Batch) -> list[Outputs]:
        """[n, H, W, 3] per scale -> the fused-to-be outputs [n, h, w, C] per scale (none for a batch of
        broken frames only), on whichever runner is free."""
        inputs = [p.inputs for p in _prepared(batch)]
        if not inputs:
            return []
        runner = self.free.get()
        try:
            return self.inference.run(runner, [_stacked(scale) for scale in zip(*inputs)])
        finally:
            self.free.put(runner)


def _stacked(arrays: tuple[np.ndarray, ...]) -> np.ndarray:
    """n network inputs [H, W, 3] as one batch [n, H, W, 3]: a view for one (LiteRT's batch), not a copy."""
    return arrays[0][None] if len(arrays) == 1 else np.stack(arrays)


class DecoderStage:
    """Stage 3, in the caller's thread: each prepared frame's outputs fused onto one grid and decoded into
    poses in image pixels; broken frames yielded as they are."""

    def __init__(self, net: PoseNet, inference: InferenceOptions, decoder: DecoderOptions) -> None:
        self.net, self.inference, self.decoder = net, inference, decoder
        self.grid_stride = inference.grid_stride(net.output_stride)

    def results(self, inferred: Inferred) -> Iterator[Result]:
        i = 0  # the frame's row in the outputs (broken frames have none)
        for item in inferred.batch:
            if isinstance(item, BrokenFrame):
                yield item
                continue
            rows = [{k: v[i] for k, v in o.items()} for o in inferred.outputs]
            target, one = self.inference.fuse(item.plans, rows, self.net.output_stride)
            i += 1
            yield item.frame, self.net.decode(target, one, self.decoder, self.grid_stride)


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
        parallel: bool = True,
    ) -> None:
        """`batch_size`: frames per model call (None: the runner's `preferred_batch`). `drop_stale`
        (live cameras): when inference falls behind, the oldest waiting frame is dropped rather than queued,
        so what is shown stays current; use it with batch_size=1. `parallel`: batches go to each of the
        runner's `workers()` in turn, for the most frames a second; False (live cameras): to the runner
        itself, each frame through as soon as it can be."""
        if batch_size is None:
            batch_size = net.runner.preferred_batch
        if batch_size < 1:
            raise ValueError("batch size must be at least 1")
        self.net, self.sizing, self.decoder, self.inference = net, sizing, decoder, inference
        self.batch_size = batch_size
        self.queue_batches = queue_batches
        self.drop_stale = drop_stale
        # A runner of the user's own may lack `workers` (it came later to the Runner protocol): itself alone.
        workers = getattr(net.runner, "workers", None)
        self.runners = workers() if parallel and workers is not None else [net.runner]
        self.dropped = 0
        self._plans: dict[tuple[int, int], Plans] = {}

    def plan(self, height: int, width: int) -> Plans:
        """A frame size's input plan at each scale, computed once per size (SizingError when the sizing cannot
        take it): a video has one frame size, so it is planned once, not per frame."""
        key = (height, width)
        if key not in self._plans:
            self._plans[key] = self.inference.plans(self.sizing, height, width, self.net.output_stride)
        return self._plans[key]

    def estimate_images(self, images: Iterable[np.ndarray], bgr: bool = False) -> Iterator[list[Pose]]:
        """The poses in each image, in order, as `PoseNet.estimate` finds them one at a time, pipelined: the
        next images are read (when `images` is a generator reading files, it runs on the reader thread) and
        resized, and the previous ones decoded, while the model runs."""
        for result in self.run(Frame(i, 0.0, as_rgb(image, bgr)) for i, image in enumerate(images)):
            assert not isinstance(result, BrokenFrame)  # none was given
            yield result[1]

    def run(self, frames: Iterable[Frame | BrokenFrame], should_stop: Callable[[], bool] = lambda: False
            ) -> Generator[Result, None, None]:
        """Yield (frame, poses in image pixels) for every frame, and each broken frame as it is, in order;
        end early once `should_stop()` is true (checked while waiting too, so a stalled source does not
        hold up a requested stop)."""
        stop = threading.Event()
        prepared: Channel[Batch] = Channel(self.queue_batches, stop, self.drop_stale)
        inferred: Channel[Inferred] = Channel(self.queue_batches, stop)
        threads = [threading.Thread(target=Reader(frames, self.plan, self.batch_size, prepared,
                                                  yield_to_inference=len(self.runners) == 1),
                                    name="posenet-read", daemon=True),
                   threading.Thread(target=Inferer(self.runners, self.inference, prepared, inferred),
                                    name="posenet-infer", daemon=True)]
        for t in threads:
            t.start()
        decoder = DecoderStage(self.net, self.inference, self.decoder)
        try:
            for item in self._until_end(inferred, should_stop):
                for result in decoder.results(item):
                    if should_stop():
                        return
                    yield result
        finally:
            stop.set()
            for t in threads:
                t.join(timeout=5)
            self.dropped += prepared.dropped

    @staticmethod
    def _until_end(inferred: Channel[Inferred], should_stop: Callable[[], bool]) -> Iterator[Inferred]:
        """The inferred batches up to END; a stage's failure raised here; none once `should_stop()`."""
        while True:
            try:
                item = inferred.queue.get(timeout=POLL_S)
            except queue.Empty:
                if should_stop():
                    return
                continue
            if isinstance(item, End):
                return
            if isinstance(item, Failure):
                raise item.error
            yield item
