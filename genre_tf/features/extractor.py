"""Every feature of a batch of segments in one call.

The features written in TF run together in one graph call (one `tf.function`): TF schedules their
ops on every core at once, and a spectrogram that several features need (YAMNet's log-mel: the
`logmel` feature and the embedding network's input) is computed once. A feature that cannot join
the graph (the TF-Hub model takes one waveform per call) runs after it, on its own.
"""
from __future__ import annotations

from typing import Callable, Protocol, runtime_checkable

import numpy as np

from ..params import LogMelParams
from ..tf import tf
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


@runtime_checkable
class TensorFeature(Protocol):
    """A feature written as TF ops on a batch of waveforms, so that it can share a graph with others."""

    def compute(self, spectra: Spectra) -> tf.Tensor: ...


class FeatureExtractor:
    """(batch, samples) float32 segments -> {feature name: (batch, ...) array}, each in its own dtype
    (the feature store's: what a model is trained on is what it is later given)."""

    def __init__(self, features: dict[str, TensorFeature | Callable[[np.ndarray], np.ndarray]],
                 dtypes: dict[str, str]):
        self.names, self.dtypes = list(features), dtypes
        self._in_graph = {n: f for n, f in features.items() if isinstance(f, TensorFeature)}
        self._alone = {n: f for n, f in features.items() if not isinstance(f, TensorFeature)}
        self._graphs: dict[int, object] = {}

    def _compute(self, waveforms: tf.Tensor) -> dict[str, tf.Tensor]:
        spectra = Spectra(waveforms)
        return {name: feature.compute(spectra) for name, feature in self._in_graph.items()}

    def _graph(self, samples: int):
        """One trace per segment length, with a free batch axis: batches of any size reuse it."""
        if samples not in self._graphs:
            spec = tf.TensorSpec((None, samples), tf.float32)
            self._graphs[samples] = tf.function(self._compute, input_signature=[spec])
        return self._graphs[samples]

    def warm_up(self, samples: int) -> None:
        """Trace and optimize the graph for segments of this length now (about a second with YAMNet),
        so that the first batch does not wait for it."""
        self(np.zeros((1, samples), np.float32))

    def __call__(self, segments: np.ndarray) -> dict[str, np.ndarray]:
        out = {}
        if self._in_graph:
            waveforms = tf.convert_to_tensor(segments, tf.float32)
            out = self._graph(int(waveforms.shape[1]))(waveforms)
        out.update({name: feature(segments) for name, feature in self._alone.items()})
        # Cast on the host: a float16 op in the graph makes oneDNN log an error line on CPUs without AVX-512.
        return {name: np.asarray(out[name]).astype(self.dtypes[name], copy=False) for name in self.names}
