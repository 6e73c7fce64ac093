"""`genre-tf predict`: label songs of any length with a trained run.

A song is streamed (decoded, resampled and windowed block by block), its windows are featurized
with exactly the parameters the run was trained on, and the model's probabilities are averaged
over windows. Memory stays bounded whatever the length of the file.

Features and models of a batch of windows run in one graph (`Predictor.probabilities`); the
exported model (export.py) is the same function behind a waveform-in signature.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from .audio import AudioReader, AudioSource, check_level, iter_windows, peak_of
from .errors import AudioError, require
from .features import FEATURES, make_extractor
from .params import EmbeddingParams, SegmentParams
from .runs import load_run
from .tf import tf

WINDOW_BATCH = 32  # windows featurized and classified at a time
# The same song's probabilities from batches of other shapes (the exported model: all windows at once;
# a Ray actor: windows of several songs): equal within this, not bit for bit (float sums may round apart).
PROBABILITY_TOLERANCE = 1e-4


@dataclasses.dataclass
class Prediction:
    source: str
    labels: list[str]
    probabilities: np.ndarray  # (genres,): mean over windows
    window_starts: np.ndarray  # (windows,) seconds
    window_probabilities: np.ndarray  # (windows, genres)
    notes: list[str]

    @classmethod
    def of_windows(cls, source: str, labels: list[str], starts: np.ndarray, window_probabilities: np.ndarray,
                   notes: list[str]) -> "Prediction":
        """A song's prediction: the mean of its windows' probabilities."""
        return cls(source, labels, window_probabilities.mean(0), starts, window_probabilities, notes)

    def top(self, k: int = 3) -> list[tuple[str, float]]:
        order = np.argsort(self.probabilities)[::-1][:k]
        return [(self.labels[i], float(self.probabilities[i])) for i in order]

    def to_dict(self) -> dict:
        return {"file": self.source, "genres": dict(zip(self.labels, map(float, self.probabilities))),
                "top": [{"genre": g, "probability": p} for g, p in self.top(len(self.labels))], "notes": self.notes,
                "windows": [{"start_seconds": float(s), "probabilities": dict(zip(self.labels, map(float, p)))}
                            for s, p in zip(self.window_starts, self.window_probabilities)]}


class Predictor:
    """A trained run, ready to label audio."""

    def __init__(self, run_dir: str | Path, yamnet: EmbeddingParams | None = None):
        """`yamnet` replaces the YAMNet source the run was trained with (moved or unreachable)."""
        from . import models  # noqa: F401  (TensorFlow first, quietly; registers genre-tf's own layers)

        import keras

        self.run = load_run(run_dir)
        store = self.run.config["store"]
        self.segment = SegmentParams(**store["segment_params"])
        params = {name: FEATURES[name].params_class(**store["features"][name]["params"]) for name in self.run.inputs}
        if "embedding" in params and yamnet:
            params["embedding"] = yamnet
        self.extractor = make_extractor(params)
        # A cross-validation run predicts with all its fold models: the mean of their probabilities.
        self.models = [keras.models.load_model(path) for path in self.run.model_files]
        self._probabilities_graph = tf.function(
            self.probabilities, input_signature=[tf.TensorSpec((None, self.segment.segment_samples), tf.float32)])

    @property
    def labels(self) -> list[str]:
        return self.run.labels

    def probabilities(self, windows: tf.Tensor) -> tf.Tensor:
        """TF ops: (windows, segment samples) -> (windows, genres), the mean over the run's models."""
        inputs = self.extractor.model_inputs(windows)
        return tf.reduce_mean(tf.stack([model(inputs, training=False) for model in self.models]), axis=0)

    def classify(self, windows: np.ndarray) -> np.ndarray:
        """(windows, segment samples) -> (windows, genres)."""
        return self._probabilities_graph(tf.convert_to_tensor(windows, tf.float32)).numpy()

    def check_hop(self, hop_seconds: float | None) -> None:
        check_hop(self.segment, hop_seconds)

    def predict(self, source, hop_seconds: float | None = None,
                progress: Callable[[float], None] | None = None) -> Prediction:
        """Probabilities per window (one every `hop_seconds`; default: the window length) and their mean.
        `progress` is called with the fraction of the song done after each batch of windows."""
        self.check_hop(hop_seconds)
        reader = AudioReader(source)
        duration = max(reader.frames / reader.source_rate, 1e-9)
        starts, probabilities, pending = [], [], []
        for start, window in song_windows(reader, self.segment, hop_seconds):
            starts.append(start)
            pending.append(window)
            if len(pending) == WINDOW_BATCH:
                probabilities.append(self.classify(np.stack(pending)))
                pending = []
                if progress:
                    progress(min(starts[-1] / duration, 1.0))
        if pending:
            probabilities.append(self.classify(np.stack(pending)))
        if not probabilities:
            raise AudioError(reader.name, "contains no audio samples")
        return Prediction.of_windows(reader.name, self.labels, np.array(starts), np.concatenate(probabilities),
                                     reader.notes)


def check_hop(segment: SegmentParams, hop_seconds: float | None) -> None:
    window = segment.segment_seconds
    require(hop_seconds is None or 1 / segment.sample_rate <= hop_seconds <= window,
            f"--hop must be between one sample and the window length ({window:g} s), not {hop_seconds}")


def song_windows(reader: AudioReader, segment: SegmentParams, hop_seconds: float | None = None,
                 decoded: list[np.ndarray] | None = None) -> Iterator[tuple[float, np.ndarray]]:
    """(start in seconds, window) over a song: the segment rule for the tail, and a song peaking above
    full scale scaled down as a whole. Streamed, after a cheap first pass for the peak; or, where the
    caller holds the song `decoded` already (blocks at the segment rate), from it, in one pass."""
    rate = segment.sample_rate
    gain = check_level(reader.name, reader.peak(rate) if decoded is None else peak_of(decoded), reader.notes)
    hop = None if hop_seconds is None else int(round(hop_seconds * rate))
    blocks = reader.blocks(rate) if decoded is None else decoded
    for start, window in iter_windows((block * gain for block in blocks), segment, hop):
        yield start / rate, window


def all_song_windows(source: AudioSource, segment: SegmentParams,
                     hop_seconds: float | None = None) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """A whole song's window starts, windows and notes at once (a Ray decoding task's output). Its
    windows are held whole anyway, so the song is decoded once, not streamed twice."""
    reader = AudioReader(source)
    pairs = list(song_windows(reader, segment, hop_seconds, list(reader.blocks(segment.sample_rate))))
    if not pairs:
        raise AudioError(reader.name, "contains no audio samples")
    return np.array([start for start, _ in pairs]), np.stack([window for _, window in pairs]), reader.notes
