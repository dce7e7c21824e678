"""Running on LiteRT: a model runner on a `.tflite` made from the SavedModel, and where those files are cached.
No TensorFlow here: with the `.tflite` cached, estimating poses imports numpy and LiteRT only.

The SavedModel stays the exported format. Its float32 `.tflite` (and an int8 one, when made) is converted once
(`litert_convert.py`, with TensorFlow) and cached under `<cache>/litert/v<N>/<savedmodel>-<fingerprint>-<precision>/`:
the fingerprint is of the SavedModel's own files, so a changed SavedModel is converted again; the metadata
beside the `.tflite` records the TensorFlow that converted it, and a float32 model converted by another
TensorFlow than the installed one is converted again too.

The `.tflite` keeps the SavedModel's dynamic signature: an interpreter runs any input shape once its input
tensor is resized and allocated (a few ms). The runner keeps one interpreter per shape in use (a video has
one; flip and multi-scale testing two or three), up to MAX_SHAPES. LiteRT gains nothing from batches, so
its runner asks for batch 1.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import threading
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import first_line, write_error
from ..files import building
from .base import ModelError
from .environment import cpu_count, quiet_stderr
from .signature import INPUT_NAME, OUTPUT_NAMES, as_batch, output_stride, read_metadata

FORMAT_VERSION = 1  # bump when the conversion recipe changes, so cached .tflite files are made again
PRECISIONS = ("float32", "int8")
# The backbone layers an int8 model keeps in float32 by default, beside the output heads: Conv2d_0 and the
# depthwise convolutions of blocks 1-4 (layers in running order: 0 Conv2d_0, 1 Conv2d_1_depthwise,
# 2 Conv2d_1_pointwise, 3 Conv2d_2_depthwise, ...): the set chosen by measured AP and speed, in
# docs/benchmarks.md ("int8").
DEFAULT_FLOAT_LAYERS = (0, 1, 3, 5, 7)
# The pipeline has one reader, whose resize takes a fraction of a model call (docs/benchmarks.md, "Threads"):
# more interpreters than this would wait for it, each holding its own activations.
MAX_WORKERS = 4
MAX_SHAPES = 4  # interpreters kept allocated at once: each holds its activations, which grow with the input size
MODEL_FILE = "model.tflite"
METADATA_FILE = "posenet.json"
_ALLOCATING = threading.Lock()  # allocations silence fd 2, which threads share: one at a time


class LiteRTError(ModelError, ValueError):
    """A .tflite that LiteRT cannot load, or that lacks the PoseNet signature."""


def fingerprint(savedmodel: Path) -> str:
    """A digest of the SavedModel's own files: its `fingerprint.pb` (TensorFlow 2.12+ writes one), else its
    graph and variable index."""
    digest = hashlib.sha256()
    names = ["fingerprint.pb"] if (savedmodel / "fingerprint.pb").is_file() else [
        "saved_model.pb", "variables/variables.index"]
    for name in names:
        with contextlib.suppress(OSError):
            digest.update((savedmodel / name).read_bytes())
    return digest.hexdigest()[:16]


def model_dir(savedmodel: Path, cache: Path, precision: str) -> Path:
    """Where the `.tflite` of `precision` made from `savedmodel` is cached."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}")
    name = Path(savedmodel).resolve().name
    return cache / "litert" / f"v{FORMAT_VERSION}" / f"{name}-{fingerprint(Path(savedmodel))}-{precision}"


def read_model_metadata(folder: Path) -> dict[str, Any]:
    """The metadata written beside a cached `.tflite` ({} when absent or unreadable)."""
    return read_metadata(folder, METADATA_FILE)


def cached_model(savedmodel: Path, cache: Path, precision: str, tensorflow: str | None = None) -> Path | None:
    """The cached `.tflite` of `precision` for `savedmodel`, or None. A float32 one converted by another
    TensorFlow than `tensorflow` (the installed version; None: none installed, any will do) counts as absent."""
    folder = model_dir(savedmodel, cache, precision)
    if not (folder / MODEL_FILE).is_file():
        return None
    made_by = read_model_metadata(folder).get("tensorflow")
    if precision == "float32" and tensorflow is not None and made_by != tensorflow:
        return None
    return folder / MODEL_FILE


def publish_model(data: bytes, savedmodel: Path, cache: Path, precision: str, metadata: dict[str, Any]) -> Path:
    """Write a `.tflite` and its metadata into the cache as one folder, renamed into place whole (a reader
    never sees half of it; a stale one, of another TensorFlow or calibration, is replaced)."""
    folder = model_dir(savedmodel, cache, precision)
    meta = {**read_metadata(savedmodel), **metadata, "precision": precision,
            "savedmodel": str(Path(savedmodel).resolve()), "litert_format": FORMAT_VERSION}
    try:
        with building(folder) as tmp:
            (tmp / MODEL_FILE).write_bytes(data)
            (tmp / METADATA_FILE).write_text(json.dumps(meta, indent=2, sort_keys=True, default=str) + "\n")
    except OSError as e:  # a full disk, say: the cache keeps nothing of it
        raise write_error(folder, e, "the model cache keeps no part of it") from None
    return folder / MODEL_FILE


class LiteRTRunner:
    """Runs a PoseNet `.tflite` (float32, or int8 inside with float32 input and outputs) on numpy images,
    as `savedmodel.ModelRunner` runs a SavedModel: `runner(images) -> {output name: array}`."""

    preferred_batch = 1  # LiteRT runs a batch no faster per frame than one image at a time

    def __init__(self, path: Path, threads: int | None = None, metadata: dict[str, Any] | None = None) -> None:
        """`threads`: LiteRT's threads (None: one per core this process may use; LiteRT's own default is 1)."""
        self.path = Path(path)
        self.threads = threads or cpu_count()
        # One interpreter per input shape in use (most recently used last): a video has one shape, but flip
        # and multi-scale testing alternate two or three, and re-allocating per call would cost each time.
        self._interpreters: dict[tuple[int, ...], Any] = {}
        interpreter = self._new_interpreter()
        signature = interpreter.get_signature_runner()
        inputs, outputs = signature.get_input_details(), signature.get_output_details()
        del signature  # a live SignatureRunner makes every later resize_tensor_input fail
        if INPUT_NAME not in inputs or any(name not in outputs for name in OUTPUT_NAMES):
            raise LiteRTError(f"{self.path}: expected input {INPUT_NAME!r} and outputs {', '.join(OUTPUT_NAMES)}; "
                              f"has {', '.join(inputs)} -> {', '.join(outputs)}")
        self._input = inputs[INPUT_NAME]["index"]
        self._outputs = {name: outputs[name]["index"] for name in OUTPUT_NAMES}
        self._spare: Any = interpreter  # made before any shape is known: the first shape takes it
        self._workers: list[LiteRTRunner] | None = None
        # One call at a time: an interpreter is not thread-safe, and a pipeline stopped mid-call may leave a
        # call running on a worker that the next pipeline over the same runner hands frames to.
        self._calling = threading.Lock()
        self.metadata = dict(metadata if metadata is not None else read_model_metadata(self.path.parent))
        self.metadata.setdefault("path", str(self.path))
        self.output_stride = output_stride(self, self.metadata, LiteRTError)

    def _new_interpreter(self) -> Any:
        from ai_edge_litert.interpreter import Interpreter

        try:
            return Interpreter(model_path=str(self.path), num_threads=self.threads)
        except (ValueError, RuntimeError) as e:
            raise LiteRTError(f"cannot load {self.path}: {first_line(e)}") from None

    def _interpreter_for(self, shape: tuple[int, ...]) -> Any:
        """The interpreter allocated for `shape`, made (and the least recently used one dropped beyond
        MAX_SHAPES) on first use."""
        interpreter = self._interpreters.pop(shape, None)
        if interpreter is None:
            if len(self._interpreters) >= MAX_SHAPES:
                del self._interpreters[next(iter(self._interpreters))]
            interpreter, self._spare = self._spare or self._new_interpreter(), None
            interpreter.resize_tensor_input(self._input, list(shape), strict=True)
            # The first allocation applies the XNNPACK delegate, which announces itself on fd 2 from C++;
            # one at a time, as workers (below) allocate from their own threads and fd 2 is the process's.
            with _ALLOCATING, quiet_stderr("LITERT_VERBOSE", "1"):
                interpreter.allocate_tensors()
        self._interpreters[shape] = interpreter
        return interpreter

    def workers(self) -> list[LiteRTRunner]:
        """Runners to call at the same time from separate threads, for the most frames a second: one
        single-threaded interpreter per thread this one has (itself when it has one), at most MAX_WORKERS,
        this one's threads shared out between them. LiteRT's own threads split each op and wait for the
        slowest part; interpreters on separate frames never wait for each other, and leave a core's share to
        reading and decoding (docs/benchmarks.md, "Threads")."""
        count = min(self.threads, MAX_WORKERS)
        if count == 1:
            return [self]
        if self._workers is None:
            shares = [self.threads // count + (i < self.threads % count) for i in range(count)]
            metadata = {**self.metadata, "output_stride": self.output_stride}  # known: no probe per worker
            self._workers = [LiteRTRunner(self.path, n, metadata) for n in shares]
        return self._workers

    def __call__(self, images: np.ndarray) -> dict[str, np.ndarray]:
        """The four outputs for float32 images [b, h, w, 3] (or one [h, w, 3], run as a batch of 1)."""
        images = as_batch(images)
        with self._calling:
            interpreter = self._interpreter_for(images.shape)
            interpreter.set_tensor(self._input, np.ascontiguousarray(images))
            interpreter.invoke()
            return {name: interpreter.get_tensor(index) for name, index in self._outputs.items()}

