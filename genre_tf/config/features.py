"""The features' parameters, and where the pretrained networks come from."""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path

YAMNET_HUB_HANDLE = "https://tfhub.dev/google/yamnet/1"
YAMNET_WEIGHTS_URL = "https://storage.googleapis.com/audioset/yamnet.h5"
YAMNET_HANDLE_ENV = "GENRE_TF_YAMNET_HANDLE"
YAMNET_WEIGHTS_ENV = "GENRE_TF_YAMNET_WEIGHTS"
# `download-yamnet`'s folder for savedmodel/ and yamnet.h5.
YAMNET_DOWNLOAD_DIR = "models/yamnet"

# What `extract` computes when no features are given: YAMNet's two and MFCCs (musicnn needs its
# own wheel, so it is asked for by name).
DEFAULT_FEATURES = ("embedding", "logmel", "mfcc")


@dataclasses.dataclass(frozen=True)
class LogMelParams:
    """YAMNet's log-mel frontend (tensorflow/models research/audioset/yamnet/params.py).

    The `logmel` feature's parameters: the spectrogram YAMNet's network takes.

    Attributes:
        sample_rate: Hz of the waveform it takes.
        stft_window_seconds: length of one STFT frame, in seconds (25 ms).
        stft_hop_seconds: seconds between STFT frames (10 ms): 100 spectrogram frames a second.
        mel_bands: mel bands of the spectrogram.
        mel_min_hz: the lowest band's lower edge, in Hz.
        mel_max_hz: the highest band's upper edge, in Hz.
        log_offset: added to the mel magnitudes before the natural log, so that silence stays finite.
        patch_window_seconds: seconds of spectrogram in one YAMNet patch (96 frames).
        patch_hop_seconds: seconds between YAMNet patches (48 frames: half a patch).
        embedding_size: YAMNet's embedding: the width of its last layer.
    """

    sample_rate: int = 16000
    stft_window_seconds: float = 0.025
    stft_hop_seconds: float = 0.010
    mel_bands: int = 64
    mel_min_hz: float = 125.0
    mel_max_hz: float = 7500.0
    log_offset: float = 0.001
    patch_window_seconds: float = 0.96
    patch_hop_seconds: float = 0.48
    embedding_size: int = 1024  # YAMNet's embedding: the width of its last layer

    @property
    def patch_frames(self) -> int:
        """Spectrogram frames in one YAMNet patch (96)."""
        return int(round(self.patch_window_seconds / self.stft_hop_seconds))

    @property
    def patch_hop_frames(self) -> int:
        """Frames between YAMNet patches (48)."""
        return int(round(self.patch_hop_seconds / self.stft_hop_seconds))


@dataclasses.dataclass(frozen=True)
class MfccParams:
    """MFCCs as librosa.feature.mfcc computes them by default (features/mfcc.py): 128 Slaney mel bands, dB,
    an orthonormal DCT-II.

    Attributes:
        sample_rate: Hz of the waveform it takes.
        n_mfcc: coefficients kept per frame.
        n_fft: FFT length in samples (also the window length); frames are centred (zero padding of n_fft/2).
        hop_length: samples between frames.
        top_db: dynamic range of the log-mel power in dB, below each segment's maximum; quieter values are
            raised to that floor.
    """

    sample_rate: int = 16000
    n_mfcc: int = 20
    n_fft: int = 2048
    hop_length: int = 512
    top_db: float = 80.0  # dynamic range of the log-mel power, below each segment's maximum


@dataclasses.dataclass(frozen=True)
class MusicnnParams:
    """musicnn's input (its configuration.py and extractor.py) and which trained model to run.

    Attributes:
        model: MSD_musicnn or MTT_musicnn (the checkpoints in musicnn's wheel), or a checkpoint folder.
        sample_rate: Hz of the waveform it takes.
        n_fft: FFT length in samples; frames are centred (zero padding of n_fft/2).
        hop_length: samples between spectrogram frames.
        n_mels: mel bands of the spectrogram.
        log_scale: the spectrogram is log10(log_scale * mel + 1).
        patch_frames: spectrogram frames in one patch the network takes (187: 3 s).
    """

    model: str = "MSD_musicnn"  # or MTT_musicnn (the wheel's checkpoints), or a checkpoint folder
    sample_rate: int = 16000
    n_fft: int = 512
    hop_length: int = 256
    n_mels: int = 96
    log_scale: float = 10000.0  # log10(log_scale * mel + 1)
    patch_frames: int = 187  # 3 s: librosa.time_to_frames(3, sr, hop, n_fft) + 1

    @property
    def min_samples(self) -> int:
        """The shortest waveform that gives one whole patch of centred frames."""
        return (self.patch_frames - 1) * self.hop_length


@dataclasses.dataclass(frozen=True)
class EmbeddingParams:
    """Where YAMNet comes from: with `weights` (a yamnet.h5), genre-tf's own batched Keras network;
    otherwise the TF-Hub model at `handle`, one call per segment (the reference implementation).

    `embedding_params` makes one from arguments and the environment.

    Attributes:
        handle: a TF-Hub handle or URL, or a local SavedModel folder; None where `weights` is given.
        weights: the path of a yamnet.h5; None: the model at `handle`.
    """

    handle: str | None = YAMNET_HUB_HANDLE
    weights: str | None = None


def resolve_handle(handle: str) -> str:
    """A local path becomes absolute, so a manifest names the same model from any folder."""
    return handle if "://" in handle else str(Path(handle).expanduser().resolve())


def embedding_params(handle: str | None = None, weights: str | None = None) -> EmbeddingParams:
    """From the arguments and the environment, first found wins: `weights`, `handle`,
    $GENRE_TF_YAMNET_WEIGHTS, $GENRE_TF_YAMNET_HANDLE, the TF-Hub handle.

    A local path is made absolute, so that a run's record names the same model from any folder. Nothing is
    loaded or checked here.

    Args:
        handle: a TF-Hub handle or URL, or a SavedModel folder; None: from the environment.
        weights: the path of a yamnet.h5; None: $GENRE_TF_YAMNET_WEIGHTS, where `handle` is not given either.

    Returns:
        Where YAMNet comes from: `weights` set and `handle` None, or `handle` set.
    """
    if not handle:
        weights = weights or os.environ.get(YAMNET_WEIGHTS_ENV)
    if weights:
        return EmbeddingParams(handle=None, weights=resolve_handle(weights))
    return EmbeddingParams(handle=resolve_handle(handle or os.environ.get(YAMNET_HANDLE_ENV) or YAMNET_HUB_HANDLE))
