"""TensorFlow, imported once for the whole package.

TF's C++ runtime writes start-up lines (CUDA probes, CPU flags) straight to file descriptor 2
before any logging flag applies, burying our own messages; they are silenced for the import and
the first device probe only. Python exceptions still propagate.
"""
import os

from .native import native_stderr_silenced


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


def allow_gpu_memory_growth() -> list[str]:
    """Each GPU's memory taken as needed, not all at once (several processes may share one); their names."""
    gpus = tf.config.list_physical_devices("GPU")
    for gpu in gpus:
        try:
            tf.config.experimental.set_memory_growth(gpu, True)
        except RuntimeError:  # already initialised (a second run in one process)
            pass
    return [g.name for g in gpus]
