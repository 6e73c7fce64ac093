"""MFCCs with librosa (20 coefficients, n_fft 2048, hop 512), as the fourth seed computed them."""
from __future__ import annotations

import librosa
import numpy as np

from ..params import MfccParams

class MfccExtractor:
    def __init__(self, params: MfccParams):
        self.params = params

    def __call__(self, segments: np.ndarray) -> np.ndarray:
        """(batch, samples) -> (batch, frames, n_mfcc), each segment exactly as librosa.feature.mfcc
        computes it alone. The mel spectrogram is batched; the dB floor (top_db below the maximum)
        is per segment: librosa's power_to_db would take the maximum of the whole batch."""
        p = self.params
        mel = librosa.feature.melspectrogram(y=np.asarray(segments, np.float32), sr=p.sample_rate, n_fft=p.n_fft,
                                             hop_length=p.hop_length)
        db = 10.0 * np.log10(np.maximum(mel, 1e-10))
        db = np.maximum(db, db.max(axis=(-2, -1), keepdims=True) - p.top_db)
        return np.swapaxes(librosa.feature.mfcc(S=db, n_mfcc=p.n_mfcc), -1, -2)
