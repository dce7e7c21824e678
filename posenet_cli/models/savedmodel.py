"""The SavedModel every model is exported as (the signature in `signature.py`), its atomic export, and a
runner that loads and runs it.

The input normalisation (MobileNet x / 127.5 - 1, ResNet50 x + [-123.15, -115.90, -103.06]) happens inside
the graph. Metadata (output_stride, architecture, multiplier, source, ...) is kept as JSON in
`<dir>/assets.extra/posenet.json`; a SavedModel converted by someone else without it still loads, and its
output stride is found by a probe.
"""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

from ..errors import first_line, write_error
from ..files import building
from .signature import (
    INPUT_NAME,
    METADATA_PATH,
    OUTPUT_CHANNELS,
    OUTPUT_NAMES,
    SIGNATURE_DOC,
    SIGNATURE_KEY,
    as_batch,
    output_stride,
    read_metadata,
)
from .weights import WeightsError

FORMAT_VERSION = 1


class SavedModelError(WeightsError, ValueError):
    """A directory that is not a SavedModel with the PoseNet serving signature."""


def export_savedmodel(module: tf.Module, out_dir: Path, metadata: dict[str, Any]) -> None:
    """Write `module` (a PoseNetModule: a `serve` tf.function with the signature) as a SavedModel.

    Atomic: built in a temporary directory next to `out_dir` and renamed into place, so a reader never
    sees a half-written model and an interrupted export leaves only a stray temp dir. `metadata` is merged
    with what the module knows about itself (architecture, output_stride, multiplier); a different
    output_stride in `metadata` than the network really has is an error rather than a silent mislabel.
    """
    out_dir = Path(out_dir)
    serve = getattr(module, "serve", None)
    if serve is None:
        raise TypeError("export_savedmodel needs a module with a `serve` tf.function (a PoseNetModule)")
    own = {k: v for k, v in (module.describe() if hasattr(module, "describe") else {}).items() if v is not None}
    asked = metadata.get("output_stride")
    if asked is not None and "output_stride" in own and int(asked) != own["output_stride"]:
        raise ValueError(f"the network has output stride {own['output_stride']}, but the metadata says {asked}")
    meta = {**metadata, **own, "format_version": FORMAT_VERSION, "signature": SIGNATURE_DOC}

    kept = "nothing of it is kept; the next run converts it again"
    concrete = serve.get_concrete_function()
    try:
        with building(out_dir) as tmp:
            tf.saved_model.save(module, str(tmp), signatures={SIGNATURE_KEY: concrete})
            (tmp / METADATA_PATH).parent.mkdir(parents=True, exist_ok=True)
            (tmp / METADATA_PATH).write_text(json.dumps(meta, indent=2, sort_keys=True, default=str) + "\n")
    except (OSError, tf.errors.OpError) as e:  # the model is built and traced: what fails here is the writing
        raise write_error(out_dir, e if isinstance(e, OSError) else _as_os_error(e), kept) from None


def _as_os_error(e: tf.errors.OpError) -> OSError:
    """A TensorFlow file-writing error as the OSError it reports (its message ends in the cause, e.g.
    "...; No space left on device")."""
    for code in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EACCES, errno.ENOENT, errno.EIO):
        if os.strerror(code) in e.message:
            return OSError(code, os.strerror(code))
    return OSError(errno.EIO, first_line(e).rsplit("; ", 1)[-1])


class ModelRunner:
    """Runs any SavedModel with the PoseNet signature (ours, or one a user converted) on numpy batches."""

    preferred_batch = 4  # TensorFlow runs batches faster per frame; 4 keeps the pipeline's latency and memory low

    def __init__(self, loaded: Any, function: Any, metadata: dict[str, Any], path: Path | None = None):
        self._loaded = loaded  # keeps the variables alive: signature functions only hold weak references
        self._function = function
        self.metadata = metadata
        self.path = path
        self.output_stride = output_stride(self, metadata, SavedModelError)

    def workers(self) -> list[ModelRunner]:
        """Itself alone: TensorFlow's ops already spread each call over every core (see LiteRTRunner)."""
        return [self]

    @classmethod
    def load(cls, path: Path) -> ModelRunner:
        """Load and check a SavedModel directory (raises SavedModelError if it is not a PoseNet one)."""
        path = Path(path)
        if not (path / "saved_model.pb").is_file():
            raise SavedModelError(f"{path} is not a SavedModel directory (no saved_model.pb)")
        try:
            loaded = tf.saved_model.load(str(path))
        except (OSError, ValueError, tf.errors.OpError) as e:
            raise SavedModelError(f"cannot load SavedModel {path}: {first_line(e)}") from None
        signatures = dict(loaded.signatures)
        if SIGNATURE_KEY not in signatures and len(signatures) != 1:
            raise SavedModelError(f"{path}: no '{SIGNATURE_KEY}' signature (has: {', '.join(signatures) or 'none'})")
        function = signatures.get(SIGNATURE_KEY) or next(iter(signatures.values()))
        _check_signature(function, path)
        meta = read_metadata(path)
        meta.setdefault("path", str(path))
        return cls(loaded, function, meta, path)

    def __call__(self, images: np.ndarray) -> dict[str, np.ndarray]:
        """The four outputs for float32 images [b, h, w, 3] (or one [h, w, 3], run as a batch of 1)."""
        outputs = self._function(**{INPUT_NAME: tf.convert_to_tensor(as_batch(images))})
        return {name: outputs[name].numpy() for name in OUTPUT_NAMES}


def _check_signature(function: Any, path: Path) -> None:
    _, kwargs = function.structured_input_signature
    spec = kwargs.get(INPUT_NAME)
    if spec is None or spec.dtype != tf.float32 or spec.shape.rank not in (None, 4):
        have = ", ".join(f"{k} {v.dtype.name} {v.shape}" for k, v in kwargs.items()) or "none"
        raise SavedModelError(f"{path}: the signature needs input '{INPUT_NAME}' float32 [b, h, w, 3]; it has {have}")
    outputs = function.structured_outputs
    missing = [name for name in OUTPUT_NAMES if name not in outputs]
    if missing:
        raise SavedModelError(f"{path}: the signature lacks output(s) {', '.join(missing)} "
                              f"(has: {', '.join(outputs)}); expected {', '.join(OUTPUT_NAMES)}")
    for name in OUTPUT_NAMES:
        shape = outputs[name].shape
        if shape.rank is not None and (shape.rank != 4 or shape[-1] not in (None, OUTPUT_CHANNELS[name])):
            raise SavedModelError(f"{path}: output '{name}' has shape {shape}, expected [b, h, w, "
                                  f"{OUTPUT_CHANNELS[name]}]")
