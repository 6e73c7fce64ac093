"""Native libraries (TensorFlow's and Ray's C++ runtimes) write lines straight to file descriptor 2,
past Python's logging; where they would bury our own messages, they are dropped."""
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
