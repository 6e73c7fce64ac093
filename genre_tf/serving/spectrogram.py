"""The page's picture of a song: YAMNet's log-mel spectrogram in NumPy, so that the server draws it without
starting TensorFlow. The model's own frontend is features/logmel.py; tests/test_serve.py holds this one to
it within LOG_MEL_TOLERANCE.
"""
from __future__ import annotations

import numpy as np

from ..config import LogMelParams

LOG_MEL_TOLERANCE = 1e-3  # natural-log units: float32 FFTs of two libraries


def _mel(hz: np.ndarray) -> np.ndarray:
    """HTK's mel scale, as tf.signal's."""
    return 1127.0 * np.log1p(hz / 700.0)


def mel_matrix(spectrum_bins: int, p: LogMelParams = LogMelParams()) -> np.ndarray:
    """(spectrum_bins, mel_bands) triangular weights, as tf.signal.linear_to_mel_weight_matrix makes them
    (the DC bin weighs nothing)."""
    bin_mels = _mel(np.linspace(0.0, p.sample_rate / 2, spectrum_bins))[1:, None]
    edges = np.linspace(_mel(np.float64(p.mel_min_hz)), _mel(np.float64(p.mel_max_hz)), p.mel_bands + 2)
    lower, center, upper = edges[:-2], edges[1:-1], edges[2:]
    weights = np.maximum(0.0, np.minimum((bin_mels - lower) / (center - lower), (upper - bin_mels) / (upper - center)))
    return np.pad(weights, [(1, 0), (0, 0)]).astype(np.float32)


def display_log_mel(samples: np.ndarray, p: LogMelParams = LogMelParams()) -> np.ndarray:
    """(samples,) mono at `p.sample_rate` -> (frames, mel_bands): 25 ms frames every 10 ms, a periodic
    Hann window, the magnitude through the mel weights, log(x + 0.001); no frame for under 25 ms."""
    window = int(round(p.stft_window_seconds * p.sample_rate))
    hop = int(round(p.stft_hop_seconds * p.sample_rate))
    if len(samples) < window:
        return np.zeros((0, p.mel_bands), np.float32)
    fft_length = 2 ** int(np.ceil(np.log2(window)))
    frames = np.lib.stride_tricks.sliding_window_view(np.asarray(samples, np.float32), window)[::hop]
    hann = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(window) / window)).astype(np.float32)
    magnitude = np.abs(np.fft.rfft(frames * hann, fft_length)).astype(np.float32)
    return np.log(magnitude @ mel_matrix(fft_length // 2 + 1, p) + p.log_offset)
