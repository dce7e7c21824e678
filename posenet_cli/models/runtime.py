"""Starting TensorFlow the way this tool wants it: quietly, and with the thread budget it is given."""

from __future__ import annotations

import contextlib
import os
import sys


def import_tensorflow(threads: int | None = None) -> None:
    """Import TensorFlow with its C++ start-up notices (oneDNN, CPU features) kept off stderr, and give it
    `threads` intra- and inter-op threads if its runtime has not started yet.

    TF 2.21 prints those notices whatever TF_CPP_MIN_LOG_LEVEL says, so stderr itself is pointed at
    /dev/null for the import; TF_CPP_MIN_LOG_LEVEL=0 lets them through.
    """
    if "tensorflow" not in sys.modules and os.environ.get("TF_CPP_MIN_LOG_LEVEL") != "0":
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        sys.stderr.flush()
        saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, 2)
            import tensorflow  # noqa: F401
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            os.close(devnull)
    if threads:
        import tensorflow as tf

        with contextlib.suppress(RuntimeError):  # the runtime already started (this process ran TF before)
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(threads)
