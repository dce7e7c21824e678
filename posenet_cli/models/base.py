"""What every part of `models/` shares, and what the core needs without TensorFlow: the valid output strides,
the default model, and the model errors."""

from __future__ import annotations

from ..errors import PoseNetError

STRIDES = (8, 16, 32)
DEFAULT_MODEL = "mobilenet-v1-075"
DEFAULT_STRIDE = 16


class ModelError(PoseNetError):
    """A model that cannot be used as asked (unknown name, unsupported stride, nothing reachable, bad files)."""


class StrideError(ModelError, ValueError):
    """An output stride that is not 8, 16 or 32, or that the network cannot produce."""


def check_stride(output_stride: object) -> int:
    """`output_stride` if it is one of STRIDES, else StrideError."""
    if isinstance(output_stride, bool) or output_stride not in STRIDES:
        raise StrideError(f"output stride must be one of {', '.join(map(str, STRIDES))} (got {output_stride})")
    return int(output_stride)  # type: ignore[call-overload]
