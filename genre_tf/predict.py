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
from typing import Callable

import numpy as np

from .audio import AudioReader, check_level, iter_windows
from .errors import AudioError, require
from .features import FEATURES, make_extractor
from .params import EmbeddingParams, SegmentParams
from .runs import load_run
from .tf import tf

WINDOW_BATCH = 32  # windows featurized and classified at a time


@dataclasses.dataclass
class Prediction:
    source: str
    labels: list[str]
    probabilities: np.ndarray  # (genres,): mean over windows
    window_starts: np.ndarray  # (windows,) seconds
    window_probabilities: np.ndarray  # (windows, genres)
    notes: list[str]

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

    def _classify(self, windows: list[np.ndarray]) -> np.ndarray:
        return self._probabilities_graph(tf.convert_to_tensor(np.stack(windows))).numpy()

    def check_hop(self, hop_seconds: float | None) -> None:
        window = self.segment.segment_seconds
        require(hop_seconds is None or 1 / self.segment.sample_rate <= hop_seconds <= window,
                f"--hop must be between one sample and the window length ({window:g} s), not {hop_seconds}")

    def predict(self, source, hop_seconds: float | None = None,
                progress: Callable[[float], None] | None = None) -> Prediction:
        """Probabilities per window (one every `hop_seconds`; default: the window length) and their mean.
        `progress` is called with the fraction of the song done after each batch of windows."""
        self.check_hop(hop_seconds)
        reader = AudioReader(source)
        rate = self.segment.sample_rate
        duration = max(reader.frames / reader.source_rate, 1e-9)
        gain = check_level(reader.name, reader.peak(rate), reader.notes)  # a first, cheap pass: the peak
        hop = None if hop_seconds is None else int(round(hop_seconds * rate))
        starts, probabilities, pending = [], [], []
        for start, window in iter_windows((block * gain for block in reader.blocks(rate)), self.segment, hop):
            starts.append(start / rate)
            pending.append(window)
            if len(pending) == WINDOW_BATCH:
                probabilities.append(self._classify(pending))
                pending = []
                if progress:
                    progress(min(starts[-1] / duration, 1.0))
        if pending:
            probabilities.append(self._classify(pending))
        if not probabilities:
            raise AudioError(reader.name, "contains no audio samples")
        window_probabilities = np.concatenate(probabilities)
        return Prediction(reader.name, self.labels, window_probabilities.mean(0), np.array(starts),
                          window_probabilities, reader.notes)
