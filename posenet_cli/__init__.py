"""posenet-cli: Google's PoseNet for the command line and Python.

>>> from posenet_cli import PoseNet
>>> net = PoseNet("mobilenet-v1-075", output_stride=16)
>>> poses = net.estimate_multiple_poses(rgb_image)
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["Keypoint", "Pose", "PoseNet", "__version__"]


def __getattr__(name: str) -> Any:
    # Imported on first use, so `import posenet_cli.<module>` and `posenet --help` stay light.
    if name == "PoseNet":
        from .estimator import PoseNet

        return PoseNet
    if name in ("Pose", "Keypoint"):
        from . import pose

        return getattr(pose, name)
    raise AttributeError(f"module 'posenet_cli' has no attribute {name!r}")
