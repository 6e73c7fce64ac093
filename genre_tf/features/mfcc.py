"""MFCCs with librosa (20 coefficients, n_fft 2048, hop 512), as the fourth seed computed them."""
from __future__ import annotations

import librosa
import numpy as np

from ..params import MfccParams


class MfccExtractor:
    def __init__(self, params: MfccParams):
        self.params = params

    def __call__(self, segments: np.ndarray) -> np.ndarray:
        """(batch, samples) -> (batch, frames, n_mfcc); librosa works on the whole batch at once."""
        p = self.params
        mfcc = librosa.feature.mfcc(y=np.asarray(segments, np.float32), sr=p.sample_rate, n_mfcc=p.n_mfcc,
                                    n_fft=p.n_fft, hop_length=p.hop_length)
        return np.swapaxes(mfcc, -1, -2)

