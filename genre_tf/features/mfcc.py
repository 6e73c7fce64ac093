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


@functools.lru_cache(maxsize=4)
def mel_matrix(p: MfccParams) -> np.ndarray:
    """(n_fft/2 + 1, MEL_BANDS): librosa's Slaney filters, a constant of the graph."""
    import librosa

    return librosa.filters.mel(sr=p.sample_rate, n_fft=p.n_fft, n_mels=MEL_BANDS).T.astype(np.float32)


def mfcc(waveforms, p: MfccParams = MfccParams()) -> tf.Tensor:
    """(batch, samples) float32 -> (batch, 1 + samples // hop, n_mfcc)."""
    waveforms = tf.convert_to_tensor(waveforms, tf.float32)
    padded = tf.pad(waveforms, [[0, 0], [p.n_fft // 2, p.n_fft // 2]])
    spectrum = tf.signal.stft(padded, p.n_fft, p.hop_length, p.n_fft, window_fn=tf.signal.hann_window)
    power = tf.math.real(spectrum) ** 2 + tf.math.imag(spectrum) ** 2
    mel = tf.matmul(power, mel_matrix(p))
    db = (10.0 / np.log(10.0)) * tf.math.log(tf.maximum(mel, POWER_FLOOR))
    db = tf.maximum(db, tf.reduce_max(db, axis=(1, 2), keepdims=True) - p.top_db)
    return tf.signal.dct(db, type=2, norm="ortho")[..., :p.n_mfcc]


class MfccFeature(tf.Module):
    def __init__(self, params: MfccParams):
        super().__init__(name="mfcc")
        self.params = params

    def compute(self, spectra) -> tf.Tensor:
        return mfcc(spectra.waveforms, self.params)
