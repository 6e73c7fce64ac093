"""Every parameter of the audio pipeline and the features, in frozen dataclasses.

A feature store records these values in its manifest; a run that asks for different values
finds out before it mixes incompatible arrays.
"""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path

YAMNET_HUB_HANDLE = "https://tfhub.dev/google/yamnet/1"
YAMNET_HANDLE_ENV = "GENRE_TF_YAMNET_HANDLE"
YAMNET_WEIGHTS_ENV = "GENRE_TF_YAMNET_WEIGHTS"


@dataclasses.dataclass(frozen=True)
class SegmentParams:
    """How a clip becomes fixed-length segments."""

    sample_rate: int = 16000
    segment_samples: int = 48000  # 3 s at 16 kHz
    max_seconds: float = 30.0
    # A trailing remainder at least this fraction of a segment is zero-padded into one more.
    min_remainder: float = 0.5

    @property
    def segment_seconds(self) -> float:
        return self.segment_samples / self.sample_rate


@dataclasses.dataclass(frozen=True)
class LogMelParams:
    """YAMNet's log-mel frontend (tensorflow/models research/audioset/yamnet/params.py)."""

    sample_rate: int = 16000
    stft_window_seconds: float = 0.025
    stft_hop_seconds: float = 0.010
    mel_bands: int = 64
    mel_min_hz: float = 125.0
    mel_max_hz: float = 7500.0
    log_offset: float = 0.001
    patch_window_seconds: float = 0.96
    patch_hop_seconds: float = 0.48


@dataclasses.dataclass(frozen=True)
class MfccParams:
    sample_rate: int = 16000
    n_mfcc: int = 20
    n_fft: int = 2048
    hop_length: int = 512
    top_db: float = 80.0  # dynamic range of the log-mel power, below each segment's maximum


@dataclasses.dataclass(frozen=True)
class EmbeddingParams:
    """Where YAMNet comes from: with `weights` (a yamnet.h5), genre-tf's own batched Keras network;
    otherwise the TF-Hub model at `handle`, one call per segment (the reference implementation)."""

    handle: str | None = YAMNET_HUB_HANDLE
    weights: str | None = None


def resolve_handle(handle: str) -> str:
    """A local path becomes absolute, so a manifest names the same model from any folder."""
    return handle if "://" in handle else str(Path(handle).expanduser().resolve())


def embedding_params(handle: str | None = None, weights: str | None = None) -> EmbeddingParams:
    """From the options and the environment, first found wins: --yamnet-weights, --yamnet-handle,
    $GENRE_TF_YAMNET_WEIGHTS, $GENRE_TF_YAMNET_HANDLE, the TF-Hub handle."""
    if not handle:
        weights = weights or os.environ.get(YAMNET_WEIGHTS_ENV)
    if weights:
        return EmbeddingParams(handle=None, weights=resolve_handle(weights))
    return EmbeddingParams(handle=resolve_handle(handle or os.environ.get(YAMNET_HANDLE_ENV) or YAMNET_HUB_HANDLE))


def as_dict(params) -> dict:
    return dataclasses.asdict(params)
