"""How genre-tf writes files so that a killed process never leaves a half-written one: atomic
replacement, new folders named by the time, and OS locks that die with their process; and how it
looks at a path or a CSV before reading it (`file_problem`, `csv_records`)."""
from __future__ import annotations

import contextlib
import csv
import datetime
import fcntl
import hashlib
import io
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np

TEMP_SUFFIX = ".tmp"


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A temporary path beside `path` (same folder: the rename is atomic) to write to; renamed over
    `path` when the block ends without error, removed otherwise. Readers see the old file or the new."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TEMP_SUFFIX)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; a result file gets the usual permissions
    try:
        yield Path(tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def fsync_folder(folder: str | Path) -> None:
    """Make a rename in `folder` durable: a crash after it cannot bring the old name back."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def file_digest(path: str | Path) -> str:
    """The SHA-256 of a file's bytes, in hex."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def write_atomic(path: str | Path, data: bytes | str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data) if isinstance(data, bytes) else tmp.write_text(data)


def save_npz_atomic(path: str | Path, **arrays) -> None:
    buffer = io.BytesIO()  # small files (one clip's features): built in memory, written at once
    np.savez(buffer, **arrays)
    write_atomic(path, buffer.getvalue())


def remove_stale_temporaries(folder: Path) -> int:
    """Remove what killed atomic writes left in `folder` (call it while holding the folder's lock)."""
    stale = list(folder.glob(f".*{TEMP_SUFFIX}")) if folder.is_dir() else []
    for path in stale:
        path.unlink(missing_ok=True)
    return len(stale)


def file_problem(path: str | Path, folder: bool = False) -> str | None:
    """Why `path` cannot be read as a file (or, with `folder`, listed as a folder), in words ("does not
    exist", "is a folder"); None where it can. Never raises: a NUL in the path or a name too long is a
    reason too."""
    try:
        mode = os.stat(path).st_mode
    except ValueError:
        return "the path holds a NUL character"
    except FileNotFoundError:
        return "does not exist"
    except OSError as e:
        return f"cannot be read ({e.strerror or type(e).__name__})"
    if folder:
        return None if stat.S_ISDIR(mode) else "is not a folder"
    if stat.S_ISDIR(mode):
        return "is a folder"
    return None if stat.S_ISREG(mode) else "is not a regular file"


def csv_records(text: Iterator[str]) -> Iterator[tuple[int, list[str]]]:
    """Each non-blank record of a CSV text (an open file) with the line it starts on: a quoted field may
    hold line breaks, so records and lines are not the same count. Raises csv.Error."""
    reader, end = csv.reader(text), 0
    for fields in reader:
        if any(field.strip() for field in fields):
            yield end + 1, fields
        end = reader.line_num


def fingerprint(path: str | Path) -> dict:
    """What says a file changed since it was last read: its size and modification time (stat, no reading)."""
    st = Path(path).stat()
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns}


def timestamp() -> str:
    return datetime.datetime.now().strftime("%Y%m%d-%H%M%S")


def new_timestamped_folder(parent: str | Path) -> Path:
    """parent/<YYYYmmdd-HHMMSS>, made now; a second one in the same second gets a suffix."""
    parent = Path(parent)
    parent.mkdir(parents=True, exist_ok=True)
    stamp, n = timestamp(), 1
    while True:
        folder = parent / (stamp if n == 1 else f"{stamp}-{n}")
        try:
            folder.mkdir()
            return folder
        except FileExistsError:
            n += 1


class Lock:
    """An exclusive OS lock (flock) on a file. The OS releases it when its process dies, however it
    dies, so a stale lock never blocks anyone."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.fd: int | None = None

    def acquire(self) -> bool:
        """True if this process now holds the lock; False if another one does."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self.fd = fd
        return True

    def holder(self) -> str:
        """The pid written by the process holding the lock, for messages."""
        try:
            return self.path.read_text().strip() or "?"
        except OSError:
            return "?"

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)  # closing releases the flock
            self.fd = None

    def is_free(self) -> bool:
        """True if nobody holds the lock now (taken and given back at once)."""
        if self.acquire():
            self.release()
            return True
        return False


class FolderLock(Lock):
    """An exclusive OS lock (flock) on a folder itself: nothing is written into the folder (a person's music
    library). Released by the OS when its process dies."""

    def acquire(self) -> bool:
        fd = os.open(self.path, os.O_RDONLY | os.O_DIRECTORY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self.fd = fd
        return True
