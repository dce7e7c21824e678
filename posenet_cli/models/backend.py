"""The backend choice and the runner it gives a SavedModel: TensorFlow runs the SavedModel itself, LiteRT its cached
`.tflite` (converted with TensorFlow on first use, loaded without it after).

TensorFlow is imported only where it is needed: to run a SavedModel, or to make a `.tflite` that is not
cached yet. The LiteRT path with its `.tflite` cached imports neither TensorFlow nor any module that does.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from .base import BACKENDS, ModelError
from .environment import have_litert, quiet_stderr, start_tensorflow, tensorflow_version
from .litert_runner import DEFAULT_FLOAT_LAYERS, LiteRTRunner, cached_model, publish_model
from .signature import Runner
from .sources import SILENT, Reporter


def choose_backend(backend: str, int8: bool = False) -> str:
    """The runtime that runs a model: "litert" or "tensorflow". "auto" is LiteRT where its wheel is
    installed, TensorFlow elsewhere; int8 models exist only for LiteRT."""
    if backend not in BACKENDS:
        raise ModelError(f"`backend` must be one of {', '.join(BACKENDS)} (got {backend!r})")
    if backend == "auto":
        backend = "litert" if have_litert() else "tensorflow"
    if backend == "litert" and not have_litert():
        raise ModelError("the LiteRT backend needs the ai-edge-litert package (pip install 'ai-edge-litert>=2.3'); "
                         "or use `backend='tensorflow'`")
    if int8 and backend != "litert":
        raise ModelError("`int8=True` runs on LiteRT only; leave out `backend='tensorflow'` (and install "
                         "ai-edge-litert)")
    return backend


def load_runner(savedmodel: Path, cache: Path, backend: str = "auto", *, int8: bool = False, name: str = "",
                threads: int | None = None, reporter: Reporter = SILENT) -> Runner:
    """A runner for `savedmodel` on `backend` (auto, litert or tensorflow; see `runtime_model`).
    `threads`: the runtime's threads (None: TensorFlow's default; for LiteRT, one per core)."""
    name = name or str(savedmodel)
    tflite = runtime_model(savedmodel, cache, backend, int8=int8, name=name, reporter=reporter)
    if tflite is not None:
        with reporter.step(f"loading {name} (LiteRT{', int8' if int8 else ''})"):
            return LiteRTRunner(tflite, threads)
    start_tensorflow(reporter, threads)
    from .savedmodel import ModelRunner

    with reporter.step(f"loading {name}"):
        return ModelRunner.load(savedmodel)


def runtime_model(savedmodel: Path, cache: Path, backend: str = "auto", *, int8: bool = False, name: str = "",
                  reporter: Reporter = SILENT) -> Path | None:
    """The `.tflite` LiteRT runs for `savedmodel` on `backend` (converted into the cache when missing), or None
    where TensorFlow runs the SavedModel itself. `choose_backend` decides; with "auto", a model that cannot
    be converted for LiteRT runs on TensorFlow instead, with a note."""
    if choose_backend(backend, int8) != "litert":
        return None
    try:
        return litert_model(savedmodel, cache, "int8" if int8 else "float32", reporter)
    except ModelError as e:
        if backend != "auto" or int8:
            raise
        reporter.note(f"running {name or savedmodel} on TensorFlow: {e}")
        return None


def litert_model(savedmodel: Path, cache: Path, precision: str = "float32", reporter: Reporter = SILENT) -> Path:
    """The cached `.tflite` of `savedmodel`; a float32 one is converted (with TensorFlow) when missing or made
    by another TensorFlow, an int8 one must have been made by `quantize_model`."""
    found = cached_model(savedmodel, cache, precision, tensorflow_version())
    if found is not None:
        return found
    if precision == "int8":
        raise ModelError(f"no int8 model of {savedmodel.name} is cached; make one with `quantize_model` "
                         f"(calibrated on photos or videos like yours, not the ones you evaluate on)")
    if tensorflow_version() is None:
        raise ModelError(f"{savedmodel.name} has no LiteRT model in the cache and TensorFlow, which makes one, "
                         f"is not installed")
    start_tensorflow(reporter)
    from .litert_convert import convert_float

    with reporter.step(f"converting {savedmodel.name} for LiteRT"), quiet_stderr():
        data = convert_float(savedmodel)
        return publish_model(data, savedmodel, cache, "float32", {"tensorflow": tensorflow_version()})


def quantize_model(savedmodel: Path, cache: Path, inputs: Iterable[np.ndarray],
                   float_layers: Sequence[int] | None = DEFAULT_FLOAT_LAYERS, *, calibration: str = "",
                   reporter: Reporter = SILENT) -> Path:
    """Make and cache the int8 `.tflite` of `savedmodel`, calibrated on `inputs` (network inputs as sizing
    prepares them); `float_layers`: see `litert_convert.quantize_int8`. Replaces an older one."""
    start_tensorflow(reporter)
    from .litert_convert import quantize_int8

    samples = list(inputs)
    cached_float = cached_model(savedmodel, cache, "float32", tensorflow_version())
    float_model = cached_float.read_bytes() if cached_float is not None else None  # spares a conversion
    with reporter.step(f"quantising {savedmodel.name} to int8 on {len(samples)} calibration inputs"), \
            quiet_stderr():  # the converter's C++ says what it did, whatever TF_CPP_MIN_LOG_LEVEL says
        data = quantize_int8(savedmodel, samples, float_layers, float_model)
    meta = {"tensorflow": tensorflow_version(), "calibration": calibration, "calibration_inputs": len(samples),
            "float_layers": "none" if float_layers is None else f"heads + backbone layers {list(float_layers)}"}
    return publish_model(data, savedmodel, cache, "int8", meta)
