"""A live window for the webcam command: shows frames, reports when the user asks to quit.

OpenCV's windows on Linux are Qt on X11, and Qt aborts the whole process (exit 134) when it cannot reach a
display, from inside the first window call. So the display is checked first, the way Qt's xcb plugin
connects, and a missing one is a one-line error instead.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import re
import socket
import sys

import numpy as np

from .inputs import MediaError


def display_problem() -> str | None:
    """Why a window cannot open here (None if it can): no X display named, a display that does not
    answer, or a Qt platform this OpenCV lacks. Linux only; elsewhere OpenCV's own backend decides."""
    if not sys.platform.startswith("linux"):
        return None
    platform = os.environ.get("QT_QPA_PLATFORM", "")
    if platform and not platform.startswith("xcb"):
        return f"QT_QPA_PLATFORM={platform} is set, and OpenCV's windows need an X display (xcb)"
    display = os.environ.get("DISPLAY", "")
    if not display:
        return "no display (DISPLAY is not set)"
    tcp = re.fullmatch(r"(?:tcp/)?([^:/]+):(\d+)(?:\.\d+)?", display)
    if tcp and tcp.group(1) != "unix":  # a remote display: do not let the X library hang on it
        try:
            socket.create_connection((tcp.group(1), 6000 + int(tcp.group(2))), timeout=2).close()
        except OSError as e:
            return f"display {display} does not answer ({e.strerror or e})"
    try:
        xcb = ctypes.CDLL(ctypes.util.find_library("xcb") or "libxcb.so.1")
    except OSError:
        return "the X client library (libxcb) is missing"
    xcb.xcb_connect.restype = ctypes.c_void_p
    xcb.xcb_connect.argtypes = [ctypes.c_char_p, ctypes.POINTER(ctypes.c_int)]
    xcb.xcb_connection_has_error.argtypes = [ctypes.c_void_p]
    xcb.xcb_disconnect.argtypes = [ctypes.c_void_p]
    connection = xcb.xcb_connect(display.encode(), None)
    try:
        refused = xcb.xcb_connection_has_error(connection)
    finally:
        xcb.xcb_disconnect(connection)
    return f"cannot connect to display {display}" if refused else None


class Window:
    """A live OpenCV window the size of the video, without toolbar or status bar; q or Esc (or closing
    it) quits."""

    def __init__(self, title: str = "posenet") -> None:
        problem = display_problem()
        if problem:
            raise MediaError(f"cannot open a window: {problem}")
        import cv2

        # Qt's uncategorised warnings (fonts the wheel does not ship) are not for users.
        os.environ.setdefault("QT_LOGGING_RULES", "default.warning=false")
        self.cv2 = cv2
        self.title = title
        try:
            cv2.namedWindow(title, cv2.WINDOW_AUTOSIZE | cv2.WINDOW_GUI_NORMAL)
        except cv2.error:
            raise MediaError("cannot open a window") from None

    def show(self, rgb: np.ndarray) -> bool:
        """Show a frame; False once the user pressed q or Esc or closed the window."""
        self.cv2.imshow(self.title, rgb[:, :, ::-1])
        if self.cv2.waitKey(1) & 0xFF in (ord("q"), 27):
            return False
        try:
            return self.cv2.getWindowProperty(self.title, self.cv2.WND_PROP_VISIBLE) >= 1
        except self.cv2.error:  # Qt raises once the last window is closed
            return False

    def close(self) -> None:
        try:
            self.cv2.destroyWindow(self.title)
        except self.cv2.error:  # closed by the user already
            pass
