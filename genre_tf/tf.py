"""TensorFlow, imported once for the whole package.

TF's C++ runtime writes start-up lines (CUDA probes, CPU flags) straight to file descriptor 2
before any logging flag applies, burying our own messages; they are silenced for the import and
the first device probe only. Python exceptions still propagate.
"""
import contextlib
import os


@contextlib.contextmanager
def native_stderr_silenced():
    """File descriptor 2 to /dev/null for the block: what C++ code writes there is dropped."""
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def _import_quietly():
    # Later C++ warnings too (a user's own setting wins); set here, not on `import genre_tf`, so that
    # only importing TensorFlow through genre-tf changes it.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with native_stderr_silenced():
        import tensorflow

        tensorflow.config.list_physical_devices()
        tensorflow.get_logger().setLevel("ERROR")  # retracing notices and the like
        return tensorflow


tf = _import_quietly()
