"""MFCCs in TensorFlow on batches of waveforms, equal to librosa.feature.mfcc's defaults (as the fourth
reference project computed them: 20 coefficients, n_fft 2048, hop 512) within float32 rounding.

librosa's steps, each with a batch axis: centred frames (zero padding of n_fft/2 at both ends),
periodic Hann window, power spectrum, Slaney mel filters (128 bands, 0 Hz to Nyquist), dB with a
floor `top_db` below each segment's own maximum, orthonormal DCT-II, the first `n_mfcc`.
"""
from __future__ import annotations

import functools

import numpy as np

from ..config import MfccParams
from ..core.tf import tf

MEL_BANDS = 128  # librosa.feature.melspectrogram's default
POWER_FLOOR = 1e-10  # librosa.power_to_db's amin


def _slaney_mel(hz: np.ndarray) -> np.ndarray:
    """Slaney's mel scale (Auditory Toolbox): linear below 1 kHz (3 mels per 200 Hz), logarithmic above."""
    linear = hz * 3 / 200
    return np.where(hz >= 1000, 15 + np.log(np.maximum(hz, 1000) / 1000) * 27 / np.log(6.4), linear)


def _slaney_hz(mel: np.ndarray) -> np.ndarray:
    return np.where(mel >= 15, 1000 * np.exp(np.log(6.4) / 27 * (mel - 15)), mel * 200 / 3)


@functools.lru_cache(maxsize=8)
def slaney_mel_matrix(sample_rate: int, n_fft: int, n_mels: int) -> np.ndarray:
    """(n_fft/2 + 1, n_mels): librosa.filters.mel's defaults (Slaney's scale and area normalization, 0 Hz to
    Nyquist), a constant of the graph. Computed here: librosa's own starts numba, half a second."""
    bins = np.fft.rfftfreq(n_fft, 1.0 / sample_rate)
    edges = _slaney_hz(np.linspace(0.0, _slaney_mel(np.float64(sample_rate / 2)), n_mels + 2))
    widths = np.diff(edges)
    rising = (bins - edges[:-2, None]) / widths[:-1, None]
    falling = (edges[2:, None] - bins) / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(rising, falling)) * (2.0 / (edges[2:] - edges[:-2]))[:, None]
    return weights.T.astype(np.float32)


@functools.lru_cache(maxsize=8)
def dct_matrix(n: int, kept: int) -> np.ndarray:
    """(n, kept): the orthonormal DCT-II's first `kept` coefficients as a matrix (tf.signal.dct's `norm="ortho"`,
    whose own ops LiteRT's builtins do not have)."""
    k, i = np.arange(kept)[None, :], np.arange(n)[:, None]
    scale = np.where(k == 0, np.sqrt(1.0 / n), np.sqrt(2.0 / n))
    return (scale * np.cos(np.pi * k * (2 * i + 1) / (2 * n))).astype(np.float32)


def mfcc(waveforms, p: MfccParams = MfccParams()) -> tf.Tensor:
    """(batch, samples) float32 -> (batch, 1 + samples // hop, n_mfcc)."""
    waveforms = tf.convert_to_tensor(waveforms, tf.float32)
    padded = tf.pad(waveforms, [[0, 0], [p.n_fft // 2, p.n_fft // 2]])
    spectrum = tf.signal.stft(padded, p.n_fft, p.hop_length, p.n_fft, window_fn=tf.signal.hann_window)
    power = tf.math.real(spectrum) ** 2 + tf.math.imag(spectrum) ** 2
    mel = tf.matmul(power, slaney_mel_matrix(p.sample_rate, p.n_fft, MEL_BANDS))
    db = (10.0 / np.log(10.0)) * tf.math.log(tf.maximum(mel, POWER_FLOOR))
    db = tf.maximum(db, tf.reduce_max(db, axis=(1, 2), keepdims=True) - p.top_db)
    return tf.matmul(db, dct_matrix(MEL_BANDS, p.n_mfcc))


class MfccFeature(tf.Module):
    def __init__(self, params: MfccParams):
        super().__init__(name="mfcc")
        self.params = params

    def compute(self, spectra) -> tf.Tensor:
        return mfcc(spectra.waveforms, self.params)
