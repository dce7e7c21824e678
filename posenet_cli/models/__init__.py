"""Model files and runtimes: the named-model registry, downloads, weight readers, network builders, the
SavedModel export, and the runners that execute it (TensorFlow, or LiteRT on a converted `.tflite`).

Importing this package is cheap (no TensorFlow): `ModelRef` names a model; `ModelRef.load()` and
`create_model` import TensorFlow when they build, convert or run a SavedModel, and not when LiteRT runs a
cached `.tflite`.
"""

from .base import (
    BACKENDS,
    DEFAULT_BACKEND,
    DEFAULT_MODEL,
    DEFAULT_STRIDE,
    STRIDES,
    ModelError,
    StrideError,
    check_stride,
)
from .registry import MODELS, LoadOptions, ModelRef, create_model

__all__ = ["BACKENDS", "DEFAULT_BACKEND", "DEFAULT_MODEL", "DEFAULT_STRIDE", "MODELS", "STRIDES", "ModelError",
           "LoadOptions", "ModelRef", "StrideError", "check_stride", "create_model"]
