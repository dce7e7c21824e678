"""Whole jobs: images and video streams through the estimator into writers and drawings.

This is where the core (sizing, estimator, pipeline, across frames), media and output meet; the CLI
commands and `posenet batch` call these functions, and a script can make the same calls.
"""

from .images import run_images
from .options import JobOptions, Summary
from .video import open_span, resume_reader, run_video

__all__ = ["JobOptions", "Summary", "open_span", "resume_reader", "run_images", "run_video"]
