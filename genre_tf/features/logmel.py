"""YAMNet's log-mel frontend in TensorFlow, on batches of waveforms.

It follows tensorflow/models research/audioset/yamnet/features.py (pad_waveform and
waveform_to_log_mel_spectrogram_patches), with a leading batch axis everywhere, so a batch of
3 s segments is one STFT call. Its output equals the third output of the YAMNet model.
"""
from __future__ import annotations

import math

import numpy as np

from ..config import LogMelParams
from ..core.tf import tf


def _samples(seconds: float, rate: float) -> int:
    return int(round(seconds * rate))


def padded_length(num_samples: int, p: LogMelParams) -> int:
    """Length YAMNet pads a waveform to: at least one full patch, then whole patch hops."""
    min_samples = int((p.patch_window_seconds + p.stft_window_seconds - p.stft_hop_seconds) * p.sample_rate)
    num_samples = max(num_samples, min_samples)
    hop = int(p.patch_hop_seconds * p.sample_rate)
    return min_samples + hop * math.ceil((num_samples - min_samples) / hop)


def log_mel(waveforms: tf.Tensor | np.ndarray, p: LogMelParams = LogMelParams()) -> tf.Tensor:
    """(batch, samples) float32 in [-1, 1] -> (batch, frames, mel_bands) log-mel spectrogram."""
    waveforms = tf.convert_to_tensor(waveforms, tf.float32)
    pad = padded_length(int(waveforms.shape[-1]), p) - int(waveforms.shape[-1])
    waveforms = tf.pad(waveforms, [[0, 0], [0, pad]])
    window = _samples(p.stft_window_seconds, p.sample_rate)
    fft_length = 2 ** int(np.ceil(np.log2(window)))
    magnitude = tf.abs(tf.signal.stft(waveforms, frame_length=window,
                                      frame_step=_samples(p.stft_hop_seconds, p.sample_rate),
                                      fft_length=fft_length))
    mel_matrix = tf.signal.linear_to_mel_weight_matrix(
        num_mel_bins=p.mel_bands, num_spectrogram_bins=fft_length // 2 + 1, sample_rate=p.sample_rate,
        lower_edge_hertz=p.mel_min_hz, upper_edge_hertz=p.mel_max_hz)
    return tf.math.log(tf.matmul(magnitude, mel_matrix) + p.log_offset)


class LogMelFeature(tf.Module):
    def __init__(self, params: LogMelParams):
        super().__init__(name="logmel")
        self.params = params

    def compute(self, spectra) -> tf.Tensor:
        return spectra.log_mel(self.params)
