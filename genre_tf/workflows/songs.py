"""Songs -> windows -> a run's probabilities, whatever runs the model (TensorFlow's `Predictor`, or
LiteRT's `LitePredictor` without TensorFlow): the window rules, one song streamed (`label_song`), and an
engine's compute (`Classifier`). Nothing here imports TensorFlow.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator

import numpy as np

from ..config import RUNTIMES, WINDOW_BATCH, EmbeddingParams, SegmentParams
from ..config.audio import MAX_WINDOWS_PER_SECOND
from ..core.errors import AudioError, AudioErrorKind, require
from ..io.audio import (
    SILENCE_PEAK,
    AudioReader,
    AudioSource,
    check_level,
    iter_windows,
    peak_of,
    spread_windows,
    window_starts,
    window_view,
)
from ..io.prediction_table import Prediction

# The same song's probabilities from batches of other shapes (the exported model: all windows at once;
# a Ray actor: windows of several songs): equal within this, not bit for bit (float sums may round apart).
# LiteRT's against TensorFlow's: litert.LITERT_TOLERANCE.
PROBABILITY_TOLERANCE = 1e-4


def label_song(classify: Callable[[np.ndarray], np.ndarray], segment: SegmentParams, genres: list[str], source,
               hop_seconds: float | None = None, progress: Callable[[float], None] | None = None,
               limit_seconds: float | None = None) -> Prediction:
    """Every window of one song (one every `hop_seconds`) through `classify`, streamed: memory stays bounded
    whatever the song's length. `Predictor.predict` documents the arguments."""
    check_hop(segment, hop_seconds)
    reader = AudioReader(source, limit_seconds)
    duration = max(reader.frames / reader.source_rate, 1e-9)
    starts, probabilities, pending = [], [], []
    for start, window in song_windows(reader, segment, hop_seconds):
        starts.append(start)
        pending.append(window)
        if len(pending) == WINDOW_BATCH:
            probabilities.append(classify(np.stack(pending)))
            pending = []
            if progress:
                progress(min(starts[-1] / duration, 1.0))
    if pending:
        probabilities.append(classify(np.stack(pending)))
    if not probabilities:
        raise AudioError(reader.name, "contains no audio samples", AudioErrorKind.NO_SAMPLES)
    return Prediction.of_windows(reader.name, genres, np.array(starts), np.concatenate(probabilities),
                                 reader.notes)


def check_hop(segment: SegmentParams, hop_seconds: float | None) -> None:
    window, shortest = segment.segment_seconds, 1 / MAX_WINDOWS_PER_SECOND
    require(hop_seconds is None or shortest <= hop_seconds <= window,
            f"`hop_seconds` must be between {shortest:g} s (the cap of {MAX_WINDOWS_PER_SECOND} windows per second "
            f"of audio) and the window length ({window:g} s), not {hop_seconds}")


def check_max_windows(max_windows: int) -> None:
    require(isinstance(max_windows, int) and max_windows >= 0,
            f"`max_windows` must be 0 (every window) or more, not {max_windows}")


def song_windows(reader: AudioReader, segment: SegmentParams,
                 hop_seconds: float | None = None) -> Iterator[tuple[float, np.ndarray]]:
    """(start in seconds, window) over a song: the segment rule for the tail, and a song peaking above
    full scale scaled down as a whole. Streamed, after a cheap first pass for the peak, so that memory
    stays bounded whatever the song's length (`label_song`: `predict` in Python, the server)."""
    rate = segment.sample_rate
    gain = check_level(reader.name, reader.peak(rate), reader.notes)
    hop = None if hop_seconds is None else int(round(hop_seconds * rate))
    for start, window in iter_windows((block * gain for block in reader.blocks(rate)), segment, hop):
        yield start / rate, window


def all_song_windows(source: AudioSource, segment: SegmentParams, hop_seconds: float | None = None,
                     max_windows: int = 0) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """A song's window starts (seconds), windows and notes at once: what an engine decodes. Every window
    (`max_windows` 0): the song decoded once and held at the segment rate, its windows a view of it. At most
    `max_windows`, spread over the song (`spread_windows`): each decoded alone by seeking to it where the
    format allows (`AudioReader.windows_at`), else from a whole decode."""
    reader = AudioReader(source)
    rate = segment.sample_rate
    hop = None if hop_seconds is None else int(round(hop_seconds * rate))
    if max_windows:
        length = int(reader.frames * rate // reader.source_rate)  # the header's: a seek stays inside it
        starts = window_starts(length, segment, hop)
        chosen = starts[spread_windows(starts, length, segment, max_windows)]
        windows = reader.windows_at(chosen, segment) if len(chosen) < len(starts) else None
        if windows is not None and peak_of(windows) >= SILENCE_PEAK:
            gain = check_level(reader.name, peak_of(windows), reader.notes)
            return chosen / rate, windows * np.float32(gain) if gain != 1 else windows, reader.notes
    blocks = list(reader.blocks(rate))
    samples = np.concatenate(blocks) if blocks else np.zeros(0, np.float32)
    if not len(samples):
        raise AudioError(reader.name, "contains no audio samples", AudioErrorKind.NO_SAMPLES)
    gain = check_level(reader.name, peak_of(blocks), reader.notes)
    starts, windows = window_view(samples * np.float32(gain) if gain != 1 else samples, segment, hop)
    chosen = spread_windows(starts, len(samples), segment, max_windows)
    return starts[chosen] / rate, windows[chosen], reader.notes


@dataclasses.dataclass(frozen=True)
class Classifier:
    """An engine's compute for a run: loads the run where it is called (in this process, or in a Ray
    actor: it pickles as the run's path), then windows -> {"probabilities": (windows, genres)}. `runtime`:
    LiteRT or TensorFlow, as `litert.choose_runtime` chose."""

    run_dir: str
    yamnet: EmbeddingParams | None = None
    runtime: str = RUNTIMES[-1]

    def __call__(self) -> Callable[[np.ndarray], dict[str, np.ndarray]]:
        from .litert import song_model  # here: litert.py labels its songs with this module's functions

        model = song_model(self.run_dir, self.yamnet, self.runtime)
        return lambda windows: {"probabilities": model.classify(windows)}
