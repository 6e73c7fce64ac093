"""Native libraries (TensorFlow's and Ray's C++ runtimes, libsndfile's MP3 decoder) write lines straight
to file descriptor 2, past Python's logging; where they would bury our own messages, they are dropped."""
import atexit
import contextlib
import os
import re
import sys
import threading

# libmpg123, libsndfile's MP3 decoder, writes from the decoding threads whatever it finds odd in a stream:
# "[src/libmpg123/layer3.c:INT123_do_layer3():1804] error: dequantization failed!", and notes such as
# "Note: Illegal Audio-MPEG-Header 0x2db23453 at offset 5048." or "Warning: Xing stream size off by more
# than 1%, ...". What it means for the file (it fails to decode, or decodes short) is that file's own line.
# Our own "note:" and "warning:" lines are Python's, never in the filter.
MP3_DECODER_LINE = re.compile(rb"\[[^\]]*libmpg123/|Note: |Warning: ")


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


def filter_native_stderr() -> None:
    """For the rest of the process, file descriptor 2 is a pipe, read by a thread that drops the MP3
    decoder's lines (any number of decoding threads write there at once) and passes every other line on
    to the real stderr. Python's sys.stderr writes to the real stderr itself, so that our messages and a
    traceback never wait in the pipe. For a command line's process (the CLI's entry), not a library call."""
    real = os.dup(2)
    read, write = os.pipe()
    sys.stderr.flush()
    os.dup2(write, 2)
    os.close(write)
    sys.stderr = open(real, "w", buffering=1, encoding=sys.stderr.encoding, errors=sys.stderr.errors, closefd=False)
    forwarding = threading.Thread(target=_forward_lines, args=(read, real), name="native-stderr", daemon=True)
    forwarding.start()

    def restore():  # at exit: the pipe's writing end closed, its last lines passed on
        os.dup2(real, 2)
        forwarding.join(timeout=1)  # a child process may hold the pipe open: not waited for longer

    atexit.register(restore)


def _forward_lines(read: int, real: int) -> None:
    pending = b""
    while chunk := os.read(read, 1 << 16):
        *lines, pending = (pending + chunk).split(b"\n")
        _write(real, b"".join(line + b"\n" for line in lines if not MP3_DECODER_LINE.match(line)))
    if not MP3_DECODER_LINE.match(pending):
        _write(real, pending)


def _write(fd: int, data: bytes) -> None:
    try:
        while data:
            data = data[os.write(fd, data):]
    except OSError:
        pass  # stderr is gone (a closed pipe): the lines are dropped, and the pipe still drained, so no writer blocks
