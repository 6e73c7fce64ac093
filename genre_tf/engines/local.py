"""The local engine: decoding threads working ahead of one model in this process.

libsndfile and soxr release the GIL, so `workers` threads decode files while the model computes.
Windows are batched across files (many short clips fill one batch; a long song spans several), and
each file is decoded once. Files come back in the order given.
"""
from __future__ import annotations

import contextlib
import dataclasses
import math
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from itertools import islice

import numpy as np

from ..config import DECODE_WORKERS, MAX_FILES_AHEAD
from ..core.errors import file_failure, require
from .base import ComputeFactory, Decode, Finished, audio_digest


@dataclasses.dataclass
class _Decoded:
    item: int
    starts: np.ndarray
    windows: np.ndarray
    notes: list[str]
    error: str | None
    digest: str | None = None
    waited: float = 0.0  # seconds the model waited for this file's decoding
    parts: list[dict] = dataclasses.field(default_factory=list)  # its windows' results, batch by batch
    computed: int = 0  # windows in parts
    compute_seconds: float = 0.0

    def finished(self) -> Finished:
        arrays = {name: np.concatenate([part[name] for part in self.parts]) for name in self.parts[0]} \
            if self.parts else {}
        return Finished(self.item, self.starts, arrays, self.notes, self.error, self.compute_seconds, self.waited,
                        self.digest)


def _decode(item: int, path: str, decode: Decode) -> _Decoded:
    try:
        starts, windows, notes = decode(path)
        return _Decoded(item, starts, windows, notes, None, audio_digest(windows))
    except Exception as e:  # one bad file never stops a run over a thousand
        return _Decoded(item, np.zeros(0), np.zeros((0, 0), np.float32), [], file_failure(path, e))


class LocalEngine:
    name = "local"

    def __init__(self, workers: int = DECODE_WORKERS):
        require(workers >= 1, f"`workers` must be at least 1, not {workers}")
        self.workers = workers

    @contextlib.contextmanager
    def map_windows(self, paths: list[str], decode: Decode, compute: ComputeFactory, batch_size: int, samples: int,
                    info: Callable[[str], None] = lambda message: None) -> Iterator[Iterator[Finished]]:
        if not paths:
            yield iter(())  # nothing to do: no model to load
            return
        model = compute()
        with ThreadPoolExecutor(self.workers) as pool:
            yield self._finished(self._decoded(pool, paths, decode, batch_size), model, batch_size)

    def _decoded(self, pool: ThreadPoolExecutor, paths: list[str], decode: Decode,
                 batch_size: int) -> Iterator[_Decoded]:
        """Decoded files in order, about two batches' worth ahead of the model (at least two per
        thread, at most MAX_FILES_AHEAD): the next batch is decoded while the current one is computed,
        and memory stays bounded whatever the number of files."""
        jobs = iter(enumerate(paths))
        queue = deque(pool.submit(_decode, i, p, decode) for i, p in islice(jobs, 2 * self.workers))
        files, windows = 0, 0
        while queue:
            started = time.perf_counter()
            decoded = queue.popleft().result()
            decoded.waited = time.perf_counter() - started
            files, windows = files + 1, windows + len(decoded.windows)
            ahead = min(MAX_FILES_AHEAD, max(2 * self.workers, math.ceil(2 * batch_size / max(1.0, windows / files))))
            queue.extend(pool.submit(_decode, i, p, decode) for i, p in islice(jobs, max(0, ahead - len(queue))))
            yield decoded

    @staticmethod
    def _finished(decoded: Iterator[_Decoded], model, batch_size: int) -> Iterator[Finished]:
        """Batches of `batch_size` windows across files, in order; each file finished (and given back
        in order) once its last window is computed."""
        waiting: deque[_Decoded] = deque()  # files not given back yet, in order
        batch: list[tuple[_Decoded, int, int]] = []  # the next batch: (file, first window, end)
        filled = 0  # windows in it

        def compute() -> None:
            windows = np.concatenate([file.windows[a:b] for file, a, b in batch])
            started = time.perf_counter()
            values = model(windows)
            share, offset = (time.perf_counter() - started) / len(windows), 0
            for file, a, b in batch:
                file.parts.append({name: array[offset:offset + b - a] for name, array in values.items()})
                file.computed += b - a
                file.compute_seconds += share * (b - a)
                offset += b - a
            batch.clear()

        def ready() -> Iterator[Finished]:
            while waiting and (waiting[0].error or waiting[0].computed == len(waiting[0].windows)):
                yield waiting.popleft().finished()

        for file in decoded:
            waiting.append(file)
            start = 0 if not file.error else len(file.windows)
            while start < len(file.windows):
                end = min(len(file.windows), start + batch_size - filled)
                batch.append((file, start, end))
                start, filled = end, filled + end - start
                if filled == batch_size:
                    compute()
                    filled = 0
                    yield from ready()
            yield from ready()
        if batch:
            compute()
        yield from ready()
