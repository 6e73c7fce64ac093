"""Every feature of a batch of segments in one call.

All features are TF ops on a batch of waveforms and run together in one graph call (one
`tf.function`): TF schedules their ops on every core at once, and a spectrogram that several
features need (YAMNet's log-mel: the `logmel` feature and the embedding network's input) is
computed once. The same ops serve `predict` and the exported model (`FeatureExtractor.model_inputs`).
"""
from __future__ import annotations

from typing import Protocol

import numpy as np

from ..config import LogMelParams
from ..core.tf import tf
from .logmel import log_mel


class Spectra:
    """The waveforms of one batch and their log-mel spectrograms, each computed at most once per graph."""

    def __init__(self, waveforms: tf.Tensor):
        self.waveforms = waveforms
        self._log_mel: dict[LogMelParams, tf.Tensor] = {}

    def log_mel(self, p: LogMelParams) -> tf.Tensor:
        if p not in self._log_mel:
            self._log_mel[p] = log_mel(self.waveforms, p)
        return self._log_mel[p]


class TensorFeature(Protocol):
    """A feature written as TF ops on a batch of waveforms: a tf.Module, so that the networks it holds
    are saved with a model that computes it."""

    def compute(self, spectra: Spectra) -> tf.Tensor: ...


def round_to_float16(x: tf.Tensor) -> tf.Tensor:
    """float32 -> float32 holding the nearest float16 value, as a float16 store holds it. Veltkamp's
    split: x * (2**13 + 1) and back keeps the top 24 - 13 = 11 significant bits, float16's precision,
    rounded to nearest. Plain float32 arithmetic, unlike a float16 cast: oneDNN logs an error line for
    float16 ops on CPUs without AVX-512, and it converts to LiteRT's builtin ops. Equal to the cast in
    float16's normal range (6.1e-5 to 65504); below it, this keeps up to 2**-25 more."""
    scaled = x * (2.0 ** 13 + 1.0)
    return scaled + (x - scaled)


class FeatureExtractor:
    """(batch, samples) float32 segments -> {feature name: (batch, ...) array}, each in its own dtype
    (the feature store's: what a model is trained on is what it is later given)."""

    def __init__(self, features: dict[str, TensorFeature], dtypes: dict[str, str]):
        self.features, self.dtypes = features, dtypes
        self._graphs: dict[int, object] = {}

    def compute(self, waveforms: tf.Tensor) -> dict[str, tf.Tensor]:
        """TF ops: (batch, samples) -> {name: float32 features}."""
        spectra = Spectra(waveforms)
        return {name: feature.compute(spectra) for name, feature in self.features.items()}

    def model_inputs(self, waveforms: tf.Tensor) -> dict[str, tf.Tensor]:
        """TF ops: the features as a model trained on the store is given them: float32, rounded as stored."""
        return {name: round_to_float16(x) if self.dtypes[name] == "float16" else x
                for name, x in self.compute(waveforms).items()}

    def _graph(self, samples: int):
        """One trace per segment length, with a free batch axis: batches of any size reuse it."""
        if samples not in self._graphs:
            spec = tf.TensorSpec((None, samples), tf.float32)
            self._graphs[samples] = tf.function(self.compute, input_signature=[spec])
        return self._graphs[samples]

    def warm_up(self, samples: int) -> None:
        """Trace and optimize the graph for segments of this length now (about a second with YAMNet),
        so that the first batch does not wait for it."""
        self(np.zeros((1, samples), np.float32))

    def __call__(self, segments: np.ndarray) -> dict[str, np.ndarray]:
        out = self._graph(int(segments.shape[1]))(tf.convert_to_tensor(segments, tf.float32))
        # Cast on the host: a float16 op in the graph makes oneDNN log an error line on CPUs without AVX-512.
        return {name: np.asarray(out[name]).astype(self.dtypes[name], copy=False) for name in self.features}
