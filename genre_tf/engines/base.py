"""The engine interface: audio files in, each file's windows through a model, results out.

An engine maps a list of audio files through `decode` (a file -> its windows) and a model's compute
(a batch of windows -> arrays), and yields each file's results as it finishes. The caller writes
them through the module that owns the file format (the feature store's shards, a prediction table),
so every engine makes the same files, resumes the same way and reports a bad file the same way: the
file fails where it is decoded, and the others go on.
"""
from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Protocol

import numpy as np

# decode(path) -> (window starts in seconds, (windows, samples) float32, notes); raises for a bad file.
Decode = Callable[[str], tuple[np.ndarray, np.ndarray, list[str]]]
# Called once where the model runs, to get its compute: (windows, samples) -> {name: (windows, ...) array}.
# It must pickle (a Ray actor calls it), so it loads its model itself rather than holding one.
ComputeFactory = Callable[[], Callable[[np.ndarray], dict[str, np.ndarray]]]


@dataclasses.dataclass
class Finished:
    """One file back from an engine: its windows' results in order, or why it failed."""

    item: int  # its index in the list of paths
    starts: np.ndarray
    arrays: dict[str, np.ndarray]
    notes: list[str]
    error: str | None
    compute_seconds: float  # time the model spent on its windows
    decode_seconds: float  # local: time the model waited for its decoding; Ray: decoding-task time
    digest: str | None = None  # audio_digest of its windows, where they are one array (extraction's are)


def audio_digest(windows: np.ndarray) -> str | None:
    """A digest of decoded audio, to tell a file whose bytes changed but whose audio did not (a retagged
    song). Only where the windows are one contiguous array: a song's overlapping windows, a view of it
    for labelling, would be copied whole to be hashed, and labelling needs no digest."""
    return hashlib.sha1(windows.data).hexdigest() if windows.flags.c_contiguous and windows.size else None


class Engine(Protocol):
    name: str

    def map_windows(self, paths: list[str], decode: Decode, compute: ComputeFactory, batch_size: int, samples: int,
                    info: Callable[[str], None] = lambda message: None) -> AbstractContextManager[Iterator[Finished]]:
        """`with engine.map_windows(...) as finished:` every path through decode and compute (batches
        of `batch_size` windows, across files), each file once all its windows are done. The model is
        loaded on entering, so that one that cannot load fails before any work; everything is stopped on
        leaving, however the block ends. `samples`: the window length."""
        ...
