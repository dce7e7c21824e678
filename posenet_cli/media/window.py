"""A live window for the webcam command: shows frames, reports when the user asks to quit."""

from __future__ import annotations

import numpy as np

from .inputs import MediaError


class Window:
    """A live OpenCV window: shows RGB frames, reports whether the user asked to quit (q or Esc)."""

    def __init__(self, title: str = "posenet") -> None:
        import cv2

        self.cv2 = cv2
        self.title = title
        try:
            cv2.namedWindow(title, cv2.WINDOW_NORMAL)
        except cv2.error:
            raise MediaError("cannot open a window (no display?); use --no-display") from None

    def show(self, rgb: np.ndarray) -> bool:
        """Show a frame; False once the user pressed q or Esc or closed the window."""
        self.cv2.imshow(self.title, rgb[:, :, ::-1])
        key = self.cv2.waitKey(1) & 0xFF
        return key not in (ord("q"), 27)

    def close(self) -> None:
        self.cv2.destroyWindow(self.title)
