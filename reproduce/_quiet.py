"""Keep TensorFlow's start-up logs, written to file descriptor 2 by C++, out of the terminal
(``REPRODUCE_VERBOSE_TF=1`` shows them)."""

import contextlib
import os
import sys
import warnings


def quiet_tensorflow() -> None:
    """Import TensorFlow (and TFP) with its start-up logs suppressed. Idempotent."""
    if os.environ.get("REPRODUCE_VERBOSE_TF") == "1":
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    warnings.filterwarnings("ignore", module="tensorflow_probability")
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    if "tensorflow" in sys.modules:
        return
    with _silenced_stderr():
        import tensorflow as tf  # noqa: F401

        with contextlib.suppress(Exception):  # reported when it is actually used
            import tensorflow_probability  # noqa: F401
        tf.get_logger().setLevel("ERROR")
    with contextlib.suppress(ImportError):
        import absl.logging

        absl.logging.set_verbosity(absl.logging.ERROR)


@contextlib.contextmanager
def _silenced_stderr():
    try:
        fd = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):  # pytest capture, notebooks
        yield
        return
    sys.stderr.flush()
    saved = os.dup(fd)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), fd)
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, fd)
        os.close(saved)
