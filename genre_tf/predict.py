"""`genre-tf predict`: label songs of any length with a trained run.

A song is streamed (decoded, resampled and windowed block by block), its windows are featurized
with exactly the parameters the run was trained on, and the model's probabilities are averaged
over windows. Memory stays bounded whatever the length of the file.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from .audio import AudioReader, check_level, iter_windows
from .errors import AudioError, require
from .features import FEATURES, make_extractor
from .params import EmbeddingParams, SegmentParams
from .runs import load_run

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

    @property
    def labels(self) -> list[str]:
        return self.run.labels

    def _classify(self, windows: list[np.ndarray]) -> np.ndarray:
        features = {n: values.astype(np.float32) for n, values in self.extractor(np.stack(windows)).items()}
        return np.mean([np.asarray(model.predict_on_batch(features)) for model in self.models], axis=0)

    def check_hop(self, hop_seconds: float | None) -> None:
        window = self.segment.segment_seconds
        require(hop_seconds is None or 1 / self.segment.sample_rate <= hop_seconds <= window,
                f"--hop must be between one sample and the window length ({window:g} s), not {hop_seconds}")

    def predict(self, source, hop_seconds: float | None = None) -> Prediction:
        """Probabilities per window (one every `hop_seconds`; default: the window length) and their mean."""
        self.check_hop(hop_seconds)
        reader = AudioReader(source)
        rate = self.segment.sample_rate
        gain = check_level(reader.name, reader.peak(rate), reader.notes)  # a first, cheap pass: the peak
        hop = None if hop_seconds is None else int(round(hop_seconds * rate))
        starts, probabilities, pending = [], [], []
        for start, window in iter_windows((block * gain for block in reader.blocks(rate)), self.segment, hop):
            starts.append(start / rate)
            pending.append(window)
            if len(pending) == WINDOW_BATCH:
                probabilities.append(self._classify(pending))
                pending = []
        if pending:
            probabilities.append(self._classify(pending))
        if not probabilities:
            raise AudioError(reader.name, "contains no audio samples")
        window_probabilities = np.concatenate(probabilities)
        return Prediction(reader.name, self.labels, window_probabilities.mean(0), np.array(starts),
                          window_probabilities, reader.notes)
