"""Model files and runtimes: the named-model registry, downloads, weight readers, network builders, the
SavedModel export and the runner that executes it.

Importing this package is cheap (no TensorFlow): `ModelRef` names a model; `ModelRef.load()` and
`create_model` import TensorFlow when they build or load one.
"""

from .base import DEFAULT_MODEL, DEFAULT_STRIDE, STRIDES, ModelError, StrideError, check_stride
from .registry import MODELS, ModelRef, create_model

__all__ = ["DEFAULT_MODEL", "DEFAULT_STRIDE", "MODELS", "STRIDES", "ModelError", "ModelRef", "StrideError",
           "check_stride", "create_model"]
