"""TensorFlow, imported once for the whole package.

TF's C++ runtime writes start-up lines (CUDA probes, CPU flags) straight to file descriptor 2
before any logging flag applies, burying our own messages; they are silenced for the import and
the first device probe only. Python exceptions still propagate.
"""
import contextlib
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


@contextlib.contextmanager
def deterministic_ops():
    """Deterministic TF ops for the block (the same seed and data give the same run); the caller's
    setting afterwards. TF's public API can turn this on but not read it or turn it off."""
    from tensorflow.python.framework import config as tf_config  # private: see the docstring

    deterministic = tf_config.is_op_determinism_enabled()
    tf_config.enable_op_determinism()
    try:
        yield
    finally:
        if not deterministic:
            tf_config.disable_op_determinism()


def freeze_variables(function):
    """A concrete function with its variables folded into constants, as LiteRT's converter needs them.
    TF has no public API for it (tf.lite uses this same private one)."""
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    return convert_variables_to_constants_v2(function)


def allow_gpu_memory_growth() -> list[str]:
    """Each GPU's memory taken as needed, not all at once (several processes may share one); their names."""
    gpus = tf.config.list_physical_devices("GPU")
    for gpu in gpus:
        try:
            tf.config.experimental.set_memory_growth(gpu, True)
        except RuntimeError:  # already initialised (a second run in one process)
            pass
    return [g.name for g in gpus]
